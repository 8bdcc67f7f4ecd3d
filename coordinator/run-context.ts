// What the executor's loop (executor.ts) and its step handlers (step-handlers.ts) share: the state
// of one run, rebuilt from the journal; the interface through which a handler journals, calls
// agents and waits; and the errors that stop or pause a run.
import type { ServiceSpec } from '../lib/spec.js';
import type { Slot } from '../lib/commands.js';
import type { AgentPort } from './agent-hub.js';
import type { BatchSize } from './planner.js';
import type { EventRow, RollbackOutcome, StepPatch, StepRow, Store } from './store.js';
import type { StepKind } from './steps.js';
import type { TrafficDoc } from '../lib/traffic.js';

/** Time, passed in: tests run the executor on a clock of their own. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export interface RunState {
  rolloutId: string;
  /** hosts that stage a release at the same time */
  stageConcurrency: number;
  /** in-place: a batch's old instances stop before its new ones start */
  inPlace: boolean;
  service: string;
  version: string;
  spec: ServiceSpec;
  failureLimit: number;
  batch: BatchSize;
  edges: string[];
  /** the version a return (abort, rollback) goes back to */
  fromVersion: string;
  /** hosts whose new instance became healthy in this rollout */
  started: Map<string, { slot: Slot; port: number }>;
  failed: Set<string>;
  /** hosts whose old instance could not be confirmed drained: they are not stopped */
  undrained: Set<string>;
  forcedKills: number;
  /** set when this run resumes an interrupted rollout: the first side effect reports its delay */
  resumeBegan?: number;
  /** the walk's steps by phase and by batch (executor.ts walk): handlers look up, never scan */
  byPhase?: Map<number, StepRow[]>;
  byBatch?: Map<number, StepRow[]>;
}

/** A step of one kind, its arguments narrowed. */
export type StepOf<K extends StepKind> = Extract<StepRow, { kind: K }>;

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** What a step handler may do: journal, call agents, wait, and turn the rollout around. */
export interface PhaseContext {
  readonly store: Store;
  readonly agents: AgentPort;
  readonly clock: Clock;
  /**
   * Journals the step's start (unless it was already running before an interruption: then the
   * same command id goes out again), runs fn, journals its end with fn's result.
   */
  step<T>(st: RunState, s: StepRow, fn: (commandId: string) => Promise<T>): Promise<Outcome<T>>;
  setStep(st: RunState, s: StepRow, patch: StepPatch, traffic?: TrafficDoc): void;
  skip(st: RunState, s: StepRow, why: string): void;
  /** A step's progress line; never pauses the rollout when it cannot be written. */
  progress(st: RunState, s: StepRow): (message: string) => void;
  event(rolloutId: string, level: EventRow['level'], message: string, agentId?: string, kind?: string): void;
  /** A journal write other than a step's: a refused write pauses the rollout. */
  journal<T>(fn: () => T): T;
  commandId(st: RunState, s: StepRow): string;
  /** Applies the failure policy to what the journal holds for these steps (failure-policy.ts). */
  checkFailures(st: RunState, group: StepRow[], all: StepRow[]): Promise<void>;
  /** Turns the rollout into a return to its old version; false when it already is one. */
  beginReturn(st: RunState, outcome: RollbackOutcome, reason: string): boolean;
  /** Waits ms from the step's start (ms < 0: until promoted), ending early on a promote. */
  waitFor(st: RunState, s: StepRow, ms: number): Promise<'elapsed' | 'promoted'>;
  /** Sleeps, or less when an operator promotes, aborts or rolls back. */
  nap(rolloutId: string, ms: number): Promise<void>;
  /** What an operator asked of a waiting step: throws ReturnRequested when a return was asked. */
  asked(st: RunState, s: StepRow): 'promoted' | undefined;
  /** Runs fn holding the service's traffic lock (shared with the fleet's own traffic changes). */
  withTraffic<T>(service: string, fn: () => Promise<T>): Promise<T>;
  /** Why a host (not an edge of the run) is out of the pool, or undefined. */
  hostOut(st: RunState, agentId: string): string | undefined;
}

export class RolloutFailed extends Error {}
/** An operator asked, during a wait, to return to the old version. */
export class ReturnRequested extends Error {}
/** The rollout stops where it is, to be resumed: an agent gone past its deadline, an operator's pause. */
export class PauseRollout extends Error {}
/** The journal refused a write: nothing more may happen without its entry. */
export class JournalUnavailable extends Error {}

/** Waits for every promise, then rethrows a pause first, then any other error. */
export async function settleAll<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  const pause = bad.find((e) => e instanceof JournalUnavailable) ?? bad.find((e) => e instanceof PauseRollout);
  if (pause) throw pause;
  if (bad.length) throw bad[0];
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Runs fn over items, at most `limit` at a time, in order of start. */
export async function pooled<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  // after a failure (a pause) no new item starts; those under way finish before it is rethrown
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await settleAll(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
