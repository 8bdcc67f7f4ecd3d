// A rollout's life. The journalled state changes only through transition(), which refuses a change
// the table does not allow, writes it (with its event) in one transaction that also checks the
// state it changes from, and logs it. What an operator sees (returning, waiting, …) is derived
// from the journal by statusOf, never stored beside it.
import { ZddError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { EventRow, RolloutPatch, RolloutRow, StepRow, Store } from './store.js';

export type RolloutState = 'running' | 'paused' | 'succeeded' | 'failed' | 'rolled_back' | 'aborted';
/** how a rollout that returns traffic to its old version ends */
export type RollbackOutcome = 'rolled_back' | 'aborted';

/** Which journalled state may follow which. Ended rollouts stay ended. */
export const ROLLOUT_TRANSITIONS: Readonly<Record<RolloutState, readonly RolloutState[]>> = Object.freeze({
  running: ['paused', 'succeeded', 'failed', 'rolled_back', 'aborted'],
  // a pause asked for while the last steps ran: the rollout ends all the same
  paused: ['running', 'succeeded', 'failed', 'rolled_back', 'aborted'],
  succeeded: [],
  failed: [],
  rolled_back: [],
  aborted: [],
});

/**
 * What a rollout is doing, for people: the journalled state, refined by what the journal says.
 * `returning` — turned into a return to its old version (abort, rollback, failed analysis);
 * `return-requested` — an operator asked for that and the executor has not acted yet;
 * `waiting` — a canary step, bake, keep-old window or pause is waiting (for time or a promote).
 */
export type RolloutStatus = RolloutState | 'returning' | 'return-requested' | 'waiting';

export function statusOf(r: Pick<RolloutRow, 'state' | 'outcome' | 'abortReason'>, steps: readonly Pick<StepRow, 'state' | 'kind'>[]): RolloutStatus {
  if (r.state !== 'running') return r.state;
  if (r.outcome) return 'returning';
  if (r.abortReason) return 'return-requested';
  return steps.some((s) => s.state === 'running' && isWait(s.kind)) ? 'waiting' : 'running';
}

/** Step kinds that wait for time to pass or for `zddctl promote`. */
export const isWait = (kind: StepRow['kind']) => kind === 'analyze' || kind === 'window' || kind === 'pause';

export interface Transition {
  to: RolloutState;
  /** other columns written in the same transaction */
  patch?: Omit<RolloutPatch, 'state'>;
  /** the event that records the change, written in the same transaction */
  event?: Omit<EventRow, 'rolloutId'>;
}

/**
 * Moves a rollout from the state the caller saw to `t.to`. Throws ILLEGAL_TRANSITION when the
 * table forbids it, and ROLLOUT_CHANGED when the journal no longer holds `from` (someone else
 * changed the rollout first); either way nothing is written.
 */
export function transition(store: Store, log: Logger, id: string, from: RolloutState, t: Transition): void {
  if (from !== t.to && !ROLLOUT_TRANSITIONS[from].includes(t.to)) {
    throw new ZddError('INTERNAL', `rollout ${id}: illegal transition ${from} -> ${t.to}`);
  }
  if (!store.transitionRollout(id, from, { ...t.patch, state: t.to }, t.event && { ...t.event, rolloutId: id })) {
    const now = store.getRollout(id)?.state ?? 'gone';
    throw new ZddError('ROLLOUT_ACTIVE', `rollout ${id} is ${now} now, not ${from}: it changed meanwhile`, { hint: 'look at it again with zddctl status' });
  }
  if (from !== t.to) log.info({ rolloutId: id, from, to: t.to }, `rollout ${t.to === 'running' ? 'resumed' : t.to}`);
}
