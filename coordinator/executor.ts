// The executor performs a stored plan, phase by phase (the steps of one phase run together). Main
// loop: Executor.run() walks the phases and hands each to the handler of its step kind
// (step-handlers.ts); failures go to the pure failure policy (failure-policy.ts), and the
// rollout's state changes only through rollout-state.ts. It works through narrow ports: the store
// as a journal, the agents, a clock.
//
// Crash safety: each step's transition is committed before its side effect starts and after it
// ends, and a traffic document with its generation is committed before any edge is touched.
// Writes are committed by phase, not by host: the transitions, progress and events queued in one
// turn of the event loop go to the store in one transaction (group commit), and a step sends its
// command only once its transition is committed, so a 100-host batch costs a handful of disk
// syncs, not seven per host. The run's state is rebuilt from those records, so run() on a
// rollout interrupted at any instant
// continues it: a step found `running` is sent again with the same command id (the agent answers
// from its record, attaches to the work, or does it if it never arrived), pending steps run as
// usual, and failures recorded before the interruption are handled again, idempotently.
import diagnostics_channel from 'node:diagnostics_channel';
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { compileSpec } from '../lib/spec.js';
import { DEFAULT_TRACK, isMixed, primaryTrack, restoreReplaced, type Backend, type TrafficDoc } from '../lib/traffic.js';
import type { Store, StepRow, StepState, StepPatch, EventRow, RollbackOutcome } from './store.js';
import type { AgentPort } from './agent-hub.js';
import { planRollbackSteps, type BatchSize } from './planner.js';
import { afterRevert, failureDecision, type FailureDecision, type Stop } from './failure-policy.js';
import { transition, type RolloutState, type Transition } from './rollout-state.js';
import { PHASE_HANDLERS, type PhaseHandler } from './step-handlers.js';
import { resultOf, type StepKind, type StepResults } from './steps.js';
import { pendingStep } from './store.js';
import type { RunObserver } from './metrics.js';
import { KeyedLock } from '../lib/keyed-lock.js';
import {
  JournalUnavailable,
  PauseRollout,
  ReturnRequested,
  RolloutFailed,
  type Clock,
  type Outcome,
  type PhaseContext,
  type RunState,
  type StepOf,
} from './run-context.js';

export { systemClock, type Clock } from './run-context.js';

/** What the step-boundary channel carries: a step's start has just been journalled ('before' its side effect), or its end is about to be ('after'). */
export interface StepBoundary {
  rolloutId: string;
  seq: number;
  kind: string;
  when: 'before' | 'after';
}

/**
 * Published at every step boundary, synchronously. Observers subscribe through
 * node:diagnostics_channel; the test kit's crash injection (testkit/crash-at.ts, preloaded into a
 * coordinator) kills the process here. Nothing is published when nobody listens.
 */
export const stepBoundaries = diagnostics_channel.channel('zdd:step-boundary');

export interface ExecutorOptions {
  /** a rollout that cannot be journalled is paused in memory (the store refuses writes) */
  onPausedInMemory?: (rolloutId: string, reason: string) => void;
  /** whether the operator (or a journal failure) asked this rollout to pause */
  pauseRequested?: (rolloutId: string) => boolean;
  /** why a host is out of the pool (gone past the host grace, drained), or undefined: its steps are left out */
  hostOut?: (agentId: string) => string | undefined;
  /** a service's traffic lock, shared with the fleet's own traffic changes (membership.ts) */
  trafficLock?: KeyedLock;
  /** told of phases, step and batch durations and commit latency (coordinator/metrics.ts) */
  observe?: RunObserver;
}

/** hosts that fetch and unpack a release at the same time, unless the rollout says otherwise */
export const DEFAULT_STAGE_CONCURRENCY = 4;

/** A step's life; every change goes through setStep, which refuses anything else. */
const STEP_TRANSITIONS: Record<StepState, StepState[]> = {
  pending: ['running', 'skipped'],
  // skipped from running: the host left the pool while its command was under way
  running: ['done', 'failed', 'skipped'],
  done: [],
  failed: [],
  skipped: [],
};

/** What the journal's rollout row holds of the run's parameters (older journals lack some). */
interface StoredParams {
  failureLimit: number;
  batch?: BatchSize;
  edges?: string[];
  spec?: RunState['spec'];
  stageConcurrency?: number;
  inPlace?: boolean;
}

export class Executor implements PhaseContext {
  /** set while the coordinator shuts down: interrupted work is left as it is, to resume at the next start */
  private stopping = false;

  constructor(
    readonly store: Store,
    readonly agents: AgentPort,
    readonly clock: Clock,
    private readonly log: Logger,
    /** something about a rollout changed: a step (by seq), or anything else */
    private readonly notify: (rolloutId: string, seq?: number) => void,
    private readonly opts: ExecutorOptions = {},
  ) {
    this.trafficLock = opts.trafficLock ?? new KeyedLock();
  }

  private readonly trafficLock: KeyedLock;

  withTraffic<T>(service: string, fn: () => Promise<T>): Promise<T> {
    return this.trafficLock.run(service, fn);
  }

  hostOut(st: RunState, agentId: string): string | undefined {
    if (!agentId || st.edges.includes(agentId)) return undefined;
    return this.opts.hostOut?.(agentId);
  }

  /** The coordinator is going away: what is under way now is resumed by the next coordinator, not paused. */
  stop(): void {
    this.stopping = true;
  }

  /** Every journal write goes through here: a refused write becomes JournalUnavailable. Queued writes are committed first, in order. */
  journal<T>(fn: () => T): T {
    this.commitQueued();
    return this.guard(fn);
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      // zdd's own refusals (an illegal transition, a rollout changed meanwhile) are not the disk's;
      // a database that cannot be reached, or that another leader holds now, is
      if (err instanceof ZddError && err.code !== 'DB_ERROR' && err.code !== 'DB_HELD') throw err;
      throw new JournalUnavailable(`the journal cannot be written: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** journal writes waiting for this turn's commit, and who waits for it */
  private queued: (() => void)[] = [];
  /** what the queued writes change, told to watchers once they are committed (never before: a watch would read the old row) */
  private toTell: [string, number | undefined][] = [];
  private commitWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private commitTimer: NodeJS.Immediate | undefined;
  /** a commit the store refused: every run waiting on the journal pauses, until a run starts again */
  private commitFailure: JournalUnavailable | undefined;

  /** Queues a journal write, committed with everything else queued in this turn of the event loop. */
  private enqueue(write: () => void) {
    this.queued.push(write);
    this.commitTimer ??= setImmediate(() => {
      try {
        this.commitQueued();
      } catch {
        /* the waiters have the error */
      }
    });
  }

  /** Commits what is queued, in one transaction. */
  private commitQueued() {
    if (this.commitTimer) clearImmediate(this.commitTimer);
    this.commitTimer = undefined;
    const writes = this.queued;
    const waiters = this.commitWaiters;
    const tell = this.toTell;
    this.queued = [];
    this.commitWaiters = [];
    this.toTell = [];
    if (!writes.length) {
      for (const w of waiters) w.resolve();
      return;
    }
    try {
      const began = performance.now();
      this.guard(() => this.store.batch(() => writes.forEach((w) => w())));
      this.opts.observe?.commit(performance.now() - began);
    } catch (err) {
      const failure = err instanceof JournalUnavailable ? err : new JournalUnavailable(errorMessage(err), { cause: err });
      this.commitFailure = failure;
      for (const w of waiters) w.reject(failure);
      throw failure;
    }
    for (const [id, seq] of tell) this.notify(id, seq);
    for (const w of waiters) w.resolve();
  }

  private paced = 0;
  private gate: Promise<void> = Promise.resolve();
  /**
   * Steps leave 200 at a time, with a turn of the event loop between: a phase of ten thousand
   * hosts never holds the loop (control calls, heartbeats) for the time it takes to send them all.
   */
  private pace(): Promise<void> {
    if (++this.paced % 200) return this.gate;
    this.gate = this.gate.then(() => new Promise<void>((r) => setImmediate(r)));
    return this.gate;
  }

  /** Resolves once every journal write queued so far is committed; JournalUnavailable when the store refused it. */
  committed(): Promise<void> {
    if (this.commitFailure) return Promise.reject(this.commitFailure);
    if (!this.queued.length) return Promise.resolve();
    return new Promise((resolve, reject) => this.commitWaiters.push({ resolve, reject }));
  }

  event(rolloutId: string, level: EventRow['level'], message: string, agentId = '', kind = '') {
    const e = { rolloutId, atMs: this.clock.now(), level, agentId, message, kind };
    this.enqueue(() => this.store.addEvent(e));
    this.log[level]({ rolloutId, agentId: agentId || undefined }, message);
    this.toTell.push([rolloutId, undefined]);
  }

  setStep(st: RunState, s: StepRow, patch: StepPatch, traffic?: TrafficDoc) {
    if (patch.state && patch.state !== s.state && !STEP_TRANSITIONS[s.state].includes(patch.state)) {
      throw new ZddError('INTERNAL', `step ${s.seq} (${s.kind}): illegal transition ${s.state} -> ${patch.state}`);
    }
    const { rolloutId } = st;
    const { seq } = s;
    this.enqueue(() => this.store.updateStep(rolloutId, seq, patch, traffic));
    Object.assign(s, patch);
    this.toTell.push([rolloutId, seq]);
  }

  skip(st: RunState, s: StepRow, why: string) {
    if (s.state === 'pending') this.setStep(st, s, { state: 'skipped', detail: why });
  }

  progress(st: RunState, s: StepRow) {
    return (message: string) => {
      try {
        this.setStep(st, s, { detail: message });
      } catch {
        /* progress is not worth pausing for */
      }
    };
  }

  /** The run's state, rebuilt from the journal: the same whether the run is fresh or resumed. */
  private rebuild(rolloutId: string, steps: StepRow[]): RunState {
    const r = this.store.getRollout(rolloutId)!;
    const params = JSON.parse(r.paramsJson) as StoredParams;
    const specStep = steps.find((s) => s.kind === 'start' || s.kind === 'configure_edge');
    const spec = params.spec ?? (specStep && (specStep.kind === 'start' || specStep.kind === 'configure_edge') ? specStep.args.spec : undefined);
    if (!spec) throw new ZddError('INTERNAL', `rollout ${rolloutId} records no service spec to run with`);
    const st: RunState = {
      rolloutId,
      stageConcurrency: params.stageConcurrency ?? DEFAULT_STAGE_CONCURRENCY,
      inPlace: !!params.inPlace,
      service: r.service,
      version: r.version,
      spec,
      failureLimit: params.failureLimit,
      batch: params.batch ?? { count: 1 },
      edges: params.edges ?? [...new Set(steps.filter((s) => s.kind === 'configure_edge' || s.kind === 'traffic').map((s) => s.agentId))],
      fromVersion: r.fromVersion,
      started: new Map(),
      failed: new Set(),
      undrained: new Set(),
      forcedKills: r.forcedKills,
    };
    for (const s of steps) {
      if (s.kind === 'start' && s.state === 'done') {
        const res = resultOf(s);
        if (res.slot && res.port !== undefined) st.started.set(s.agentId, { slot: res.slot, port: res.port });
        // a host restored by a return (in place) started again after its failure
        st.failed.delete(s.agentId);
      }
      if (s.kind === 'start' && s.state === 'failed') st.failed.add(s.agentId);
      if (s.kind === 'drain' && s.state === 'failed') for (const h of s.args.hosts) st.undrained.add(h.agentId);
    }
    return st;
  }

  /** Moves the rollout to a new journalled state from whatever it is now (rollout-state.ts refuses an illegal change). */
  private transition(rolloutId: string, to: RolloutState, patch: Transition['patch'], event?: Transition['event']) {
    const now = this.store.rolloutStatus(rolloutId)!.state;
    this.journal(() => transition(this.store, this.log, rolloutId, now, { to, patch, event }));
    this.notify(rolloutId);
  }

  /**
   * A rollout's steps, 2,000 at a time with a turn of the event loop between: a 10,000-host plan
   * (20,000 steps and more) does not hold control calls and heartbeats while it is read. Nothing
   * else writes a rollout's steps before its run has begun.
   */
  private async readSteps(rolloutId: string): Promise<StepRow[]> {
    const out: StepRow[] = [];
    for (;;) {
      const page = this.journal(() => this.store.stepsAfter(rolloutId, out.length ? out[out.length - 1].seq : 0, 2000));
      out.push(...page);
      if (page.length < 2000) return out;
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /**
   * Runs a rollout to its end, or until it pauses. Never throws: the outcome is in the store (or,
   * when the store refuses writes, reported through onPausedInMemory).
   */
  async run(rolloutId: string, resume?: { began: number }): Promise<void> {
    const r = this.store.getRollout(rolloutId);
    if (!r || r.state !== 'running') return;
    // a run starts (or resumes) with the journal as it is now: a refused commit before is not this run's
    if (!this.queued.length) this.commitFailure = undefined;
    let st: RunState | undefined;
    try {
      const steps = await this.readSteps(rolloutId);
      st = this.rebuild(rolloutId, steps);
      if (resume) st.resumeBegan = resume.began;
      if (!steps.some((s) => s.state !== 'pending')) {
        this.event(rolloutId, 'info', `rollout of ${r.service} ${r.fromVersion || '(nothing)'} → ${r.version} started`);
      }
      // reading a large rollout takes a while: a turn of the event loop before going on
      await new Promise<void>((r) => setImmediate(r));
      if ((await this.walk(st, steps)) === 'paused') return;
      await this.committed();
      const end = this.store.getRollout(rolloutId)!;
      const state = end.outcome || 'succeeded';
      const message =
        state === 'succeeded'
          ? `rollout succeeded: ${r.version} live${st.failed.size ? ` (${st.failed.size} host(s) kept the old version)` : ''}`
          : `rollout ${state === 'aborted' ? 'aborted' : 'rolled back'}: ${st.fromVersion} serves again. ${end.error}`;
      this.transition(rolloutId, state, { endedMs: this.clock.now(), forcedKills: st.forcedKills, failedHosts: this.failedHosts(st) }, {
        atMs: this.clock.now(),
        level: state === 'succeeded' ? 'info' : 'warn',
        agentId: '',
        message,
        kind: '',
      });
      this.log[state === 'succeeded' ? 'info' : 'warn']({ rolloutId }, message);
    } catch (err) {
      if (this.stopping) return this.log.info({ rolloutId }, 'rollout left running for the next coordinator');
      if (err instanceof PauseRollout || err instanceof JournalUnavailable) return this.pause(rolloutId, err.message);
      const message = errorMessage(err);
      try {
        for (const s of this.store.steps(rolloutId)) if (s.state === 'pending' && st) this.setStep(st, s, { state: 'skipped' });
        const counts = st ? { forcedKills: st.forcedKills, failedHosts: this.failedHosts(st) } : {};
        this.transition(rolloutId, 'failed', { error: message, endedMs: this.clock.now(), ...counts }, {
          atMs: this.clock.now(),
          level: 'error',
          agentId: '',
          message: `rollout failed: ${message}`,
          kind: '',
        });
        this.log.error({ rolloutId }, `rollout failed: ${message}`);
      } catch (journalErr) {
        this.pause(rolloutId, `${errorMessage(journalErr)} (while recording the failure: ${message})`);
      }
    }
  }

  /**
   * Phase by phase to the end of the plan; a return to the old version appends phases, so the walk
   * starts again. The steps are read once per walk and indexed by phase and batch: nothing here
   * reads the whole rollout again per phase.
   */
  private async walk(st: RunState, read?: StepRow[]): Promise<'done' | 'paused'> {
    const { rolloutId } = st;
    for (let again = true; again; ) {
      again = false;
      // the steps run() read to rebuild the state serve the first pass; a return's re-read the next
      const all = read ?? this.store.steps(rolloutId);
      read = undefined;
      const lastSeq = all.length ? all[all.length - 1].seq : 0;
      const appended = () => this.store.lastSeq(rolloutId) !== lastSeq;
      st.byPhase = new Map();
      st.byBatch = new Map();
      for (const s of all) {
        (st.byPhase.get(s.phase) ?? st.byPhase.set(s.phase, []).get(s.phase)!).push(s);
        (st.byBatch.get(s.batch) ?? st.byBatch.set(s.batch, []).get(s.batch)!).push(s);
      }
      const phases = [...st.byPhase.keys()].sort((a, b) => a - b);
      let batch: { no: number; from: number } | undefined;
      const endBatch = () => batch && this.opts.observe?.batch(this.clock.now() - batch.from);
      for (const phase of phases) {
        const group = st.byPhase.get(phase)!;
        await this.checkFailures(st, group, all);
        const todo = group.filter((s) => s.state === 'pending' || s.state === 'running');
        if (!todo.length) continue;
        // a requested return waits for steps already under way: they are finished first
        if (appended() || (todo.every((s) => s.state === 'pending') && this.returnIfAsked(st))) {
          again = true;
          break;
        }
        if (this.opts.pauseRequested?.(rolloutId) || this.store.rolloutStatus(rolloutId)?.state === 'paused') {
          this.log.info({ rolloutId }, 'rollout paused at a step boundary');
          return 'paused';
        }
        if (batch?.no !== group[0].batch) {
          endBatch();
          batch = { no: group[0].batch, from: this.clock.now() };
        }
        this.opts.observe?.phase(rolloutId, phase, group[0].batch);
        try {
          await this.runPhase(st, todo, all);
        } catch (err) {
          if (!(err instanceof ReturnRequested)) throw err;
        }
        for (const s of todo) if ((s.state === 'done' || s.state === 'failed') && s.startedMs) this.opts.observe?.step(s.kind, (s.endedMs || this.clock.now()) - s.startedMs, s.state);
        // the phase's last transitions and events are committed before the next phase looks at them
        await this.committed();
        if (appended()) {
          again = true;
          break;
        }
      }
      endBatch();
    }
    return 'done';
  }

  /** A phase's steps share one kind (the planner makes them so): its handler runs them. */
  private runPhase(st: RunState, group: StepRow[], all: StepRow[]): Promise<void> {
    const kind = group[0].kind;
    if (group.some((s) => s.kind !== kind)) throw new ZddError('INTERNAL', `phase ${group[0].phase} mixes step kinds`);
    return (PHASE_HANDLERS[kind] as PhaseHandler<StepKind>)(this, st, group as StepOf<StepKind>[], all);
  }

  /** Hosts whose new instance failed to start in this rollout (a host restored by a return still counts). */
  private failedHosts(st: RunState): number {
    return new Set(this.store.steps(st.rolloutId).filter((s) => s.kind === 'start' && s.state === 'failed').map((s) => s.agentId)).size;
  }

  /** Pauses with a reason; if even that cannot be journalled, the pause lives in memory. */
  private pause(rolloutId: string, reason: string) {
    try {
      const event = { atMs: this.clock.now(), level: 'warn' as const, agentId: '', message: `rollout paused: ${reason}`, kind: 'paused' };
      const now = this.store.rolloutStatus(rolloutId)!.state;
      // already paused by the operator: the reason the run stopped replaces theirs
      if (now === 'paused') {
        this.store.updateRollout(rolloutId, { pauseReason: reason });
        this.store.addEvent({ rolloutId, ...event });
      } else transition(this.store, this.log, rolloutId, now, { to: 'paused', patch: { pauseReason: reason }, event });
    } catch (err) {
      this.log.error({ rolloutId, err: errorMessage(err) }, 'pause could not be journalled; held in memory');
      this.opts.onPausedInMemory?.(rolloutId, reason);
    }
    this.log.warn({ rolloutId, reason }, 'rollout paused');
    this.notify(rolloutId);
  }

  /** database instance + rollout + step + attempt: the same work always has the same id */
  commandId(st: RunState, s: StepRow) {
    return `${this.store.instanceId()}:${st.rolloutId}/${s.seq}/${s.attempt}`;
  }

  private boundary(st: RunState, s: StepRow, when: 'before' | 'after') {
    if (stepBoundaries.hasSubscribers) stepBoundaries.publish({ rolloutId: st.rolloutId, seq: s.seq, kind: s.kind, when } satisfies StepBoundary);
  }

  async step<T>(st: RunState, s: StepRow, fn: (commandId: string) => Promise<T>): Promise<Outcome<T>> {
    // a host out of the pool (gone past the host grace, drained) is left out of what remains
    const out = s.state === 'pending' ? this.hostOut(st, s.agentId) : undefined;
    if (out) {
      this.skip(st, s, `host out of the pool (${out})`);
      return { ok: false, error: new ZddError('HOST_GONE', `host ${s.agentId} is out of the pool (${out}): left out of this rollout`) };
    }
    if (s.state === 'pending') this.setStep(st, s, { state: 'running', attempt: s.attempt + 1, startedMs: this.clock.now() });
    // the transition (and a traffic phase's document) is on disk before the command leaves:
    // every step of the phase queued in this turn shares one commit
    await this.committed();
    await this.pace();
    this.boundary(st, s, 'before');
    if (st.resumeBegan !== undefined) {
      const ms = this.clock.now() - st.resumeBegan;
      st.resumeBegan = undefined;
      this.event(st.rolloutId, 'info', `resumed: first side effect ${ms}ms after the coordinator started`, '', 'resume-latency');
    }
    let value: T;
    try {
      value = await fn(this.commandId(st, s));
    } catch (error) {
      if (error instanceof PauseRollout) throw error; // the step stays running, to go on at resume
      if (error instanceof ReturnRequested) {
        this.setStep(st, s, { state: 'done', endedMs: this.clock.now(), detail: `ended early: ${error.message}` });
        await this.committed();
        throw error;
      }
      if (error instanceof ZddError && error.code === 'HOST_GONE' && !st.edges.includes(s.agentId)) {
        // the host left the pool while this step ran: whatever it did there takes no traffic
        this.setStep(st, s, { state: 'skipped', endedMs: this.clock.now(), detail: `host out of the pool: ${error.message}` });
        await this.committed();
        return { ok: false, error };
      }
      if (error instanceof ZddError && (error.code === 'AGENT_UNAVAILABLE' || error.code === 'HOST_GONE' || error.code === 'HOST_FAULT')) {
        const when = error.code === 'HOST_FAULT' ? "once the host's disk is fixed" : 'once the agent is back';
        throw new PauseRollout(`${error.message} (step ${s.seq}, ${s.kind} on ${s.agentId || 'the coordinator'}; resume it ${when}: zddctl resume ${st.rolloutId})`);
      }
      this.setStep(st, s, { state: 'failed', endedMs: this.clock.now(), error: errorMessage(error) });
      await this.committed();
      return { ok: false, error };
    }
    this.boundary(st, s, 'after');
    // a traffic phase's first step keeps what it replaced (journalled when it began)
    const begun = s.kind === 'traffic' ? resultOf(s) : undefined;
    const kept = begun && (begun.prev !== undefined || begun.replaced) ? { prev: begun.prev, replaced: begun.replaced } : undefined;
    this.setStep(st, s, { state: 'done', endedMs: this.clock.now(), resultJson: JSON.stringify(kept ? { ...(value as object), ...kept } : (value ?? {})) });
    await this.committed();
    return { ok: true, value };
  }

  /** Failures recorded in the journal stop the rollout, before or after an interruption alike. */
  async checkFailures(st: RunState, group: StepRow[], all: StepRow[]): Promise<void> {
    const live = () => this.store.traffic(st.service);
    const decision = failureDecision({
      group,
      all,
      outcome: this.store.rolloutStatus(st.rolloutId)!.outcome,
      failed: st.failed,
      failureLimit: st.failureLimit,
      mixed: () => isMixed(live()),
      outOfPool: () => this.outOfPool(st).length,
      canReturn: !!st.fromVersion,
      inPlace: st.inPlace,
      allOnNewVersion: () => {
        const doc = live();
        return !!doc && doc.backends.length > 0 && doc.backends.every((b) => b.version === st.version);
      },
    });
    await this.carryOut(st, decision, group, all);
  }

  private async carryOut(st: RunState, d: FailureDecision, group: StepRow[], all: StepRow[]): Promise<void> {
    switch (d.do) {
      case 'continue':
        return;
      case 'reapply-return': {
        // the journal already holds the return's document: push it again, as a newer generation,
        // until every edge runs it; until then the rollout pauses (resume tries again)
        const gen = await this.reapplyTraffic(st, group);
        if (gen === undefined) {
          throw new PauseRollout(
            `the return to ${st.fromVersion} could not move traffic on every edge (${d.step.error}); it is tried again when you resume: zddctl resume ${st.rolloutId}`,
          );
        }
        const reapplied: StepResults['traffic'] = { reapplied: gen };
        this.setStep(st, d.step, { resultJson: JSON.stringify(reapplied), detail: `applied again as generation ${gen}` });
        return;
      }
      case 'return':
        if (this.beginReturn(st, 'rolled_back', d.reason)) return;
        if (d.otherwise) return this.carryOut(st, d.otherwise, group, all);
        return;
      case 'revert-traffic': {
        const first = group[0];
        const prev = first.kind === 'traffic' ? this.replacedDoc(st, first) : undefined;
        const reverted = await this.revertTraffic(st, group, prev);
        return this.carryOut(st, afterRevert({ reverted, canReturn: !!st.fromVersion, mixedBefore: isMixed(prev), outOfPool: this.outOfPool(st).length, batch: first.batch, error: d.step.error }), group, all);
      }
      case 'stop':
        return this.stopRollout(st, d, all);
    }
  }

  private async stopRollout(st: RunState, d: Stop, all: StepRow[]): Promise<never> {
    if (d.markLive) this.journal(() => this.store.setLiveVersion(st.service, st.version));
    if (d.cleanup) {
      const { batch, why } = d.cleanup;
      await this.cleanup(st, all.filter((s) => s.kind === 'start' && s.batch === batch && st.started.has(s.agentId)), why);
    }
    throw new RolloutFailed(d.message);
  }

  private readonly wakers = new Map<string, () => void>();

  /** An operator promoted, aborted or rolled back: a waiting rollout looks again at once. */
  wake(rolloutId: string): void {
    this.wakers.get(rolloutId)?.();
  }

  async nap(rolloutId: string, ms: number): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.wakers.set(rolloutId, wake);
    try {
      await Promise.race([this.clock.sleep(ms), woken]);
    } finally {
      if (this.wakers.get(rolloutId) === wake) this.wakers.delete(rolloutId);
    }
  }

  asked(st: RunState, s: StepRow): 'promoted' | undefined {
    const r = this.store.rolloutStatus(st.rolloutId)!;
    if (r.abortReason && !r.outcome) throw new ReturnRequested(r.abortReason);
    return r.promoteSeq >= s.seq ? 'promoted' : undefined;
  }

  async waitFor(st: RunState, s: StepRow, ms: number): Promise<'elapsed' | 'promoted'> {
    for (;;) {
      if (this.asked(st, s)) return 'promoted';
      const left = ms < 0 ? 1000 : s.startedMs + ms - this.clock.now();
      if (left <= 0) return 'elapsed';
      await this.nap(st.rolloutId, Math.min(left, 1000));
    }
  }

  /** An operator's abort or rollback that has not been acted on yet begins now. */
  private returnIfAsked(st: RunState): boolean {
    const r = this.store.rolloutStatus(st.rolloutId)!;
    if (!r.abortReason || r.outcome) return false;
    return this.beginReturn(st, r.abortOutcome || 'aborted', r.abortReason);
  }

  /**
   * Turns the rollout into a return to the version it replaces: the return's steps (planned from
   * the journalled traffic) are appended and the remaining ones skipped, in one transaction.
   */
  beginReturn(st: RunState, outcome: RollbackOutcome, reason: string): boolean {
    if (!st.fromVersion) throw new RolloutFailed(`${reason}; there is no earlier version to return to, so the rollout stops here`);
    const all = this.store.steps(st.rolloutId);
    const doc = this.store.traffic(st.service);
    const inDoc = new Set((doc?.backends ?? []).map((b) => `${b.agentId}/${b.slot}`));
    // instances started in this rollout that take no traffic, including starts still under way
    // (re-sent after an interruption): they finish before the return's steps run
    const strays = [
      ...[...st.started].map(([agentId, x]) => ({ agentId, slot: x.slot })),
      ...all.flatMap((x) => (x.kind === 'start' && x.state === 'running' ? [{ agentId: x.agentId, slot: x.args.slot }] : [])),
    ].filter((x, i, arr) => !inDoc.has(`${x.agentId}/${x.slot}`) && arr.findIndex((y) => y.agentId === x.agentId && y.slot === x.slot) === i);
    const steps = planRollbackSteps({
      spec: st.spec,
      traffic: doc,
      target: st.fromVersion,
      edges: st.edges,
      batch: st.batch,
      strays,
      restore: this.outOfPool(st),
      firstSeq: Math.max(0, ...all.map((x) => x.seq)) + 1,
      firstPhase: Math.max(0, ...all.map((x) => x.phase)) + 1,
      firstBatch: Math.max(0, ...all.map((x) => x.batch)) + 1,
    });
    // a return's traffic steps are marked: their failure ends the rollout, the earlier ones' do not
    const rows = steps.map((x) => pendingStep(x.kind === 'traffic' ? { ...x, args: { ...x.args, returning: true } } : x));
    const appended = this.journal(() => this.store.appendRollback(st.rolloutId, outcome, reason, rows));
    if (appended) this.event(st.rolloutId, 'warn', `${outcome === 'aborted' ? 'aborting' : 'rolling back'}: ${reason}. Returning to ${st.fromVersion}.`, '', 'return');
    this.notify(st.rolloutId);
    return appended;
  }

  /**
   * In place: the hosts this rollout took out of the pool and that are still out, as their
   * backends were before the removal (journalled as the traffic phase's `prev`).
   */
  private outOfPool(st: RunState): Backend[] {
    if (!st.inPlace) return [];
    const all = this.store.steps(st.rolloutId);
    const doc = this.store.traffic(st.service);
    const out: Backend[] = [];
    for (const s of all) {
      if (s.kind !== 'traffic' || s.state === 'pending' || s.agentId !== st.edges[0]) continue;
      const removed = (s.args.ops ?? []).flatMap((o) => (o.op === 'remove' ? o.agentIds : []));
      if (!removed.length) continue;
      const first = all.find((x) => x.phase === s.phase)!;
      const r = first.kind === 'traffic' ? resultOf(first) : {};
      // the backends the change took out: the whole document before it (older journals), or its difference
      const before = r.replaced ? { backends: r.replaced.removed, primary: r.replaced.primary } : r.prev ? r.prev : undefined;
      const primary = before?.primary ?? DEFAULT_TRACK;
      for (const b of before?.backends ?? []) {
        if (b.agentId && removed.includes(b.agentId) && b.track === primary && !doc?.backends.some((x) => x.agentId === b.agentId) && !out.some((x) => x.agentId === b.agentId)) out.push(b);
      }
    }
    return out;
  }

  /** The document a traffic phase replaced: journalled whole (older journals) or as a difference from the one it made. */
  private replacedDoc(st: RunState, first: StepOf<'traffic'>): TrafficDoc | undefined {
    const r = resultOf(first);
    if (r.replaced) return restoreReplaced(this.store.traffic(st.service), r.replaced, st.service);
    return r.prev ?? undefined;
  }

  /**
   * Puts the previous document back (tracks, routes, split), as a newer generation, on every edge
   * of the change: an edge whose call failed may still have applied it (a lost result), and a
   * generation makes the repeat harmless. Returns true when every edge confirmed the revert.
   */
  private async revertTraffic(st: RunState, group: StepRow[], prev: TrafficDoc | undefined): Promise<boolean> {
    const gen = this.store.traffic(st.service)!.generation + 1;
    const doc: TrafficDoc = prev ? { ...prev, generation: gen } : { service: st.service, generation: gen, backends: [] };
    return this.pushToEdges(st, group, doc, 'revert', 'could not revert traffic');
  }

  /** Pushes the journalled document again, as a newer generation, to every edge of the phase. Returns the generation when all confirmed. */
  private async reapplyTraffic(st: RunState, group: StepRow[]): Promise<number | undefined> {
    const cur = this.store.traffic(st.service)!;
    const doc: TrafficDoc = { ...cur, generation: cur.generation + 1 };
    return (await this.pushToEdges(st, group, doc, 'again', "could not apply the return's traffic")) ? doc.generation : undefined;
  }

  /**
   * Journals a document, then sends it to every edge of the phase. The generation is part of the
   * command id: a push sent again after an interruption is a new command, not a replayed answer.
   */
  private pushToEdges(st: RunState, group: StepRow[], doc: TrafficDoc, what: string, failure: string): Promise<boolean> {
    return this.withTraffic(st.service, () => this.pushLocked(st, group, doc, what, failure));
  }

  private async pushLocked(st: RunState, group: StepRow[], doc: TrafficDoc, what: string, failure: string): Promise<boolean> {
    // a fleet change (a host gone or drained) may have journalled a newer generation meanwhile:
    // the document goes out after it, without the hosts it took out
    const live = this.store.traffic(st.service);
    if (live && live.generation >= doc.generation) doc = { ...doc, generation: live.generation + 1 };
    // a parked backend is the very one parked (same host, address and version): a host that a
    // rollout gave a new instance since is not held out by its old one
    const key = (b: { agentId?: string; addr: string; version?: string }) => `${b.agentId}|${b.addr}|${b.version}`;
    const parked = new Set(this.store.parked().filter((p) => p.service === st.service).map((p) => key(JSON.parse(p.backendJson))));
    const kept = doc.backends.filter((b) => !b.agentId || (!parked.has(key(b)) && !this.hostOut(st, b.agentId)));
    if (kept.length !== doc.backends.length && kept.some((b) => b.track === primaryTrack(doc) && b.weight > 0)) doc = { ...doc, backends: kept };
    this.journal(() => this.store.updateStep(st.rolloutId, group[0].seq, {}, doc));
    const results = await Promise.all(
      group.map((s) =>
        this.agents.call(s.agentId, 'apply_traffic', doc, `${this.commandId(st, s)}/${what}/${doc.generation}`, { timeoutMs: 30_000 }).then(
          () => true,
          (err) => {
            this.event(st.rolloutId, 'error', `${failure}: ${errorMessage(err)}`, s.agentId);
            return false;
          },
        ),
      ),
    );
    return results.every(Boolean);
  }

  /** Stops new instances that take no traffic; never one that the journalled traffic lists. */
  private async cleanup(st: RunState, starts: StepRow[], why: string) {
    const spec = compileSpec(st.spec);
    const routed = new Set((this.store.traffic(st.service)?.backends ?? []).map((b) => `${b.agentId}/${b.slot}`));
    await Promise.all(
      starts.map(async (s) => {
        const slot = st.started.get(s.agentId)!.slot;
        if (routed.has(`${s.agentId}/${slot}`)) return;
        try {
          await this.agents.call(
            s.agentId,
            'stop_instance',
            { service: st.service, slot, signal: spec.stop.signal, drainTimeoutMs: spec.stop.drainTimeoutMs },
            `${this.commandId(st, s)}/cleanup`,
            { timeoutMs: spec.stop.drainTimeoutMs + 30_000 },
          );
          this.event(st.rolloutId, 'info', `stopped the new instance (${why})`, s.agentId);
        } catch (err) {
          this.event(st.rolloutId, 'error', `could not stop the new instance: ${errorMessage(err)}`, s.agentId);
        }
      }),
    );
  }
}
