// How long an agent waits before it dials the coordinator again. The base doubles from 200 ms to
// a cap of 1 s for the first fifteen tries (about ten seconds), so a restarted coordinator has its
// agents back within a second of listening; past them (a coordinator down for longer, or too busy
// to take everyone at once) the cap goes on doubling to 5 s, so that ten thousand waiting agents
// do not dial ten thousand times a second. Each wait is drawn from [base/2, base] ("equal
// jitter"): agents that lost one coordinator at the same instant come back spread over the window
// instead of in one wave of TLS handshakes.
export const RECONNECT_BASE_MS = 200;
export const RECONNECT_FAST_TRIES = 15;
export const RECONNECT_CAP_MS = 5000;
/** a leader's lease when --lease is not given: coordinators lead with it, agents assume it until a welcome says otherwise */
export const DEFAULT_LEASE_MS = 5000;

export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const cap = attempt < RECONNECT_FAST_TRIES ? 1000 : Math.min(RECONNECT_CAP_MS, 1000 * 2 ** (attempt - RECONNECT_FAST_TRIES + 1));
  const base = Math.min(cap, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + random() * (base / 2));
}

/**
 * Whether a session that ended starts the backoff again: any that lasted 5 s, or one that a new
 * leader (a later epoch than the last that started it again) welcomed and kept for a second.
 * Before, only 5 s counted: with leaders changing every few seconds, every session to a new leader
 * was shorter, the backoff grew to 5 s, and takeovers with it. Within one term a short session
 * does not count, so a coordinator that welcomes and then drops its agents (overloaded), or two
 * agents with one identity pushing each other out, back off as before.
 */
export function restartsBackoff(s: { lastedMs: number; welcomedForMs?: number; newLeader?: boolean }): boolean {
  return s.lastedMs > 5000 || (!!s.newLeader && s.welcomedForMs !== undefined && s.welcomedForMs >= 1000);
}
