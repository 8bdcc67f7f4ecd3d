// How long an agent waits before it dials the coordinator again. The base doubles from 200 ms to
// a cap of 1 s, so a restarted coordinator has its agents back at once; each wait is drawn from
// [base/2, base] ("equal jitter"), so ten thousand agents that lost one coordinator at the same
// instant come back spread over the window instead of in one wave of TLS handshakes.
export const RECONNECT_BASE_MS = 200;
export const RECONNECT_CAP_MS = 1000;

export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + random() * (base / 2));
}
