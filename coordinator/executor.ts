// The executor performs a stored plan, phase by phase (the steps of one phase run together),
// through narrow interfaces: the store, the agents, a clock. Each step's transition is committed
// before its side effect starts and after it ends; a traffic change's document and generation are
// committed before nginx is touched. Main loop: Executor.run().
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { compileSpec, type ServiceSpec } from '../lib/spec.js';
import type { StartInstanceResult, StopInstanceResult, ApplyTrafficResult, AwaitIdleResult, ConfigureEdgeResult, Slot } from '../lib/commands.js';
import type { TrafficDoc } from '../lib/traffic.js';
import type { Store, StepRow, StepState } from './store.js';
import type { AgentPort } from './agent-hub.js';
import { nextTraffic, type Move } from './planner.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

interface RunState {
  rolloutId: string;
  service: string;
  version: string;
  spec: ServiceSpec;
  failureLimit: number;
  /** hosts whose new instance became healthy in this rollout */
  started: Map<string, { slot: Slot; port: number }>;
  failed: Set<string>;
  /** hosts whose old instance could not be confirmed drained: they are not stopped */
  undrained: Set<string>;
  forcedKills: number;
}

class RolloutFailed extends Error {}

/** A step's life; every change goes through setStep, which refuses anything else. */
const STEP_TRANSITIONS: Record<StepState, StepState[]> = {
  pending: ['running', 'skipped'],
  running: ['done', 'failed'],
  done: [],
  failed: [],
  skipped: [],
};

export class Executor {
  constructor(
    private readonly store: Store,
    private readonly agents: AgentPort,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly notify: (rolloutId: string) => void,
  ) {}

  private event(rolloutId: string, level: 'info' | 'warn' | 'error', message: string, agentId = '') {
    this.store.addEvent({ rolloutId, atMs: this.clock.now(), level, agentId, message });
    this.log[level]({ rolloutId, agentId: agentId || undefined }, message);
    this.notify(rolloutId);
  }

  private setStep(st: RunState, s: StepRow, patch: Partial<StepRow>, traffic?: TrafficDoc) {
    if (patch.state && patch.state !== s.state && !STEP_TRANSITIONS[s.state].includes(patch.state)) {
      throw new ZddError('INTERNAL', `step ${s.seq} (${s.kind}): illegal transition ${s.state} -> ${patch.state}`);
    }
    Object.assign(s, patch);
    this.store.updateStep(st.rolloutId, s.seq, patch, traffic);
    this.notify(st.rolloutId);
  }

  /** Runs a rollout to its end. Never throws: the outcome is in the store. */
  async run(rolloutId: string): Promise<void> {
    const r = this.store.getRollout(rolloutId);
    if (!r || r.state !== 'running') return;
    const params = JSON.parse(r.paramsJson) as { failureLimit: number };
    const steps = this.store.steps(rolloutId);
    const spec = JSON.parse(steps.find((s) => s.kind === 'start')?.argsJson ?? '{}').spec as ServiceSpec;
    const st: RunState = {
      rolloutId,
      service: r.service,
      version: r.version,
      spec,
      failureLimit: params.failureLimit,
      started: new Map(),
      failed: new Set(),
      undrained: new Set(),
      forcedKills: 0,
    };
    this.event(rolloutId, 'info', `rollout of ${r.service} ${r.fromVersion || '(nothing)'} → ${r.version} started`);
    const phases = [...new Set(steps.map((s) => s.phase))].sort((a, b) => a - b);
    try {
      for (const phase of phases) {
        const group = steps.filter((s) => s.phase === phase && s.state === 'pending');
        if (!group.length) continue;
        await this.runPhase(st, group, steps);
      }
      this.store.updateRollout(rolloutId, { state: 'succeeded', endedMs: this.clock.now(), forcedKills: st.forcedKills, failedHosts: st.failed.size });
      this.event(rolloutId, 'info', `rollout succeeded: ${r.version} live${st.failed.size ? ` (${st.failed.size} host(s) kept the old version)` : ''}`);
    } catch (err) {
      const message = errorMessage(err);
      for (const s of steps) if (s.state === 'pending') this.setStep(st, s, { state: 'skipped' });
      this.store.updateRollout(rolloutId, { state: 'failed', error: message, endedMs: this.clock.now(), forcedKills: st.forcedKills, failedHosts: st.failed.size });
      this.event(rolloutId, 'error', `rollout failed: ${message}`);
    }
  }

  /** database instance + rollout + step + attempt: the same work always has the same id */
  private commandId(st: RunState, s: StepRow) {
    return `${this.store.instanceId()}:${st.rolloutId}/${s.seq}/${s.attempt}`;
  }

  /** Journals the start, runs fn, journals the end. Returns fn's value or the error. */
  private async step<T>(st: RunState, s: StepRow, fn: (commandId: string) => Promise<T>, traffic?: TrafficDoc): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    this.setStep(st, s, { state: 'running', attempt: s.attempt + 1, startedMs: this.clock.now() }, traffic);
    try {
      const value = await fn(this.commandId(st, s));
      this.setStep(st, s, { state: 'done', endedMs: this.clock.now(), resultJson: JSON.stringify(value ?? {}) });
      return { ok: true, value };
    } catch (error) {
      this.setStep(st, s, { state: 'failed', endedMs: this.clock.now(), error: errorMessage(error) });
      return { ok: false, error };
    }
  }

  private skip(st: RunState, s: StepRow, why: string) {
    this.setStep(st, s, { state: 'skipped' as StepState, detail: why });
  }

  private async runPhase(st: RunState, group: StepRow[], all: StepRow[]) {
    const kind = group[0].kind;
    const spec = compileSpec(st.spec);
    const progress = (s: StepRow) => (m: string) => this.setStep(st, s, { detail: m });
    switch (kind) {
      case 'configure_edge': {
        const rs = await Promise.all(
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
      case 'start': {
        const batch = group[0].batch;
        this.event(st.rolloutId, 'info', `batch ${batch}: starting ${st.version} on ${group.map((s) => s.agentId).join(', ')}`);
        const rs = await Promise.all(
          group.map((s) =>
            this.step(st, s, (id) =>
              this.agents.call(s.agentId, 'start_instance', JSON.parse(s.argsJson), id, {
                timeoutMs: spec.health.deadlineMs + spec.stop.drainTimeoutMs + 30_000,
                onProgress: progress(s),
              }) as Promise<StartInstanceResult>,
            ),
          ),
        );
        const failures: string[] = [];
        rs.forEach((r, i) => {
          const s = group[i];
          if (r.ok) {
            st.started.set(s.agentId, { slot: r.value.slot, port: r.value.port });
            this.event(st.rolloutId, 'info', `${st.version} healthy in slot ${r.value.slot} after ${r.value.healthyAfterMs}ms`, s.agentId);
          } else {
            st.failed.add(s.agentId);
            failures.push(`${s.agentId}: ${errorMessage(r.error)}`);
            this.event(st.rolloutId, 'error', `${st.version} did not start: ${errorMessage(r.error)}`, s.agentId);
          }
        });
        if (st.failed.size > st.failureLimit) {
          await this.cleanup(st, group.filter((s) => st.started.has(s.agentId)), 'the rollout failed before traffic moved');
          throw new RolloutFailed(
            `batch ${batch} failed (${st.failed.size} failed host(s), limit ${st.failureLimit}): ${failures.join('; ')}. The old version keeps serving on these hosts.`,
          );
        }
        for (const s of all) {
          if (s.batch === batch && s.state === 'pending' && s.kind === 'stop' && st.failed.has(s.agentId)) this.skip(st, s, 'new instance did not start');
        }
        return;
      }
      case 'traffic': {
        const args = JSON.parse(group[0].argsJson) as { moves: Move[] };
        const moves = args.moves.filter((m) => st.started.has(m.agentId) && !st.failed.has(m.agentId));
        if (!moves.length) {
          for (const s of group) this.skip(st, s, 'no host of this batch became healthy');
          return;
        }
        const prev = this.store.traffic(st.service);
        const doc = nextTraffic(prev, st.service, moves, (prev?.generation ?? 0) + 1);
        const rs = await this.applyTraffic(st, group, doc);
        const bad = rs.find((r) => !r.ok);
        if (bad && !bad.ok) {
          const reverted = await this.revertTraffic(st, group, prev);
          if (reverted) {
            await this.cleanup(st, all.filter((s) => s.kind === 'start' && s.batch === group[0].batch && st.started.has(s.agentId)), 'traffic did not move');
            throw new RolloutFailed(`traffic change failed; traffic left as it was: ${errorMessage(bad.error)}`);
          }
          throw new RolloutFailed(
            `traffic change failed and could not be confirmed reverted on every edge; the new instances of batch ${group[0].batch} were left running so that nothing serving is stopped: ${errorMessage(bad.error)}`,
          );
        }
        const r0 = rs[0] as { ok: true; value: ApplyTrafficResult };
        this.event(
          st.rolloutId,
          'info',
          `traffic generation ${doc.generation} applied in ${r0.value.switchMs}ms: ${doc.backends.map((b) => `${b.agentId ?? b.addr}=${b.version ?? '?'}`).join(' ')}`,
        );
        return;
      }
      case 'drain': {
        await Promise.all(
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
            }
            else if (!r.value.idle) this.event(st.rolloutId, 'warn', `${r.value.inflight} request(s) still in flight to ${addrs.join(', ')} after ${r.value.waitedMs}ms`, s.agentId);
            else this.setStep(st, s, { detail: `in-flight reached 0 after ${r.value.waitedMs}ms` });
          }),
        );
        return;
      }
      case 'stop': {
        await Promise.all(
          group.map(async (s) => {
            if (st.undrained.has(s.agentId)) return this.skip(st, s, 'drain not confirmed; old instance left running');
            const r = await this.step(st, s, (id) =>
              this.agents.call(s.agentId, 'stop_instance', JSON.parse(s.argsJson), id, { timeoutMs: spec.stop.drainTimeoutMs + 30_000 }) as Promise<StopInstanceResult>,
            );
            if (!r.ok) this.event(st.rolloutId, 'warn', `old instance did not stop: ${errorMessage(r.error)}`, s.agentId);
            else if (r.value.forced) {
              st.forcedKills++;
              this.store.updateRollout(st.rolloutId, { forcedKills: st.forcedKills });
              this.event(st.rolloutId, 'warn', `old instance ignored ${spec.stop.signal} for ${spec.stop.drainTimeoutMs}ms: forced kill`, s.agentId);
            } else this.event(st.rolloutId, 'info', `old instance stopped after ${r.value.stoppedAfterMs}ms`, s.agentId);
          }),
        );
        return;
      }
      case 'pause': {
        const { ms } = JSON.parse(group[0].argsJson) as { ms: number };
        await this.step(st, group[0], () => this.clock.sleep(ms));
        return;
      }
      case 'finalize': {
        await this.step(st, group[0], async () => {
          this.store.setLiveVersion(st.service, st.version);
          return {};
        });
        return;
      }
      default:
        throw new ZddError('INTERNAL', `unknown step kind ${kind}`);
    }
  }

  private applyTraffic(st: RunState, group: StepRow[], doc: TrafficDoc) {
    return Promise.all(
      group.map((s, i) =>
        this.step(
          st,
          s,
          (id) => this.agents.call(s.agentId, 'apply_traffic', doc, id, { timeoutMs: 30_000 }) as Promise<ApplyTrafficResult>,
          i === 0 ? doc : undefined, // the generation is journalled before any edge is touched
        ),
      ),
    );
  }

  /**
   * Puts the previous backends back, as a newer generation, on every edge of the change: an edge
   * whose call failed may still have applied it (a lost result), and a generation makes the
   * repeat harmless. The journal records the reverted document whatever happens. Returns true
   * when every edge confirmed the revert.
   */
  private async revertTraffic(st: RunState, group: StepRow[], prev: TrafficDoc | undefined): Promise<boolean> {
    const cur = this.store.traffic(st.service)!;
    const doc: TrafficDoc = { service: st.service, generation: cur.generation + 1, backends: prev?.backends ?? [] };
    this.store.updateStep(st.rolloutId, group[0].seq, {}, doc);
    const results = await Promise.all(
      group.map((s) =>
        this.agents.call(s.agentId, 'apply_traffic', doc, `${this.commandId(st, s)}/revert`, { timeoutMs: 30_000 }).then(
          () => true,
          (err) => {
            this.event(st.rolloutId, 'error', `could not revert traffic: ${errorMessage(err)}`, s.agentId);
            return false;
          },
        ),
      ),
    );
    return results.every(Boolean);
  }

  /** Stops new instances that never received traffic. */
  private async cleanup(st: RunState, starts: StepRow[], why: string) {
    const spec = compileSpec(st.spec);
    await Promise.all(
      starts.map(async (s) => {
        const slot = st.started.get(s.agentId)!.slot;
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
