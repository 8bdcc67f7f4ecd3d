// The executor performs a stored plan, phase by phase (the steps of one phase run together),
// through narrow interfaces: the store, the agents, a clock. Main loop: Executor.run().
//
// Crash safety: each step's transition is committed before its side effect starts and after it
// ends, and a traffic document with its generation is committed before any edge is touched. The
// run's state is rebuilt from those records, so run() on a rollout interrupted at any instant
// continues it: a step found `running` is sent again with the same command id (the agent answers
// from its record, attaches to the work, or does it if it never arrived), pending steps run as
// usual, and failures recorded before the interruption are handled again, idempotently.
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { compileSpec, type ServiceSpec } from '../lib/spec.js';
import { formatMs } from '../lib/duration.js';
import type { StartInstanceResult, StopInstanceResult, ApplyTrafficResult, AwaitIdleResult, ConfigureEdgeResult, Slot } from '../lib/commands.js';
import type { AnalyzeResult, VerifyResult, StageResult, HookResult } from '../lib/commands.js';
import { applyOps, checkServable, isMixed, primaryTrack, versionShares, type Backend, type Move, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';
import { addCounters, describeFigures, figuresOf, judge, type Counters, type Thresholds, type Verdict } from '../lib/analysis.js';
import type { Store, StepRow, StepState, EventRow, RollbackOutcome } from './store.js';
import type { AgentPort } from './agent-hub.js';
import { planRollbackSteps, type BatchSize } from './planner.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export interface ExecutorOptions {
  /** fault injection for the crash tests: SIGKILL this process at a step boundary */
  crashAt?: { seq: number; when: 'before' | 'after' };
  /** a rollout that cannot be journalled is paused in memory (the store refuses writes) */
  onPausedInMemory?: (rolloutId: string, reason: string) => void;
  /** whether the operator (or a journal failure) asked this rollout to pause */
  pauseRequested?: (rolloutId: string) => boolean;
}

interface RunState {
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
}

/** hosts that fetch and unpack a release at the same time, unless the rollout says otherwise */
export const DEFAULT_STAGE_CONCURRENCY = 4;

/** Runs fn over items, at most `limit` at a time, in order of start. */
async function pooled<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
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

/** The last lines of a command's output, for an event line. */
const tail = (output: string) => (output ? `: ${output.trim().split('\n').slice(-5).join(' | ').slice(-400)}` : '');

class RolloutFailed extends Error {}
/** An operator asked, during a wait, to return to the old version. */
class ReturnRequested extends Error {}
/** The rollout stops where it is, to be resumed: an agent gone past its deadline, an operator's pause. */
class PauseRollout extends Error {}
/** The journal refused a write: nothing more may happen without its entry. */
class JournalUnavailable extends Error {}

/** A step's life; every change goes through setStep, which refuses anything else. */
const STEP_TRANSITIONS: Record<StepState, StepState[]> = {
  pending: ['running', 'skipped'],
  running: ['done', 'failed'],
  done: [],
  failed: [],
  skipped: [],
};

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Waits for every promise, then rethrows a pause first, then any other error. */
async function settleAll<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  const pause = bad.find((e) => e instanceof JournalUnavailable) ?? bad.find((e) => e instanceof PauseRollout);
  if (pause) throw pause;
  if (bad.length) throw bad[0];
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export class Executor {
  /** set while the coordinator shuts down: interrupted work is left as it is, to resume at the next start */
  private stopping = false;

  constructor(
    private readonly store: Store,
    private readonly agents: AgentPort,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly notify: (rolloutId: string) => void,
    private readonly opts: ExecutorOptions = {},
  ) {}

  /** The coordinator is going away: what is under way now is resumed by the next coordinator, not paused. */
  stop(): void {
    this.stopping = true;
  }

  /** Every journal write goes through here: a refused write becomes JournalUnavailable. */
  private journal<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new JournalUnavailable(`the journal cannot be written: ${errorMessage(err)}`, { cause: err });
    }
  }

  private event(rolloutId: string, level: EventRow['level'], message: string, agentId = '', kind = '') {
    this.journal(() => this.store.addEvent({ rolloutId, atMs: this.clock.now(), level, agentId, message, kind }));
    this.log[level]({ rolloutId, agentId: agentId || undefined }, message);
    this.notify(rolloutId);
  }

  private setStep(st: RunState, s: StepRow, patch: Partial<StepRow>, traffic?: TrafficDoc) {
    if (patch.state && patch.state !== s.state && !STEP_TRANSITIONS[s.state].includes(patch.state)) {
      throw new ZddError('INTERNAL', `step ${s.seq} (${s.kind}): illegal transition ${s.state} -> ${patch.state}`);
    }
    this.journal(() => this.store.updateStep(st.rolloutId, s.seq, patch, traffic));
    Object.assign(s, patch);
    this.notify(st.rolloutId);
  }

  /** The run's state, rebuilt from the journal: the same whether the run is fresh or resumed. */
  private rebuild(rolloutId: string, steps: StepRow[]): RunState {
    const r = this.store.getRollout(rolloutId)!;
    const params = JSON.parse(r.paramsJson) as { failureLimit: number; batch?: BatchSize; edges?: string[]; spec?: ServiceSpec; stageConcurrency?: number; inPlace?: boolean };
    const spec = (params.spec ?? JSON.parse(steps.find((s) => s.kind === 'start' || s.kind === 'configure_edge')?.argsJson ?? '{}').spec) as ServiceSpec;
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
        const res = JSON.parse(s.resultJson) as StartInstanceResult;
        st.started.set(s.agentId, { slot: res.slot, port: res.port });
        // a host restored by a return (in place) started again after its failure
        st.failed.delete(s.agentId);
      }
      if (s.kind === 'start' && s.state === 'failed') st.failed.add(s.agentId);
      if (s.kind === 'drain' && s.state === 'failed') {
        for (const h of (JSON.parse(s.argsJson) as { hosts: { agentId: string }[] }).hosts) st.undrained.add(h.agentId);
      }
    }
    return st;
  }

  /**
   * Runs a rollout to its end, or until it pauses. Never throws: the outcome is in the store (or,
   * when the store refuses writes, reported through onPausedInMemory).
   */
  async run(rolloutId: string, resume?: { began: number }): Promise<void> {
    const r = this.store.getRollout(rolloutId);
    if (!r || r.state !== 'running') return;
    const steps = this.store.steps(rolloutId);
    const st = this.rebuild(rolloutId, steps);
    if (resume) st.resumeBegan = resume.began;
    try {
      if (!steps.some((s) => s.state !== 'pending')) {
        this.event(rolloutId, 'info', `rollout of ${r.service} ${r.fromVersion || '(nothing)'} → ${r.version} started`);
      }
      // phase by phase; a return to the old version appends phases, so the walk starts again
      for (let again = true; again; ) {
        again = false;
        const all = this.store.steps(rolloutId);
        const phases = [...new Set(all.map((s) => s.phase))].sort((a, b) => a - b);
        for (const phase of phases) {
          const group = all.filter((s) => s.phase === phase);
          await this.checkFailures(st, group, all);
          const todo = group.filter((s) => s.state === 'pending' || s.state === 'running');
          if (!todo.length) continue;
          // a requested return waits for steps already under way: they are finished first
          if (this.store.steps(rolloutId).length !== all.length || (todo.every((s) => s.state === 'pending') && this.returnIfAsked(st))) {
            again = true;
            break;
          }
          if (this.opts.pauseRequested?.(rolloutId) || this.store.getRollout(rolloutId)?.state === 'paused') {
            this.log.info({ rolloutId }, 'rollout paused at a step boundary');
            return;
          }
          try {
            await this.runPhase(st, todo, all);
          } catch (err) {
            if (!(err instanceof ReturnRequested)) throw err;
          }
          if (this.store.steps(rolloutId).length !== all.length) {
            again = true;
            break;
          }
        }
      }
      const end = this.store.getRollout(rolloutId)!;
      const state = end.outcome || 'succeeded';
      this.journal(() =>
        this.store.updateRollout(rolloutId, { state, endedMs: this.clock.now(), forcedKills: st.forcedKills, failedHosts: this.failedHosts(st) }),
      );
      if (state === 'succeeded') {
        this.event(rolloutId, 'info', `rollout succeeded: ${r.version} live${st.failed.size ? ` (${st.failed.size} host(s) kept the old version)` : ''}`);
      } else {
        this.event(rolloutId, 'warn', `rollout ${state === 'aborted' ? 'aborted' : 'rolled back'}: ${st.fromVersion} serves again. ${end.error}`);
      }
    } catch (err) {
      if (this.stopping) return this.log.info({ rolloutId }, 'rollout left running for the next coordinator');
      if (err instanceof PauseRollout || err instanceof JournalUnavailable) return this.pause(rolloutId, err.message);
      const message = errorMessage(err);
      try {
        for (const s of this.store.steps(rolloutId)) if (s.state === 'pending') this.setStep(st, s, { state: 'skipped' });
        this.journal(() =>
          this.store.updateRollout(rolloutId, { state: 'failed', error: message, endedMs: this.clock.now(), forcedKills: st.forcedKills, failedHosts: this.failedHosts(st) }),
        );
        this.event(rolloutId, 'error', `rollout failed: ${message}`);
      } catch (journalErr) {
        this.pause(rolloutId, `${errorMessage(journalErr)} (while recording the failure: ${message})`);
      }
    }
  }

  /** Hosts whose new instance failed to start in this rollout (a host restored by a return still counts). */
  private failedHosts(st: RunState): number {
    return new Set(this.store.steps(st.rolloutId).filter((s) => s.kind === 'start' && s.state === 'failed').map((s) => s.agentId)).size;
  }

  /** Pauses with a reason; if even that cannot be journalled, the pause lives in memory. */
  private pause(rolloutId: string, reason: string) {
    try {
      this.store.updateRollout(rolloutId, { state: 'paused', pauseReason: reason });
      this.store.addEvent({ rolloutId, atMs: this.clock.now(), level: 'warn', agentId: '', message: `rollout paused: ${reason}`, kind: 'paused' });
    } catch (err) {
      this.log.error({ rolloutId, err: errorMessage(err) }, 'pause could not be journalled; held in memory');
      this.opts.onPausedInMemory?.(rolloutId, reason);
    }
    this.log.warn({ rolloutId, reason }, 'rollout paused');
    this.notify(rolloutId);
  }

  /** database instance + rollout + step + attempt: the same work always has the same id */
  private commandId(st: RunState, s: StepRow) {
    return `${this.store.instanceId()}:${st.rolloutId}/${s.seq}/${s.attempt}`;
  }

  private crashPoint(s: StepRow, when: 'before' | 'after') {
    const c = this.opts.crashAt;
    if (c && c.seq === s.seq && c.when === when) {
      this.log.warn({ seq: s.seq, when }, 'crash point reached: killing the coordinator');
      process.kill(process.pid, 'SIGKILL');
    }
  }

  /**
   * Journals the start (unless the step was already running before an interruption: then the
   * same command id goes out again), runs fn, journals the end. An agent that stays unreachable
   * pauses the rollout with the step left running, to be sent again on resume.
   */
  private async step<T>(st: RunState, s: StepRow, fn: (commandId: string) => Promise<T>): Promise<Outcome<T>> {
    if (s.state === 'pending') this.setStep(st, s, { state: 'running', attempt: s.attempt + 1, startedMs: this.clock.now() });
    this.crashPoint(s, 'before');
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
        throw error;
      }
      if (error instanceof ZddError && error.code === 'AGENT_UNAVAILABLE') {
        throw new PauseRollout(`${error.message} (step ${s.seq}, ${s.kind}; resume it once the agent is back: zddctl resume ${st.rolloutId})`);
      }
      this.setStep(st, s, { state: 'failed', endedMs: this.clock.now(), error: errorMessage(error) });
      return { ok: false, error };
    }
    this.crashPoint(s, 'after');
    const prev = s.resultJson ? (JSON.parse(s.resultJson) as { prev?: unknown }).prev : undefined;
    this.setStep(st, s, { state: 'done', endedMs: this.clock.now(), resultJson: JSON.stringify(prev === undefined ? value ?? {} : { ...(value as object), prev }) });
    return { ok: true, value };
  }

  private skip(st: RunState, s: StepRow, why: string) {
    if (s.state === 'pending') this.setStep(st, s, { state: 'skipped', detail: why });
  }

  /** Failures recorded in the journal stop the rollout, before or after an interruption alike. */
  private async checkFailures(st: RunState, group: StepRow[], all: StepRow[]) {
    // once a return began, it owns the rollout: earlier failures were handled by starting it
    if (this.store.getRollout(st.rolloutId)!.outcome) {
      const failedReturn = group.find((s) => s.kind === 'traffic' && s.state === 'failed' && (JSON.parse(s.argsJson) as { returning?: boolean }).returning);
      if (failedReturn && !(JSON.parse(failedReturn.resultJson || '{}') as { reapplied?: number }).reapplied) {
        // the journal already holds the return's document: push it again, as a newer generation,
        // until every edge runs it; until then the rollout pauses (resume tries again)
        const gen = await this.reapplyTraffic(st, group);
        if (gen === undefined) {
          throw new PauseRollout(
            `the return to ${st.fromVersion} could not move traffic on every edge (${failedReturn.error}); it is tried again when you resume: zddctl resume ${st.rolloutId}`,
          );
        }
        this.setStep(st, failedReturn, { resultJson: JSON.stringify({ reapplied: gen }), detail: `applied again as generation ${gen}` });
      }
      return;
    }
    // a failed check recorded just before an interruption: its return begins now (idempotent)
    for (const s of group) {
      if (this.store.getRollout(st.rolloutId)!.outcome) return;
      if (s.kind === 'verify' && s.state === 'failed') this.beginReturn(st, 'rolled_back', `verification against the preview listener failed: ${s.error}`);
      if (s.kind === 'analyze' && s.state === 'failed') this.beginReturn(st, 'rolled_back', `analysis failed: ${s.error}`);
      if (s.kind === 'analyze' && s.state === 'done' && (JSON.parse(s.resultJson || '{}') as { ended?: string }).ended === 'failed') {
        const v = (JSON.parse(s.resultJson) as { verdict: Verdict }).verdict;
        this.beginReturn(st, 'rolled_back', `analysis failed: ${v.reasons.join('; ')}`);
      }
    }
    if (st.failed.size > st.failureLimit) {
      const batch = Math.max(...all.filter((s) => s.kind === 'start' && s.state === 'failed').map((s) => s.batch));
      const failures = all.filter((s) => s.kind === 'start' && s.state === 'failed').map((s) => `${s.agentId}: ${s.error}`);
      const message = `batch ${batch} failed (${st.failed.size} failed host(s), limit ${st.failureLimit}): ${failures.join('; ')}`;
      const doc = this.store.traffic(st.service);
      if (isMixed(doc) || (st.fromVersion && this.outOfPool(st).length)) {
        // a canary or a new colour already takes traffic, or (in place) hosts are out of the pool
        // with their old instance stopped: return to the old version rather than stop half-way
        if (this.store.getRollout(st.rolloutId)!.outcome || this.beginReturn(st, 'rolled_back', message)) return;
      }
      await this.cleanup(st, all.filter((s) => s.kind === 'start' && s.batch === batch && st.started.has(s.agentId)), 'the rollout failed before traffic moved');
      throw new RolloutFailed(
        `batch ${batch} failed (${st.failed.size} failed host(s), limit ${st.failureLimit}): ${failures.join('; ')}. ${
          st.inPlace ? 'In place, their old instances had stopped first: these hosts are out of the pool until a rollout or rollback starts them again.' : 'The old version keeps serving on these hosts.'
        }`,
      );
    }
    const failedHook = group.find((s) => s.kind === 'hook' && s.state === 'failed');
    if (failedHook) {
      const { hook } = JSON.parse(failedHook.argsJson) as { hook: string };
      const message = `hook ${hook} failed on ${failedHook.agentId || 'a host'}: ${failedHook.error}`;
      if ((isMixed(this.store.traffic(st.service)) || this.outOfPool(st).length) && st.fromVersion) {
        if (this.store.getRollout(st.rolloutId)!.outcome || this.beginReturn(st, 'rolled_back', message)) return;
      }
      const batch = failedHook.batch;
      const doc = this.store.traffic(st.service);
      if (doc && doc.backends.length > 0 && doc.backends.every((b) => b.version === st.version)) {
        // every host already serves the new version (a post or last afterStop hook failed): it is the live one
        this.journal(() => this.store.setLiveVersion(st.service, st.version));
      }
      await this.cleanup(st, all.filter((s) => s.kind === 'start' && s.batch === batch && st.started.has(s.agentId)), `hook ${hook} failed`);
      const moved = hook === 'afterStop' || hook === 'post';
      throw new RolloutFailed(
        `${message}. ${moved ? `Batch ${batch} had already moved; the rollout stops here` : hook === 'pre' ? 'Nothing was started and traffic is unchanged' : `Traffic did not move for batch ${batch}; the rollout stops here`}.`,
      );
    }
    const failedStage = group.filter((s) => s.kind === 'stage' && s.state === 'failed');
    if (failedStage.length) {
      throw new RolloutFailed(
        `staging the release failed on ${failedStage.length} host(s): ${failedStage.map((s) => `${s.agentId}: ${s.error}`).join('; ')}. Nothing was started and traffic is unchanged.`,
      );
    }
    const failedTraffic = group.find((s) => s.kind === 'traffic' && s.state === 'failed');
    if (failedTraffic) {
      const prev = JSON.parse(group[0].resultJson || '{}').prev as TrafficDoc | undefined;
      const reverted = await this.revertTraffic(st, group, prev);
      if (reverted && st.fromVersion && (isMixed(prev) || this.outOfPool(st).length)) {
        // back where it was, with a canary or a second colour still in traffic, or (in place) hosts
        // out of the pool with their old instance stopped: return from there
        if (this.beginReturn(st, 'rolled_back', `traffic change failed and was reverted: ${failedTraffic.error}`)) return;
      }
      if (reverted) {
        await this.cleanup(st, all.filter((s) => s.kind === 'start' && s.batch === group[0].batch && st.started.has(s.agentId)), 'traffic did not move');
        throw new RolloutFailed(`traffic change failed; traffic left as it was: ${failedTraffic.error}`);
      }
      throw new RolloutFailed(
        `traffic change failed and could not be confirmed reverted on every edge; the new instances of batch ${group[0].batch} were left running so that nothing serving is stopped: ${failedTraffic.error}`,
      );
    }
  }

  private async runPhase(st: RunState, group: StepRow[], all: StepRow[]) {
    const kind = group[0].kind;
    const spec = compileSpec(st.spec);
    const progress = (s: StepRow) => (m: string) => {
      try {
        this.setStep(st, s, { detail: m });
      } catch {
        /* progress is not worth pausing for */
      }
    };
    switch (kind) {
      case 'configure_edge': {
        const rs = await settleAll(
          group.map((s) =>
            this.step(st, s, (id) => this.agents.call(s.agentId, 'configure_edge', JSON.parse(s.argsJson), id, { timeoutMs: 30_000 }) as Promise<ConfigureEdgeResult>),
          ),
        );
        rs.forEach((r, i) => {
          if (r.ok && r.value.changed) this.event(st.rolloutId, 'info', `nginx configured for ${st.service} (${r.value.mode} mode, reloaded)`, group[i].agentId);
        });
        const bad = rs.find((r) => !r.ok);
        if (bad && !bad.ok) throw new RolloutFailed(`edge configuration failed: ${errorMessage(bad.error)}`);
        return;
      }
      case 'stage': {
        const { url } = JSON.parse(group[0].argsJson) as { url: string };
        this.event(st.rolloutId, 'info', `staging ${st.version} from ${url} on ${group.length} host(s), ${Math.min(st.stageConcurrency, group.length)} at a time`);
        const rs = await pooled(group, st.stageConcurrency, (s) =>
          this.step(st, s, (id) => this.agents.call(s.agentId, 'stage_release', JSON.parse(s.argsJson), id, { timeoutMs: 30 * 60_000, onProgress: progress(s) }) as Promise<StageResult>),
        );
        rs.forEach((r, i) => {
          const s = group[i];
          if (r.ok) {
            const v = r.value;
            this.event(
              st.rolloutId,
              'info',
              `${v.reused ? `${st.version} already staged` : `staged ${st.version} (${v.bytes >= 1e6 ? `${(v.bytes / 1e6).toFixed(1)} MB` : `${(v.bytes / 1e3).toFixed(1)} kB`}) in ${v.ms}ms`} at ${v.dir}${v.pruned.length ? `; removed old releases ${v.pruned.join(', ')}` : ''}${tail(v.output)}`,
              s.agentId,
              'stage',
            );
          } else this.event(st.rolloutId, 'error', `staging failed: ${errorMessage(r.error)}`, s.agentId, 'stage');
        });
        return this.checkFailures(st, group, all);
      }
      case 'hook': {
        const { hook } = JSON.parse(group[0].argsJson) as { hook: string };
        await settleAll(
          group.map(async (s) => {
            // a host whose new instance failed (within the failure limit) keeps its old version: no hook runs there
            if (st.failed.has(s.agentId) && hook !== 'pre' && hook !== 'post') return this.skip(st, s, 'new instance did not start');
            if (hook === 'afterStop' && st.undrained.has(s.agentId)) return this.skip(st, s, 'old instance left running');
            const r = await this.step(st, s, (id) => this.agents.call(s.agentId, 'run_hook', JSON.parse(s.argsJson), id, { timeoutMs: JSON.parse(s.argsJson).timeoutMs + 15_000 }) as Promise<HookResult>);
            if (r.ok) {
              this.setStep(st, s, { detail: `${hook} passed in ${r.value.ms}ms` });
              this.event(st.rolloutId, 'info', `hook ${hook} passed in ${r.value.ms}ms${tail(r.value.output)}`, s.agentId, 'hook');
            } else {
              this.setStep(st, s, { detail: `${hook} failed` });
              this.event(st.rolloutId, 'error', errorMessage(r.error), s.agentId, 'hook');
            }
          }),
        );
        return this.checkFailures(st, group, all);
      }
      case 'start': {
        const batch = group[0].batch;
        this.event(st.rolloutId, 'info', `batch ${batch}: starting ${JSON.parse(group[0].argsJson).version ?? st.version} on ${group.map((s) => s.agentId).join(', ')}`);
        const rs = await settleAll(
          group.map((s) =>
            this.step(st, s, (id) =>
              this.agents.call(s.agentId, 'start_instance', JSON.parse(s.argsJson), id, {
                timeoutMs: spec.health.deadlineMs + spec.stop.drainTimeoutMs + 30_000,
                onProgress: progress(s),
              }) as Promise<StartInstanceResult>,
            ),
          ),
        );
        rs.forEach((r, i) => {
          const s = group[i];
          if (r.ok) {
            st.started.set(s.agentId, { slot: r.value.slot, port: r.value.port });
            st.failed.delete(s.agentId);
            this.event(st.rolloutId, 'info', `${r.value.version} healthy in slot ${r.value.slot} after ${r.value.healthyAfterMs}ms`, s.agentId);
          } else {
            st.failed.add(s.agentId);
            this.event(st.rolloutId, 'error', `${JSON.parse(s.argsJson).version ?? st.version} did not start: ${errorMessage(r.error)}`, s.agentId);
          }
        });
        await this.checkFailures(st, group, all);
        for (const s of all) {
          if (s.batch === batch && s.state === 'pending' && s.kind === 'stop' && st.failed.has(s.agentId)) this.skip(st, s, 'new instance did not start');
        }
        return;
      }
      case 'traffic': {
        // the whole phase (every edge), not only its unfinished steps: the document and what it
        // replaced are journalled on the phase's first step
        const phase = all.filter((x) => x.phase === group[0].phase);
        const journalled = phase[0].state !== 'pending';
        let doc: TrafficDoc;
        let prev: TrafficDoc | undefined;
        if (journalled) {
          // interrupted mid-change: the document was journalled before any edge was touched
          doc = this.store.traffic(st.service)!;
          prev = JSON.parse(phase[0].resultJson || '{}').prev ?? undefined;
        } else {
          // older journals carry rolling moves; newer ones a list of operations
          const args = JSON.parse(group[0].argsJson) as { moves?: Move[]; ops?: TrafficOp[] };
          const ops: TrafficOp[] = args.ops ?? [{ op: 'swap', moves: args.moves ?? [] }];
          // hosts whose new instance is not healthy stay out of the document
          const newcomers = ops.flatMap((o) => (o.op === 'swap' ? o.moves.map((m) => m.agentId) : o.op === 'add' ? o.backends.map((b) => b.agentId ?? '') : []));
          const exclude = new Set(newcomers.filter((a) => !st.started.has(a) || st.failed.has(a)));
          if (newcomers.length && newcomers.every((a) => exclude.has(a)) && ops.every((o) => o.op === 'swap' || o.op === 'add')) {
            for (const s of group) this.skip(st, s, 'no host of this batch became healthy');
            return;
          }
          prev = this.store.traffic(st.service);
          doc = applyOps(prev, st.service, ops, (prev?.generation ?? 0) + 1, exclude);
          const empty = [doc.preview, doc.split?.track].filter((t): t is string => !!t && !doc.backends.some((b) => b.track === t && b.weight > 0));
          if (empty.length) {
            // every new instance of the track failed (within the failure limit): nothing to route to
            // the return skips this phase's steps in the same transaction that appends it
            this.beginReturn(st, 'rolled_back', `no instance of ${st.version} became healthy for the ${empty.join(', ')} track`);
            return;
          }
          checkServable(doc);
        }
        if (!journalled) {
          // the generation, and what it replaces, are journalled before any edge is touched
          this.setStep(st, phase[0], { state: 'running', attempt: phase[0].attempt + 1, startedMs: this.clock.now(), resultJson: JSON.stringify({ prev: prev ?? null }) }, doc);
        }
        const rs = await settleAll(
          group.map((s) => this.step(st, s, (id) => this.agents.call(s.agentId, 'apply_traffic', doc, id, { timeoutMs: 30_000 }) as Promise<ApplyTrafficResult>)),
        );
        if (rs.some((r) => !r.ok)) return this.checkFailures(st, phase, all);
        const r0 = rs.find((r) => r.ok) as { ok: true; value: ApplyTrafficResult };
        const shares = versionShares(doc);
        this.event(
          st.rolloutId,
          'info',
          `traffic generation ${doc.generation} applied in ${r0.value.switchMs}ms: ${doc.backends.map((b) => `${b.agentId ?? b.addr}=${b.track === primaryTrack(doc) ? '' : `${b.track}:`}${b.version ?? '?'}`).join(' ')}${
            shares.length > 1 ? ` — serving ${shares.map((x) => `${x.version} ${Math.round(x.percent)}%`).join(', ')}` : ''
          }`,
          '',
          'traffic',
        );
        return;
      }
      case 'drain': {
        await settleAll(
          group.map(async (s) => {
            const a = JSON.parse(s.argsJson) as { service: string; hosts: { agentId: string; addr: string }[]; timeoutMs: number };
            const addrs = a.hosts.filter((h) => !st.failed.has(h.agentId)).map((h) => h.addr);
            if (!addrs.length) return this.skip(st, s, 'nothing to drain');
            const r = await this.step(st, s, (id) =>
              this.agents.call(s.agentId, 'await_idle', { service: a.service, addrs, timeoutMs: a.timeoutMs }, id, { timeoutMs: a.timeoutMs + 15_000 }) as Promise<AwaitIdleResult>,
            );
            if (!r.ok) {
              // Without a confirmed drain the old instances are not stopped: they get no new
              // traffic, and stopping them could cut requests still in flight.
              for (const h of a.hosts) st.undrained.add(h.agentId);
              this.event(st.rolloutId, 'warn', `could not confirm the drain of ${addrs.join(', ')}; old instances left running: ${errorMessage(r.error)}`, s.agentId);
            } else if (!r.value.idle) {
              this.event(st.rolloutId, 'warn', `${r.value.inflight} request(s) still in flight to ${addrs.join(', ')} after ${r.value.waitedMs}ms`, s.agentId);
            } else this.setStep(st, s, { detail: `in-flight reached 0 after ${r.value.waitedMs}ms` });
          }),
        );
        return;
      }
      case 'stop': {
        await settleAll(
          group.map(async (s) => {
            // decided from the journal's start results, not from the skip written after them: an
            // interruption between the two must not stop the only instance a failed host has
            if (st.failed.has(s.agentId)) return this.skip(st, s, 'new instance did not start');
            if (st.undrained.has(s.agentId)) return this.skip(st, s, 'drain not confirmed; old instance left running');
            const r = await this.step(st, s, (id) =>
              this.agents.call(s.agentId, 'stop_instance', JSON.parse(s.argsJson), id, { timeoutMs: spec.stop.drainTimeoutMs + 30_000 }) as Promise<StopInstanceResult>,
            );
            if (!r.ok) this.event(st.rolloutId, 'warn', `old instance did not stop: ${errorMessage(r.error)}`, s.agentId);
            else if (r.value.forced) {
              st.forcedKills++;
              this.journal(() => this.store.updateRollout(st.rolloutId, { forcedKills: st.forcedKills }));
              this.event(st.rolloutId, 'warn', `old instance ignored ${spec.stop.signal} for ${spec.stop.drainTimeoutMs}ms: forced kill`, s.agentId);
            } else if (!r.value.alreadyStopped) this.event(st.rolloutId, 'info', `instance in slot ${JSON.parse(s.argsJson).slot} stopped after ${r.value.stoppedAfterMs}ms`, s.agentId);
          }),
        );
        return;
      }
      case 'pause': {
        const s = group[0];
        const { ms } = JSON.parse(s.argsJson) as { ms: number };
        await this.step(st, s, async () => ({ ended: await this.waitFor(st, s, ms) }));
        return;
      }
      case 'finalize': {
        const { version } = JSON.parse(group[0].argsJson) as { version?: string };
        await this.step(st, group[0], async () => {
          this.journal(() => this.store.setLiveVersion(st.service, version ?? st.version));
          return {};
        });
        return;
      }
      case 'verify': {
        const s = group[0];
        const r = await this.step(st, s, (id) => this.agents.call(s.agentId, 'verify', JSON.parse(s.argsJson), id, { timeoutMs: JSON.parse(s.argsJson).timeoutMs + 15_000 }) as Promise<VerifyResult>);
        if (r.ok) {
          this.event(st.rolloutId, 'info', `verification against the preview listener passed: ${r.value.passed.join('; ')}`, s.agentId);
          return;
        }
        this.event(st.rolloutId, 'error', `verification failed: ${errorMessage(r.error)}`, s.agentId);
        this.beginReturn(st, 'rolled_back', `verification against the preview listener failed: ${errorMessage(r.error)}`);
        return;
      }
      case 'analyze':
        return this.analyze(st, group[0]);
      case 'window': {
        const s = group[0];
        const { ms } = JSON.parse(s.argsJson) as { ms: number };
        await this.step(st, s, async () => {
          const ended = await this.waitFor(st, s, ms);
          if (ended === 'promoted') this.event(st.rolloutId, 'info', 'keep-old window ended by the operator');
          return { ended };
        });
        return;
      }
      default:
        throw new ZddError('INTERNAL', `unknown step kind ${kind}`);
    }
  }

  private readonly wakers = new Map<string, () => void>();

  /** An operator promoted, aborted or rolled back: a waiting rollout looks again at once. */
  wake(rolloutId: string): void {
    this.wakers.get(rolloutId)?.();
  }

  private async nap(rolloutId: string, ms: number): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.wakers.set(rolloutId, wake);
    try {
      await Promise.race([this.clock.sleep(ms), woken]);
    } finally {
      if (this.wakers.get(rolloutId) === wake) this.wakers.delete(rolloutId);
    }
  }

  /** What an operator asked of a waiting step: throws when a return was asked. */
  private asked(st: RunState, s: StepRow): 'promoted' | undefined {
    const r = this.store.getRollout(st.rolloutId)!;
    if (r.abortReason && !r.outcome) throw new ReturnRequested(r.abortReason);
    return r.promoteSeq >= s.seq ? 'promoted' : undefined;
  }

  /** Waits ms from the step's start (ms < 0: until promoted), ending early on a promote. */
  private async waitFor(st: RunState, s: StepRow, ms: number): Promise<'elapsed' | 'promoted'> {
    for (;;) {
      if (this.asked(st, s)) return 'promoted';
      const left = ms < 0 ? 1000 : s.startedMs + ms - this.clock.now();
      if (left <= 0) return 'elapsed';
      await this.nap(st.rolloutId, Math.min(left, 1000));
    }
  }

  /**
   * A canary step or a blue/green bake: reads the edges' counters until the window judges. The
   * baseline (each edge's counters when the step began) is journalled, so a resumed step keeps its
   * window. Fail → the return to the old version begins; too little traffic → wait, not pass.
   */
  private async analyze(st: RunState, s: StepRow): Promise<void> {
    const a = JSON.parse(s.argsJson) as { mode: 'canary' | 'bake'; percent?: number; track: string; against: string; waitMs: number; thresholds: Thresholds; intervalMs: number; maxWaitMs?: number };
    const label = a.mode === 'bake' ? `bake of ${a.track}` : `canary at ${a.percent}%`;
    const r = await this.step(st, s, async (id) => {
      // a read that fails is no data: wait and read again (an edge gone for good pauses the rollout)
      const read = async (e: string, base: Counters | undefined, n: number): Promise<AnalyzeResult | undefined> => {
        try {
          return (await this.agents.call(e, 'analyze', { service: st.service, ...(base ? { baseline: base } : {}) }, `${id}/${base ? 'read' : 'base'}/${e}/${n}`, { timeoutMs: 10_000 })) as AnalyzeResult;
        } catch (err) {
          if (err instanceof ZddError && err.code === 'AGENT_UNAVAILABLE') throw err;
          try {
            this.setStep(st, s, { detail: `${label}: cannot read the counters of ${e} (${errorMessage(err)}); trying again` });
          } catch {
            /* not worth pausing for */
          }
          return undefined;
        }
      };
      let baseline = (JSON.parse(s.resultJson || '{}') as { baseline?: Record<string, Counters> }).baseline;
      for (let n = 0; !baseline; n++) {
        const b: Record<string, Counters> = {};
        for (const e of st.edges) {
          const r0 = await read(e, undefined, n);
          if (!r0) break;
          b[e] = r0.counters;
        }
        if (Object.keys(b).length === st.edges.length) {
          baseline = b;
          this.setStep(st, s, { resultJson: JSON.stringify({ baseline }) });
        } else {
          if (this.asked(st, s)) return { verdict: judge(figuresOf({}, a.track), undefined, a.thresholds), ended: 'promoted' };
          await this.nap(st.rolloutId, a.intervalMs);
        }
      }
      const before = Object.values(baseline).reduce<Counters>((acc, c) => addCounters(acc, c), {});
      for (let n = 0; ; n++) {
        let window: Counters | undefined = {};
        for (const e of st.edges) {
          const res = await read(e, baseline[e], n);
          if (!res) {
            window = undefined;
            break;
          }
          window = addCounters(window, res.window);
        }
        if (!window) {
          if (this.asked(st, s)) return { verdict: judge(figuresOf({}, a.track), undefined, a.thresholds), ended: 'promoted' };
          await this.nap(st.rolloutId, a.intervalMs);
          continue;
        }
        const canary = figuresOf(window, a.track);
        // a canary is compared with the stable track in the same window; a bake with the old
        // colour's record on the edges up to the switch
        const stable = a.mode === 'bake' ? figuresOf(before, a.against) : figuresOf(window, a.against);
        const verdict = judge(canary, stable, a.thresholds);
        const elapsed = this.clock.now() - s.startedMs;
        const waiting =
          verdict.status === 'wait' ? verdict.reasons[0] : a.waitMs < 0 ? 'waiting for zddctl promote' : elapsed < a.waitMs ? `${Math.ceil((a.waitMs - elapsed) / 1000)}s left` : '';
        const detail = `${label}: ${a.track} ${describeFigures(canary)} | ${a.against} ${describeFigures(stable)}${verdict.status === 'fail' ? ` — FAILED: ${verdict.reasons.join('; ')}` : waiting ? ` — ${waiting}` : ''}`;
        try {
          this.setStep(st, s, { detail, resultJson: JSON.stringify({ baseline, verdict }) });
        } catch {
          /* figures are not worth pausing for */
        }
        if (verdict.status === 'fail') return { verdict, ended: 'failed' };
        if (this.asked(st, s)) return { verdict, ended: 'promoted' };
        if (a.waitMs >= 0 && elapsed >= a.waitMs && verdict.status === 'pass') return { verdict, ended: 'passed' };
        // still too little to judge long after its pause: the operator decides (the wait restarts at each resume)
        const since = Math.max(s.startedMs, ...this.store.resumedAt(st.rolloutId));
        if (a.waitMs >= 0 && a.maxWaitMs !== undefined && verdict.status === 'wait' && this.clock.now() - since >= a.waitMs + a.maxWaitMs) {
          throw new PauseRollout(
            `${label}: still too little traffic to judge after ${formatMs(this.clock.now() - since)} (${verdict.reasons[0]}); zddctl promote ${st.rolloutId} goes on without a verdict, zddctl abort ${st.rolloutId} returns, zddctl resume ${st.rolloutId} waits again`,
          );
        }
        await this.nap(st.rolloutId, a.intervalMs);
      }
    });
    if (!r.ok) {
      // no verdict is no pass
      this.beginReturn(st, 'rolled_back', `${label} could not be judged: ${errorMessage(r.error)}`);
      return;
    }
    const { verdict, ended } = r.value as { verdict: Verdict; ended: string };
    if (ended === 'failed') {
      this.event(st.rolloutId, 'error', `${label} failed: ${verdict.reasons.join('; ')} (${a.track}: ${describeFigures(verdict.canary)})`, '', 'analysis');
      this.beginReturn(st, 'rolled_back', `${label} failed analysis: ${verdict.reasons.join('; ')}`);
    } else {
      this.event(st.rolloutId, 'info', `${label} ${ended === 'promoted' ? 'promoted by the operator' : 'passed'}: ${a.track} ${describeFigures(verdict.canary)}`, '', 'analysis');
    }
  }

  /** An operator's abort or rollback that has not been acted on yet begins now. */
  private returnIfAsked(st: RunState): boolean {
    const r = this.store.getRollout(st.rolloutId)!;
    if (!r.abortReason || r.outcome) return false;
    return this.beginReturn(st, r.abortOutcome || 'aborted', r.abortReason);
  }

  /**
   * Turns the rollout into a return to the version it replaces: the return's steps (planned from
   * the journalled traffic) are appended and the remaining ones skipped, in one transaction.
   */
  private beginReturn(st: RunState, outcome: RollbackOutcome, reason: string): boolean {
    if (!st.fromVersion) throw new RolloutFailed(`${reason}; there is no earlier version to return to, so the rollout stops here`);
    const all = this.store.steps(st.rolloutId);
    const doc = this.store.traffic(st.service);
    const inDoc = new Set((doc?.backends ?? []).map((b) => `${b.agentId}/${b.slot}`));
    // instances started in this rollout that take no traffic, including starts still under way
    // (re-sent after an interruption): they finish before the return's steps run
    const strays = [
      ...[...st.started].map(([agentId, x]) => ({ agentId, slot: x.slot })),
      ...all.filter((x) => x.kind === 'start' && x.state === 'running').map((x) => ({ agentId: x.agentId, slot: (JSON.parse(x.argsJson) as { slot: Slot }).slot })),
    ].filter((x, i, arr) => !inDoc.has(`${x.agentId}/${x.slot}`) && arr.findIndex((y) => y.agentId === x.agentId && y.slot === x.slot) === i);
    const restore = this.outOfPool(st);
    const steps = planRollbackSteps({
      spec: st.spec,
      traffic: doc,
      target: st.fromVersion,
      edges: st.edges,
      batch: st.batch,
      strays,
      restore,
      firstSeq: Math.max(0, ...all.map((x) => x.seq)) + 1,
      firstPhase: Math.max(0, ...all.map((x) => x.phase)) + 1,
      firstBatch: Math.max(0, ...all.map((x) => x.batch)) + 1,
    });
    // a return's traffic steps are marked: their failure ends the rollout, the earlier ones' do not
    const rows = steps.map((x) => ({ ...x, argsJson: JSON.stringify(x.kind === 'traffic' ? { ...x.args, returning: true } : x.args), state: 'pending' as const, attempt: 0, detail: '', error: '', resultJson: '', startedMs: 0, endedMs: 0 }));
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
      const ops = (JSON.parse(s.argsJson) as { ops?: TrafficOp[] }).ops ?? [];
      const removed = ops.flatMap((o) => (o.op === 'remove' ? o.agentIds : []));
      if (!removed.length) continue;
      const first = all.find((x) => x.phase === s.phase)!;
      const prev = (JSON.parse(first.resultJson || '{}') as { prev?: TrafficDoc }).prev;
      for (const b of prev?.backends ?? []) {
        if (b.agentId && removed.includes(b.agentId) && b.track === primaryTrack(prev) && !doc?.backends.some((x) => x.agentId === b.agentId) && !out.some((x) => x.agentId === b.agentId)) out.push(b);
      }
    }
    return out;
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
  private async pushToEdges(st: RunState, group: StepRow[], doc: TrafficDoc, what: string, failure: string): Promise<boolean> {
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
