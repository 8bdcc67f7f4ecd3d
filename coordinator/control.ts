// The control API behind zddctl: validates every request, plans rollouts and hands them to the
// executor. Errors leave as gRPC status codes through lib/grpc.ts.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { z } from 'zod';
import { toServiceError } from '../lib/grpc.js';
import { storedSpec, validateSpec } from '../lib/spec.js';
import { MAX_DURATION_MS } from '../lib/duration.js';
import type { ControlHandlers } from '../proto/gen/zdd/v1/Control.js';
import type { Rollout } from '../proto/gen/zdd/v1/Rollout.js';
import type { StartRolloutRequest__Output } from '../proto/gen/zdd/v1/StartRolloutRequest.js';
import { pendingStep, type Store, type RolloutRow } from './store.js';
import type { AgentHub } from './agent-hub.js';
import type { Clock, Executor } from './executor.js';
import { matchesSelector, parseBatch, planRollbackSteps, planRollout, refuseWorkdirOutsideRoots, trafficPreviews, type Plan, type PlannedStep, type RolloutParams } from './planner.js';
import { pooled } from './run-context.js';
import { refuseForeignOptions, strategyNamed, type StrategyRequest } from './strategies/index.js';
import { compileSpec } from '../lib/spec.js';
import { isMixed, versionShares, type TrafficDoc } from '../lib/traffic.js';
import { isWait, statusOf, transition } from './rollout-state.js';
import type { StepResults } from './steps.js';
import { PLAINTEXT_PRINCIPAL, requireRole, type FleetTrust, type Principal } from './trust.js';
import type { AgentRow, EventRow, Role, StepView } from './store.js';
import type { GetRolloutRequest__Output } from '../proto/gen/zdd/v1/GetRolloutRequest.js';
import type { Membership } from './membership.js';

type Method = Exclude<Extract<keyof ControlHandlers, string>, ''>;

/** The least role each call needs. Reads are the viewer's; anything that changes state is audited. */
export const NEEDS: Record<string, Role> = {
  GetService: 'viewer', ListAgents: 'viewer', Plan: 'viewer', GetRollout: 'viewer', ListRollouts: 'viewer', WatchRollout: 'viewer', WhoAmI: 'viewer', ListEvents: 'viewer',
  // taking a host in or out of the pool is day-to-day operation; forgetting one is an admin's
  Cordon: 'deployer', Uncordon: 'deployer', Drain: 'deployer', RemoveAgent: 'admin',
  StartRollout: 'deployer', PauseRollout: 'deployer', ResumeRollout: 'deployer', PromoteRollout: 'deployer', AbortRollout: 'deployer', Rollback: 'deployer',
  // a spec carries commands that run on every host: applying one is an admin's
  ApplyService: 'admin', CreateJoinToken: 'admin', RevokeAgent: 'admin', RevokeOperator: 'admin', ListCertificates: 'admin', ListAudit: 'admin',
};

/** The longest text each request field may carry; any other string field: 256. */
const FIELD_LIMITS: Record<string, number> = { spec_json: 1024 * 1024, analysis_json: 16_384, reason: 1024, artifact: 4096, steps: 1024 };

/** Refuses any string in a request beyond its field's limit, naming the field, not echoing the value. */
export function checkRequestBounds(req: unknown, path = ''): void {
  if (typeof req !== 'object' || req === null) return;
  const entries = Object.entries(req as Record<string, unknown>);
  if (entries.length > 64) throw new ZddError('INVALID_ARGUMENT', `${path || 'the request'} has more than 64 entries`);
  for (const [k, v] of entries) {
    const at = path ? `${path}.${k}` : k;
    if (typeof v === 'string') {
      const max = FIELD_LIMITS[k] ?? 256;
      if (v.length > max || k.length > 256) throw new ZddError('INVALID_ARGUMENT', `${at.slice(0, 300)} is ${v.length} characters long; at most ${max}`);
    } else if (typeof v === 'object') checkRequestBounds(v, at);
  }
}

/** How an operator appears in a rollout's events: by name, or "the operator" over plaintext. */
const byWhom = (who: Principal) => (who === PLAINTEXT_PRINCIPAL ? 'the operator' : who.name);
/** Who a rollout records as having started it: nobody over plaintext. */
const recordedAs = (who: Principal) => (who === PLAINTEXT_PRINCIPAL ? '' : who.label);

/** Page sizes of the control API: no reply grows with the fleet past its page. */
const DEFAULT_STEPS = 1000;
const MAX_STEPS = 5000;
const DEFAULT_EVENTS = 200;
const MAX_EVENTS = 2000;
const NOTABLE_STEPS = 50;
const DEFAULT_AGENTS = 1000;
const MAX_AGENTS = 5000;
/** a traffic document with more backends than this is shown as a summary (the versions' shares) */
const TRAFFIC_BACKENDS_SHOWN = 200;
/** a plan page shows up to 200 batches, each with its document: whole only while this small */
const PLAN_BACKENDS_SHOWN = 50;
/** and the steps of at most this many hosts per batch */
const PLAN_HOSTS_SHOWN = 100;

const stepMessage = (s: StepView) => ({
  seq: s.seq,
  batch: s.batch,
  phase: s.phase,
  kind: s.kind,
  agent_id: s.agentId,
  state: s.state,
  detail: s.detail,
  error: s.error,
  started_at_ms: s.startedMs,
  ended_at_ms: s.endedMs,
  attempt: s.attempt,
  result_json: s.resultJson,
});

const eventMessage = (e: EventRow) => ({ id: e.id ?? 0, at_ms: e.atMs, level: e.level, message: e.message, agent_id: e.agentId });

/** The rollout's parameters without the host list of every batch (the plan's pages show those). */
function paramsView(paramsJson: string): string {
  const p = JSON.parse(paramsJson || '{}') as { batches?: string[][] };
  if (!p.batches) return paramsJson;
  const { batches, ...rest } = p;
  return JSON.stringify({ ...rest, batchCount: batches.length });
}

/** A traffic document as replies carry it: whole while small, else its routes and the versions' shares. */
export function trafficView(doc: TrafficDoc | undefined, shown = TRAFFIC_BACKENDS_SHOWN): unknown {
  if (!doc || doc.backends.length <= shown) return doc ?? null;
  const { backends, ...rest } = doc;
  return { ...rest, backendCount: backends.length, shares: versionShares(doc) };
}

/**
 * A plan as `zddctl plan` shows it: the summary and one page of batches, each with its hosts,
 * its steps and what its traffic change leaves serving (the versions' shares; the document only
 * while small). Previews are worked out up to the page's last batch and no further.
 */
function planPage(plan: Plan, live: TrafficDoc | undefined, firstBatch: number, count: number) {
  const lastBatch = Math.min(plan.batches.length, firstBatch + count - 1);
  const inPage = (b: number) => b === 0 || (b >= firstBatch && b <= lastBatch);
  // the traffic phases up to the page's end, one per edge each: the first edge's are the plan's changes
  const firstEdge = plan.edges[0];
  const phases = plan.steps.filter((s) => s.kind === 'traffic' && s.agentId === firstEdge);
  const upTo = phases.filter((s) => s.batch <= lastBatch).length;
  const docs = trafficPreviews(live, plan.service, plan.trafficOps, upTo);
  // a batch of thousands of hosts shows its first hosts' steps: the rest are alike
  const hosts = new Set(plan.batches.slice(firstBatch - 1, lastBatch).flatMap((b) => b.slice(0, PLAN_HOSTS_SHOWN)));
  const onHosts = new Set(plan.hosts.map((h) => h.agentId));
  const shown = (s: PlannedStep) => inPage(s.batch) && (!onHosts.has(s.agentId) || hosts.has(s.agentId));
  // a start or an edge's configuration carries the whole spec: the plan names it instead
  const brief = (s: PlannedStep) => ('spec' in s.args ? { ...s, args: { ...s.args, spec: { name: plan.service } } } : s);
  return {
    service: plan.service,
    version: plan.version,
    fromVersion: plan.fromVersion,
    strategy: plan.strategy,
    edges: plan.edges,
    notes: plan.notes,
    ...(plan.inPlace ? { inPlace: true } : {}),
    batchCount: plan.batches.length,
    hostCount: plan.hosts.length,
    stepCount: plan.steps.length,
    firstBatch,
    batches: plan.batches.slice(firstBatch - 1, lastBatch),
    hosts: plan.hosts.filter((h) => hosts.has(h.agentId)),
    hostsShownPerBatch: PLAN_HOSTS_SHOWN,
    steps: plan.steps.filter(shown).map(brief),
    traffic: phases
      .map((s, i) => ({ batch: s.batch, doc: docs[i] }))
      .filter((t) => t.doc && inPage(t.batch))
      .map((t) => ({ batch: t.batch, ...(trafficView(t.doc, PLAN_BACKENDS_SHOWN) as object) })),
  };
}

/** states in which no executor runs: a watch ends there */
const AT_REST = new Set(['succeeded', 'failed', 'paused', 'rolled_back', 'aborted']);

/** Overrides of the spec's analysis thresholds in a StartRollout request. */
const AnalysisOverrides = z
  .object({
    maxErrorRate: z.number().min(0).max(1),
    maxErrorRateDelta: z.number().min(0).max(1),
    maxP95Ratio: z.number().min(1),
    minRequests: z.number().int().min(1),
  })
  .partial()
  .strict();

export class Control {
  /** emits the rollout id whenever anything about a rollout changed */
  readonly changes = new EventEmitter();
  private readonly runs = new Map<string, Promise<void>>();
  /** pauses the journal could not record (a full disk): they hold until resume */
  readonly pausedInMemory = new Map<string, string>();
  /** open WatchRollout streams by principal: revoking an operator ends them */
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(
    private readonly store: Store,
    private readonly hub: AgentHub,
    private readonly executor: Executor,
    private readonly log: Logger,
    /** absent over plaintext: every caller is then PLAINTEXT_PRINCIPAL */
    private readonly trust?: FleetTrust,
    /** who is in the pool; absent in tests that drive the control API alone */
    private readonly membership?: Membership,
    /** the executor's clock: journal times from both read alike */
    private readonly clock: Clock = executor.clock,
  ) {
    this.changes.setMaxListeners(0);
    this.changes.on('change', (id: string) => this.summaries.delete(id));
  }

  /**
   * a rollout's step summary, kept until something about the rollout changes and for at most
   * a second: watches and polls of a large rollout read it often
   */
  private readonly summaries = new Map<string, { at: number; sum: ReturnType<Store['stepSummary']> }>();
  /** a rollout's parameters as shown: they never change once it is planned */
  private readonly params = new Map<string, string>();

  private summaryOf(id: string) {
    const hit = this.summaries.get(id);
    if (hit && Date.now() - hit.at < 1000) return hit.sum;
    const sum = this.store.stepSummary(id);
    if (this.summaries.size > 100) this.summaries.clear();
    this.summaries.set(id, { at: Date.now(), sum });
    return sum;
  }

  private paramsOf(r: RolloutRow): string {
    let p = this.params.get(r.id);
    if (p === undefined) {
      p = paramsView(r.paramsJson);
      if (this.params.size > 100) this.params.clear();
      this.params.set(r.id, p);
    }
    return p;
  }

  private members(): Membership {
    if (!this.membership) throw new ZddError('INTERNAL', 'this coordinator runs without fleet membership');
    return this.membership;
  }

  private hostName(req: { name: string }): string {
    if (!req.name) throw new ZddError('INVALID_ARGUMENT', 'name the host (its agent id): zddctl agents lists them');
    return req.name;
  }

  private agentInfo(a: AgentRow, outOfPool: string[] = [], ejected: string[] = []) {
    const s = this.hub.session(a.id);
    const m = this.membership?.state(a);
    return {
      id: a.id,
      hostname: s?.facts?.hostname ?? a.hostname,
      labels: a.labels,
      advertise: a.advertise,
      connected: !!s,
      edge: !!a.edgeMode,
      edge_mode: a.edgeMode,
      cores: s?.facts?.cores ?? 0,
      load_pct: s?.facts?.load_pct ?? 0,
      mem_total_bytes: s?.facts?.mem_total_bytes ?? 0,
      mem_available_bytes: s?.facts?.mem_available_bytes ?? 0,
      last_seen_ms: s?.lastSeen ?? a.lastSeenMs,
      instances_json: JSON.stringify(s?.instances ?? []),
      agent_version: a.agentVersion,
      gone_since_ms: m?.goneSinceMs ?? (s ? 0 : a.lastSeenMs),
      cordoned: !!a.cordonedMs,
      drain: a.drain ?? '',
      out_of_pool: outOfPool,
      ejected,
    };
  }

  /**
   * A rollout as the control API shows it: its header, the summary of its steps, the steps that
   * matter (running, failed), and a page of steps and of events. No reply grows with the fleet
   * beyond its page (at most 5,000 steps and 2,000 events).
   */
  snapshot(r: RolloutRow, page: Partial<Pick<GetRolloutRequest__Output, 'steps_after' | 'max_steps' | 'events_after' | 'max_events' | 'summary_only'>> = {}): Rollout {
    const memPause = this.pausedInMemory.get(r.id);
    const sum = this.summaryOf(r.id);
    const maxSteps = Math.min(page.max_steps || DEFAULT_STEPS, MAX_STEPS);
    const maxEvents = Math.min(page.max_events || DEFAULT_EVENTS, MAX_EVENTS);
    const steps = page.summary_only ? [] : this.store.stepPage(r.id, page.steps_after ?? 0, maxSteps);
    const events = page.summary_only ? [] : Number(page.events_after) > 0 ? this.store.eventsAfter(r.id, Number(page.events_after), maxEvents) : this.store.latestEvents(r.id, maxEvents);
    const notable = this.store.notableSteps(r.id, NOTABLE_STEPS);
    const waits = r.state === 'running' ? this.store.runningWaits(r.id) : [];
    const last = steps[steps.length - 1];
    return {
      id: r.id,
      service: r.service,
      version: r.version,
      from_version: r.fromVersion,
      strategy: r.strategy,
      created_by: r.createdBy,
      state: memPause ? 'paused' : r.state,
      status: memPause ? 'paused' : statusOf(r, waits),
      pause_reason: memPause ?? (r.state === 'paused' ? r.pauseReason : ''),
      resumed_at_ms: this.store.resumedAt(r.id),
      error: r.error,
      created_at_ms: r.createdMs,
      ended_at_ms: r.endedMs,
      batches: sum.batches,
      forced_kills: r.forcedKills,
      failed_hosts: r.failedHosts,
      params_json: this.paramsOf(r),
      traffic_json: JSON.stringify(trafficView(this.store.traffic(r.service))),
      analysis_json: (() => {
        const a = this.store.lastResult(r.id, 'analyze');
        const res = a ? (JSON.parse(a.resultJson) as StepResults['analyze']) : undefined;
        return a && res?.verdict ? JSON.stringify({ seq: a.seq, detail: a.detail, verdict: res.verdict, ...(res.measured ? { measured: res.measured } : {}) }) : '';
      })(),
      waiting: (() => {
        const w = waits[0];
        if (!w) return '';
        if (w.kind === 'window') return 'keep-old window';
        if (w.kind === 'pause') return (w.args as { preview?: string }).preview !== undefined ? 'preview' : 'pause';
        return w.kind === 'analyze' && w.args.waitMs < 0 ? 'promote' : 'analysis';
      })(),
      summary: {
        steps: sum.steps,
        ...sum.byState,
        hosts: sum.hosts,
        hosts_started: sum.hostsStarted,
        hosts_failed: sum.hostsFailed,
        batches: sum.batches,
        batches_done: sum.batchesDone,
        current_batch: sum.currentBatch,
        events: this.store.eventCount(r.id),
      },
      next_step: last && steps.length === maxSteps && last.seq < this.store.lastSeq(r.id) ? last.seq : 0,
      notable: notable.map(stepMessage),
      steps: steps.map(stepMessage),
      events: events.map(eventMessage),
      delta: false,
    };
  }

  private plan(req: StartRolloutRequest__Output): { plan: Plan; params: RolloutParams; revision: number } {
    if (!req.service) throw new ZddError('INVALID_ARGUMENT', 'a service name is required');
    const svc = this.store.getService(req.service);
    if (!svc) {
      throw new ZddError('UNKNOWN_SERVICE', `no service named "${req.service}"`, { hint: 'apply its spec first: zddctl apply -f SPEC' });
    }
    if (!req.version) throw new ZddError('INVALID_ARGUMENT', 'a version is required (--version)');
    const strategy = strategyNamed(req.strategy || 'rolling');
    for (const [what, ms] of [['pause between batches', req.pause_ms], ['step pause', req.step_pause_ms], ['keep-old window', req.keep_old_ms], ['bake time', req.bake_ms]] as const) {
      if (ms > MAX_DURATION_MS) throw new ZddError('INVALID_ARGUMENT', `${what} is longer than 24h`);
      if (ms < 0 && what !== 'step pause') throw new ZddError('INVALID_ARGUMENT', `${what} cannot be negative`);
    }
    let analysis: RolloutParams['analysis'];
    if (req.analysis_json) {
      let raw: unknown;
      try {
        raw = JSON.parse(req.analysis_json);
      } catch {
        throw new ZddError('INVALID_ARGUMENT', 'analysis overrides are not JSON');
      }
      const r = AnalysisOverrides.safeParse(raw);
      if (!r.success) throw new ZddError('INVALID_ARGUMENT', `analysis overrides: ${r.error.issues.map((i) => `${i.path.join('.') || '(the object)'}: ${i.message}`).join('; ')}`);
      analysis = r.data;
    }
    const request: StrategyRequest = {
      steps: req.steps,
      stepPauseMs: req.step_pause_ms,
      canaryHosts: req.canary_hosts,
      keepOldMs: req.keep_old_ms,
      bakeMs: req.bake_ms,
      hosts: req.hosts,
      inPlace: req.in_place,
      maxLoad: req.max_load,
      options: req.options ?? {},
      failureLimit: req.failure_limit,
    };
    refuseForeignOptions(strategy, request);
    const own = strategy.parse(request);
    let artifact: RolloutParams['artifact'];
    if (req.artifact || req.sha256) {
      const url = req.artifact.trim();
      if (!url || !(url.startsWith('/') || /^(file|https?):\/\//.test(url))) {
        throw new ZddError('INVALID_ARGUMENT', `artifact "${url}" is neither an absolute path nor a file://, http:// or https:// URL`, {
          hint: 'for example --artifact https://builds.example/web-1.4.2.tar.gz --sha256 HEX',
        });
      }
      const sha256 = req.sha256.trim().toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(sha256)) {
        throw new ZddError('INVALID_ARGUMENT', `--artifact needs --sha256 with the artifact's 64-hex-digit sha256${req.sha256 ? `, not "${req.sha256}"` : ''}`, {
          hint: 'sha256sum FILE prints it',
        });
      }
      artifact = { url, sha256 };
    }
    const params: RolloutParams = {
      version: req.version,
      strategy: strategy.name,
      // rolling moves one host at a time unless told; blue-green and canary start their new instances all at once
      batch: req.batch ? parseBatch(req.batch) : strategy.defaultBatch,
      pauseMs: req.pause_ms,
      failureLimit: req.failure_limit,
      ...own,
      ...(analysis ? { analysis } : {}),
      ...(artifact ? { artifact } : {}),
      ...(req.stage_concurrency ? { stageConcurrency: req.stage_concurrency } : {}),
    };
    const plan = planRollout({
      spec: storedSpec(JSON.parse(svc.specJson)),
      liveVersion: svc.liveVersion,
      fleet: this.fleetWithModes(),
      traffic: this.store.traffic(svc.name),
      params,
    });
    return { plan, params, revision: svc.revision };
  }

  private fleetWithModes() {
    const modes = new Map(this.store.listAgents().map((a) => [a.id, a.edgeMode]));
    return this.hub.fleet().map((h) => ({ ...h, edgeMode: modes.get(h.agentId) || undefined }));
  }

  private insert(r: { service: string; revision: number; version: string; fromVersion: string; strategy: string; paramsJson: string; createdBy: string }, steps: PlannedStep[]): RolloutRow {
    const active = this.store.activeRollout(r.service);
    if (active) {
      throw new ZddError('ROLLOUT_ACTIVE', `rollout ${active.id} of ${r.service} is still ${active.state}`, {
        hint: active.state === 'paused' ? `resume it (zddctl resume ${active.id}) or abort it (zddctl abort ${active.id})` : `wait for it to end (zddctl watch ${active.id}), or abort it`,
      });
    }
    return this.store.createRollout(
      { ...r, state: 'running', error: '', createdMs: this.clock.now(), endedMs: 0, forcedKills: 0, failedHosts: 0 },
      steps.map(pendingStep),
    );
  }

  /** Ends the wait of the running canary step, bake, keep-old window or pause. */
  private promote(id: string, who: Principal): RolloutRow {
    const r = this.find(id);
    const w = this.store.runningWaits(r.id).find((s) => isWait(s.kind));
    if ((r.state !== 'running' && r.state !== 'paused') || !w || this.pausedInMemory.has(r.id)) {
      throw new ZddError('NOT_WAITING', `rollout ${r.id} is ${r.state} and not waiting at a step that can be promoted`, {
        hint: 'promote applies to a canary step, a bake, a keep-old window or a pause; see zddctl status',
      });
    }
    // a rollout paused in a wait (too little traffic to judge) goes on from there
    transition(this.store, this.log, r.id, r.state, {
      to: 'running',
      patch: { promoteSeq: w.seq, ...(r.state === 'paused' ? { pauseReason: '' } : {}) },
      event: { atMs: this.clock.now(), level: 'info', agentId: '', message: `promoted by ${byWhom(who)} at step ${w.seq} (${w.kind})`, kind: 'promoted' },
    });
    this.executor.wake(r.id);
    this.launch(r.id);
    this.changes.emit('change', r.id);
    return this.store.getRollout(r.id)!;
  }

  /** Asks a running or paused rollout to return to the version it replaces. */
  private requestReturn(r: RolloutRow, outcome: 'aborted' | 'rolled_back', reason: string): RolloutRow {
    if (r.state !== 'running' && r.state !== 'paused') {
      throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} is ${r.state}; only a running or paused rollout can be aborted`, {
        hint: r.state === 'succeeded' ? `return to the previous version with zddctl rollback ${r.service}` : undefined,
      });
    }
    if (r.outcome || r.abortReason) throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} is already returning to ${r.fromVersion}`, { hint: `follow it with zddctl watch ${r.id}` });
    if (r.strategy === 'rollback') {
      throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} is itself a rollback to ${r.version}; turning it around would bring ${r.fromVersion} back`, {
        hint: `let it finish (zddctl watch ${r.id}), or pause it (zddctl pause ${r.id})`,
      });
    }
    if (!this.store.hasWorkLeft(r.id)) {
      throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} has already moved everything to ${r.version}; only recording it as live is left`, {
        hint: `once it has ended, return with zddctl rollback ${r.service}`,
      });
    }
    if (!r.fromVersion) {
      throw new ZddError('NOTHING_TO_ROLL_BACK', `rollout ${r.id} is the first release of ${r.service}: there is no earlier version to return to`, {
        hint: `pause it (zddctl pause ${r.id}) or let it finish`,
      });
    }
    if (this.pausedInMemory.has(r.id)) {
      throw new ZddError('DB_ERROR', `rollout ${r.id} is paused because its journal cannot be written`, { hint: 'free disk space or fix the database, then resume or abort it' });
    }
    transition(this.store, this.log, r.id, r.state, {
      to: 'running',
      patch: { abortReason: reason, abortOutcome: outcome, ...(r.state === 'paused' ? { pauseReason: '' } : {}) },
      event: { atMs: this.clock.now(), level: 'warn', agentId: '', message: `${reason}: returning to ${r.fromVersion} at the next step boundary`, kind: 'abort' },
    });
    this.executor.wake(r.id);
    this.launch(r.id);
    this.changes.emit('change', r.id);
    return this.store.getRollout(r.id)!;
  }

  /** Returns a service to its previous version: a running rollout turns back; otherwise a rollback rollout. */
  private rollback(service: string, who: Principal): RolloutRow {
    if (!service) throw new ZddError('INVALID_ARGUMENT', 'name the service to roll back');
    const svc = this.store.getService(service);
    if (!svc) throw new ZddError('UNKNOWN_SERVICE', `no service named "${service}"`, { hint: 'list rollouts with zddctl history' });
    const active = this.store.activeRollout(service);
    if (active) return this.requestReturn(active, 'rolled_back', `rolled back by ${byWhom(who)}`);
    const traffic = this.store.traffic(service);
    // traffic left with a canary or a second colour (a rollout that could not finish): back to the live version alone
    const unclean = isMixed(traffic);
    // with no live version on record (a first release that did not finish), the primary track's own version
    const primaryVersions = new Set((traffic?.backends ?? []).filter((b) => b.track === (traffic?.primary ?? 'stable')).map((b) => b.version ?? ''));
    const target = unclean ? svc.liveVersion || (primaryVersions.size === 1 ? [...primaryVersions][0] : '') : svc.previousVersion;
    if (!target) {
      throw new ZddError('NOTHING_TO_ROLL_BACK', `${service} has no previous version to return to (live: ${svc.liveVersion || 'nothing'})`, {
        hint: 'a rollback needs a version that was live before this one',
      });
    }
    const spec = storedSpec(JSON.parse(svc.specJson));
    const compiled = compileSpec(spec);
    const fleet = this.hub.fleet();
    const edges = (compiled.nginx.edges.length ? [...compiled.nginx.edges] : fleet.filter((h) => h.connected && h.edge).map((h) => h.agentId)).sort();
    if (!edges.length) throw new ZddError('NO_MATCHING_AGENTS', `no edge agent is connected to drive nginx for ${service}`, { hint: 'start one agent with --edge' });
    const steps = planRollbackSteps({
      spec,
      traffic,
      target,
      edges,
      batch: { count: 1 },
      strays: [],
      firstSeq: 1,
      firstPhase: 1,
      firstBatch: 1,
    });
    const row = this.insert(
      {
        service,
        revision: svc.revision,
        version: target,
        fromVersion: svc.liveVersion,
        strategy: 'rollback',
        createdBy: recordedAs(who),
        paramsJson: JSON.stringify({ version: target, strategy: 'rollback', batch: { count: 1 }, pauseMs: 0, failureLimit: 0, edges, spec }),
      },
      steps,
    );
    this.log.info({ rolloutId: row.id, service, version: row.version }, 'rollback planned');
    this.launch(row.id);
    return row;
  }

  /** Starts the executor on a stored rollout, unless one already runs it. */
  launch(id: string, resume?: { began: number }): void {
    if (this.runs.has(id)) return;
    let crashed = false;
    // on the next turn, so that the request that started it is answered first
    const run = new Promise<void>((r) => setImmediate(r))
      .then(() => this.executor.run(id, resume))
      .catch((err) => {
        // run() records its own outcome; this is a bug, and running it again would repeat it
        crashed = true;
        this.log.error({ rolloutId: id, err: errorMessage(err) }, 'rollout run ended unexpectedly; it stays as the journal has it');
      })
      .finally(() => {
        this.runs.delete(id);
        // resumed while the executor was stopping at a boundary: run it again
        let again = false;
        try {
          again = !crashed && this.store.getRollout(id)?.state === 'running' && !this.pausedInMemory.has(id);
        } catch (err) {
          // the journal cannot be read (PostgreSQL gone): the pause the run reported stands
          this.log.warn({ rolloutId: id, err: errorMessage(err) }, 'whether to run again cannot be read');
        }
        if (again) this.launch(id);
        this.changes.emit('change', id);
      });
    this.runs.set(id, run);
  }

  /**
   * After a coordinator restart: waits for each interrupted rollout's agents, records what they
   * report running (instances, the edges' live generations) beside the journal, and continues.
   */
  async resumeInterrupted(began: number, waitForAgentsMs: number, why = 'the coordinator restarted'): Promise<void> {
    for (const r of this.store.runningRollouts()) {
      try {
        await this.reconcile(r, waitForAgentsMs, why);
      } catch (err) {
        // a journal that refuses writes: the executor's first write pauses the rollout in memory
        this.log.error({ rolloutId: r.id, err: (err as Error).message }, 'reconciliation not recorded');
      }
      this.launch(r.id, { began });
    }
  }

  private async reconcile(r: RolloutRow, waitForAgentsMs: number, why: string): Promise<void> {
    const steps = this.store.steps(r.id);
    const agentIds = [...new Set(steps.map((s) => s.agentId).filter(Boolean))];
    this.store.addEvent({ rolloutId: r.id, atMs: this.clock.now(), level: 'warn', agentId: '', message: `interrupted: ${why}`, kind: 'interrupted' });
    const deadline = this.clock.now() + waitForAgentsMs;
    while (agentIds.some((a) => !this.hub.session(a)) && this.clock.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    const missing = agentIds.filter((a) => !this.hub.session(a));
    const traffic = this.store.traffic(r.service);
    const seen: string[] = [];
    await Promise.all(
      agentIds
        .filter((a) => this.hub.session(a))
        .map(async (a) => {
          const truth = (await this.hub
            .call(a, 'inspect', {}, `${this.store.instanceId()}:${r.id}/inspect/${a}/${this.clock.now()}`, { timeoutMs: 5_000 })
            .catch(() => undefined)) as { instances: { service: string; slot: string; version: string; state: string }[]; liveGenerations: Record<string, number> } | undefined;
          // an answer without what inspect reports (an agent of another make) is no answer
          if (!Array.isArray(truth?.instances) || typeof truth.liveGenerations !== 'object' || !truth.liveGenerations) return;
          const inst = truth.instances.filter((i) => i.service === r.service).map((i) => `${i.slot}=${i.version}(${i.state})`);
          const gen = truth.liveGenerations[r.service];
          seen.push(`${a}: ${inst.join(' ') || 'no instance'}${gen !== undefined ? `, live generation ${gen}` : ''}`);
        }),
    );
    const running = steps.filter((s) => s.state === 'running').map((s) => `${s.seq} ${s.kind}${s.agentId ? ` on ${s.agentId}` : ''}`);
    // one event line however large the fleet: the first few by name, then how many more
    const some = (xs: string[]) => (xs.length > 20 ? `${xs.slice(0, 20).join(', ')} … and ${xs.length - 20} more` : xs.join(', '));
    this.store.addEvent({
      rolloutId: r.id,
      atMs: this.clock.now(),
      level: 'info',
      agentId: '',
      message: `reconciled: journal generation ${traffic?.generation ?? 0}; ${some(seen.sort()) || 'no agent answered'}${running.length ? `; re-sending in-flight step(s) ${some(running)} with their command ids` : ''}${missing.length ? `; not connected yet: ${some(missing)}` : ''}`,
      kind: 'resumed',
    });
    this.log.info({ rolloutId: r.id, running }, 'rollout resumed after a restart');
  }

  private pauseRollout(id: string, who: Principal): RolloutRow {
    const r = this.find(id);
    if (r.state !== 'running') {
      throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} is ${r.state}; only a running rollout can be paused`);
    }
    transition(this.store, this.log, r.id, 'running', {
      to: 'paused',
      patch: { pauseReason: `paused by ${byWhom(who)}` },
      event: { atMs: this.clock.now(), level: 'info', agentId: '', message: `paused by ${byWhom(who)}; steps already under way finish first`, kind: 'paused' },
    });
    this.changes.emit('change', r.id);
    return this.store.getRollout(r.id)!;
  }

  private resumeRollout(id: string, who: Principal): RolloutRow {
    if (!id) throw new ZddError('INVALID_ARGUMENT', 'name the rollout to resume', { hint: 'zddctl history SERVICE lists them' });
    const r = this.find(id);
    const memPause = this.pausedInMemory.get(r.id);
    if (r.state !== 'paused' && !memPause) {
      throw new ZddError('INVALID_ARGUMENT', `rollout ${r.id} is ${r.state}; only a paused rollout can be resumed`, {
        hint: r.state === 'running' ? `follow it with zddctl watch ${r.id}` : 'start a new rollout instead',
      });
    }
    try {
      // paused in memory (the journal refused the pause) the journal still says running
      transition(this.store, this.log, r.id, r.state, {
        to: 'running',
        patch: { pauseReason: '' },
        event: { atMs: this.clock.now(), level: 'info', agentId: '', message: `resumed by ${byWhom(who)}`, kind: 'resumed' },
      });
    } catch (err) {
      if (err instanceof ZddError && err.code !== 'DB_ERROR') throw err;
      throw new ZddError('DB_ERROR', `cannot resume ${r.id}: the journal still cannot be written (${(err as Error).message})`, {
        hint: 'free disk space or fix the database file, then resume again',
      });
    }
    this.pausedInMemory.delete(r.id);
    this.launch(r.id);
    return this.store.getRollout(r.id)!;
  }

  /** The caller of a call: its certificate's principal over TLS, PLAINTEXT_PRINCIPAL without. */
  private caller(call: object): Principal {
    return this.trust ? this.trust.authenticate(call) : PLAINTEXT_PRINCIPAL;
  }

  /** Authenticates, bounds and authorizes a call; calls that change state are audited, refused ones too. */
  private admit(method: Method, call: { request: unknown }): Principal {
    let who: Principal | undefined;
    try {
      who = this.caller(call);
      checkRequestBounds(call.request);
      // a call missing from the table needs admin: forgetting it there must not open it
      requireRole(who, NEEDS[method] ?? 'admin', method);
      return who;
    } catch (err) {
      // an unauthenticated caller is logged, not journalled: it could fill the disk
      if (who) this.audit(who, method, call.request, 'refused', errorMessage(err));
      this.log.warn({ method, principal: who?.label, err: errorMessage(err) }, 'control call refused');
      throw err;
    }
  }

  private audit(who: Principal, method: Method, req: unknown, outcome: 'ok' | 'refused' | 'failed', detail: string) {
    if ((NEEDS[method] ?? 'admin') === 'viewer') return;
    const r = (req ?? {}) as Record<string, unknown>;
    const target = [r.service, r.name, r.id].find((v) => typeof v === 'string' && v) as string | undefined;
    try {
      this.store.addAudit({ atMs: this.clock.now(), principal: who.label, role: who.role, action: method, target: (target ?? '').slice(0, 128), outcome, detail: detail.slice(0, 1024) });
    } catch (err) {
      this.log.error({ method, principal: who.label, err: errorMessage(err) }, 'audit entry not recorded');
    }
  }

  handlers(): ControlHandlers {
    const unary =
      <Req, Res>(method: Method, fn: (req: Req, who: Principal) => Res | Promise<Res>) =>
      (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
        let who: Principal;
        try {
          who = this.admit(method, call);
        } catch (err) {
          cb(toServiceError(err));
          return;
        }
        const failed = (err: unknown) => {
          if (!(err instanceof ZddError)) this.log.error({ err }, 'control request failed');
          this.audit(who, method, call.request, 'failed', errorMessage(err));
          cb(toServiceError(err));
        };
        const done = (res: Res) => {
          this.audit(who, method, call.request, 'ok', '');
          cb(null, res);
        };
        let res: Res | Promise<Res>;
        try {
          res = fn(call.request, who);
        } catch (err) {
          failed(err);
          return;
        }
        if (res instanceof Promise) res.then(done, failed);
        else done(res);
      };
    const trust = () => {
      if (!this.trust) throw new ZddError('INVALID_ARGUMENT', 'this coordinator serves plaintext (--plaintext): it has no fleet CA and no certificates', { hint: 'restart it without --plaintext' });
      return this.trust;
    };
    return {
      ApplyService: unary('ApplyService', (req) => {
        let raw: unknown;
        try {
          raw = JSON.parse(req.spec_json);
        } catch {
          throw new ZddError('INVALID_SPEC', 'the spec is not JSON');
        }
        const spec = validateSpec(raw);
        // the hosts it selects now would refuse its workdir: say so before storing it
        const selector = compileSpec(spec).selector;
        refuseWorkdirOutsideRoots(spec, 'VERSION', this.hub.fleet().filter((h) => h.connected && matchesSelector(h.labels, selector)));
        const { row, changed } = this.store.applyService(spec.name, JSON.stringify(spec), this.clock.now());
        this.log.info({ service: spec.name, revision: row.revision, changed }, changed ? 'service spec stored' : 'service spec unchanged');
        return { name: row.name, revision: row.revision, spec_json: row.specJson, live_version: row.liveVersion, changed };
      }),
      GetService: unary('GetService', (req) => {
        const row = this.store.getService(req.name);
        if (!row) throw new ZddError('UNKNOWN_SERVICE', `no service named "${req.name}"`, { hint: 'apply its spec first: zddctl apply -f SPEC' });
        return { name: row.name, revision: row.revision, spec_json: row.specJson, live_version: row.liveVersion, changed: false };
      }),
      ListAgents: unary('ListAgents', (req) => {
        const all = req.id ? [this.store.agent(req.id)].filter((a): a is AgentRow => !!a) : this.store.listAgents();
        const size = Math.min(req.page_size || DEFAULT_AGENTS, MAX_AGENTS);
        // by id, after the page token: a page is the same whatever joins or leaves before it
        let from = 0;
        if (req.page_token) {
          let lo = 0;
          let hi = all.length;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (all[mid].id <= req.page_token) lo = mid + 1;
            else hi = mid;
          }
          from = lo;
        }
        const rows = all.slice(from, from + size);
        const inPage = new Set(rows.map((a) => a.id));
        // which host each backend in traffic (or parked out of it) belongs to, and what the edges ejected
        const owner = new Map<string, string>();
        for (const svc of this.store.listServices()) for (const b of this.store.traffic(svc.name)?.backends ?? []) if (b.agentId) owner.set(`${svc.name} ${b.addr}`, b.agentId);
        const outOfPool = new Map<string, string[]>();
        for (const p of this.store.parked()) {
          if (!inPage.has(p.agentId)) continue;
          const b = JSON.parse(p.backendJson) as { addr: string };
          const list = outOfPool.get(p.agentId) ?? [];
          list.push(`${p.service} ${b.addr}: ${p.reason === 'gone' ? 'host gone' : 'drained'} since ${new Date(p.sinceMs).toISOString()}`);
          outOfPool.set(p.agentId, list);
        }
        const ejected = new Map<string, string[]>();
        for (const edge of this.hub.connectedEdges()) {
          for (const line of this.hub.session(edge)?.ejected ?? []) {
            const [service, addr, since] = line.split(' ');
            const host = owner.get(`${service} ${addr}`);
            if (!host) continue;
            const list = ejected.get(host) ?? [];
            list.push(`${service} ${addr} since ${since}`);
            ejected.set(host, list);
          }
        }
        return {
          agents: rows.map((a) => this.agentInfo(a, outOfPool.get(a.id) ?? [], ejected.get(a.id) ?? [])),
          next_page_token: from + size < all.length ? rows[rows.length - 1].id : '',
          total: all.length,
          connected: this.hub.connectedCount(),
        };
      }),
      Cordon: unary('Cordon', (req, who) => this.agentInfo(this.members().cordon(this.hostName(req), byWhom(who)))),
      Uncordon: unary('Uncordon', (req, who) => this.agentInfo(this.members().uncordon(this.hostName(req), byWhom(who)))),
      Drain: unary('Drain', (req, who) => this.agentInfo(this.members().drain(this.hostName(req), byWhom(who)))),
      RemoveAgent: unary('RemoveAgent', (req, who) => {
        this.members().remove(this.hostName(req), byWhom(who));
        return { name: req.name };
      }),
      ListEvents: unary('ListEvents', (req) => ({
        events: this.store.fleetEvents(req.agent_id, Math.min(1000, req.limit || 100)).map(eventMessage),
      })),
      Plan: unary('Plan', async (req) => {
        const { plan, params } = this.plan(req);
        const page = planPage(plan, this.store.traffic(req.service), req.plan_first_batch || 1, Math.min(req.plan_batches || 20, 200));
        // a release staged by the rollout itself (--artifact) need not be there yet
        const release = params.artifact ? undefined : await this.releaseOnHosts(plan);
        return { plan_json: JSON.stringify({ ...page, ...(release ? { release } : {}) }) };
      }),
      StartRollout: unary('StartRollout', (req: StartRolloutRequest__Output, who) => {
        const { plan, params, revision } = this.plan(req);
        const row = this.insert(
          {
            service: plan.service,
            revision,
            version: plan.version,
            fromVersion: plan.fromVersion,
            strategy: plan.strategy,
            createdBy: recordedAs(who),
            paramsJson: JSON.stringify({ ...params, edges: plan.edges, batches: plan.batches, notes: plan.notes, spec: JSON.parse(this.store.getService(plan.service)!.specJson) }),
          },
          plan.steps,
        );
        if (who !== PLAINTEXT_PRINCIPAL) this.store.addEvent({ rolloutId: row.id, atMs: this.clock.now(), level: 'info', agentId: '', message: `started by ${who.name}`, kind: 'plan' });
        for (const note of plan.notes) this.store.addEvent({ rolloutId: row.id, atMs: this.clock.now(), level: 'info', agentId: '', message: note, kind: 'plan' });
        this.log.info({ rolloutId: row.id, service: row.service, version: row.version, batches: plan.batches.length }, 'rollout planned');
        this.launch(row.id);
        return this.snapshot(row);
      }),
      GetRollout: unary('GetRollout', (req) => this.snapshot(this.find(req.id), req)),
      PauseRollout: unary('PauseRollout', (req, who) => this.snapshot(this.pauseRollout(req.id, who))),
      ResumeRollout: unary('ResumeRollout', (req, who) => this.snapshot(this.resumeRollout(req.id, who))),
      PromoteRollout: unary('PromoteRollout', (req, who) => this.snapshot(this.promote(req.id, who))),
      AbortRollout: unary('AbortRollout', (req, who) =>
        this.snapshot(this.requestReturn(this.find(req.id), 'aborted', `aborted by ${byWhom(who)}${req.reason ? `: ${req.reason}` : ''}`)),
      ),
      Rollback: unary('Rollback', (req, who) => this.snapshot(this.rollback(req.service, who))),
      ListRollouts: unary('ListRollouts', (req) => ({ rollouts: this.store.listRollouts(req.service || undefined, Math.min(req.limit || 20, 200)).map((r) => this.snapshot(r, { summary_only: true })) })),
      CreateJoinToken: unary('CreateJoinToken', (req, who) => {
        const t = trust();
        const { token, expiresMs } = t.createToken(who, req.kind as 'agent' | 'operator', req.name, req.role as Role | '', req.ttl_ms || 3_600_000);
        return { token, expires_at_ms: expiresMs, ca_sha256: t.caSha256 };
      }),
      RevokeAgent: unary('RevokeAgent', (req, who) => {
        trust();
        if (!req.name) throw new ZddError('INVALID_ARGUMENT', 'name the agent to revoke');
        const revoked = this.store.revokePrincipal('agent', req.name, this.clock.now());
        if (!revoked && !this.store.listAgents().some((a) => a.id === req.name)) throw new ZddError('NOT_FOUND', `no agent "${req.name}" holds a certificate`, { hint: 'zddctl agents lists them' });
        const disconnected = this.hub.disconnect(req.name, `the certificate of agent ${req.name} was revoked by ${who.label}`);
        this.log.warn({ agentId: req.name, by: who.label, revoked, disconnected }, 'agent revoked');
        return { revoked, disconnected };
      }),
      RevokeOperator: unary('RevokeOperator', (req, who) => {
        trust();
        if (!req.name) throw new ZddError('INVALID_ARGUMENT', 'name the operator to revoke');
        const revoked = this.store.revokePrincipal('operator', req.name, this.clock.now());
        if (!revoked) throw new ZddError('NOT_FOUND', `operator "${req.name}" holds no certificate that is not revoked already`);
        for (const end of [...(this.watchers.get(`operator/${req.name}`) ?? [])]) end();
        this.watchers.delete(`operator/${req.name}`);
        this.log.warn({ operator: req.name, by: who.label, revoked }, 'operator revoked');
        return { revoked, disconnected: false };
      }),
      ListCertificates: unary('ListCertificates', () => ({
        certificates: this.store.certificates().map((c) => ({
          fingerprint: c.fingerprint, kind: c.kind, name: c.name, role: c.role, issued_at_ms: c.issuedMs, not_after_ms: c.notAfterMs, revoked_at_ms: c.revokedMs,
        })),
      })),
      ListAudit: unary('ListAudit', (req) => ({
        entries: this.store.audit(Math.min(req.limit || 50, 1000)).map((a) => ({ at_ms: a.atMs, principal: a.principal, role: a.role, action: a.action, target: a.target, outcome: a.outcome, detail: a.detail })),
      })),
      WhoAmI: unary('WhoAmI', (_req, who) => ({ principal: who.label, role: who.role, not_after_ms: who.notAfterMs })),
      WatchRollout: (call) => {
        let row: RolloutRow;
        let who: Principal;
        try {
          who = this.admit('WatchRollout', call);
          row = this.find(call.request.id);
        } catch (err) {
          call.emit('error', toServiceError(err));
          return;
        }
        const id = row.id;
        let pending: NodeJS.Timeout | undefined;
        // the first message is a snapshot (a page, with the summary); each one after carries only
        // the steps that changed and the events that are new since the one before
        let first = true;
        let lastEvent = 0;
        let changedSteps = new Set<number>();
        const send = () => {
          try {
            update();
          } catch (err) {
            // the journal cannot be read (PostgreSQL gone): the watch ends with the reason, the client watches again
            stop();
            call.emit('error', toServiceError(err));
          }
        };
        const update = () => {
          pending = undefined;
          const cur = this.store.getRollout(id)!;
          if (first) {
            const snap = this.snapshot(cur);
            // the newest event: the snapshot holds the latest page of them
            lastEvent = this.store.latestEvents(id, 1)[0]?.id ?? 0;
            first = false;
            changedSteps.clear();
            call.write(snap);
          } else {
            const seqs = [...changedSteps].sort((a, b) => a - b);
            const now = seqs.slice(0, MAX_STEPS);
            changedSteps = new Set(seqs.slice(MAX_STEPS));
            const head = this.snapshot(cur, { summary_only: true });
            const events = this.store.eventsAfter(id, lastEvent, MAX_EVENTS);
            if (events.length) lastEvent = events[events.length - 1].id ?? lastEvent;
            call.write({ ...head, delta: true, steps: this.store.stepsBySeq(id, now).map(stepMessage), events: events.map(eventMessage) });
            if (changedSteps.size) pending = setTimeout(send, 50);
          }
          if ((AT_REST.has(cur.state) || this.pausedInMemory.has(id)) && !this.runs.has(id) && !changedSteps.size) finish();
        };
        // coalesce bursts of changes into one update per 50 ms
        const onChange = (changed: string, seq?: number) => {
          if (changed !== id) return;
          if (seq !== undefined) changedSteps.add(seq);
          if (!pending && !first) pending = setTimeout(send, 50);
        };
        const watching = this.watchers.get(who.label) ?? new Set();
        this.watchers.set(who.label, watching);
        const revoked = () => {
          stop();
          call.emit('error', toServiceError(new ZddError('UNAUTHENTICATED', `the certificate of ${who.label} was revoked`)));
        };
        watching.add(revoked);
        const stop = () => {
          this.changes.off('change', onChange);
          clearTimeout(pending);
          watching.delete(revoked);
          if (!watching.size) this.watchers.delete(who.label);
        };
        const finish = () => {
          stop();
          call.end();
        };
        this.changes.on('change', onChange);
        call.on('cancelled', stop);
        send();
      },
    };
  }

  /**
   * Asks each host that starts the new version whether its release is there (the spec's workdir
   * for it, or a staged release): the hosts that lack it, and those that could not say.
   */
  private async releaseOnHosts(plan: Plan): Promise<{ missing: { agentId: string; where: string }[]; unasked: string[] }> {
    const spec = JSON.parse(this.store.getService(plan.service)!.specJson);
    const hosts = [...new Set(plan.steps.filter((s) => s.kind === 'start').map((s) => s.agentId))];
    const missing: { agentId: string; where: string }[] = [];
    const unasked: string[] = [];
    const id = `${this.store.instanceId()}:plan/${crypto.randomUUID()}`;
    await pooled(hosts, 200, async (agentId) => {
      try {
        const r = await this.hub.call(agentId, 'check_release', { spec, version: plan.version }, `${id}/${agentId}`, { timeoutMs: 5000 });
        if ('present' in r && !r.present) missing.push({ agentId, where: r.where });
      } catch {
        unasked.push(agentId);
      }
    });
    return { missing: missing.sort((a, b) => (a.agentId < b.agentId ? -1 : 1)), unasked: unasked.sort() };
  }

  private find(id: string): RolloutRow {
    const row = id ? this.store.getRollout(id) : this.store.latestRollout();
    if (!row) throw new ZddError('NOT_FOUND', id ? `no rollout "${id}"` : 'no rollout yet', { hint: 'list them with zddctl history SERVICE' });
    return row;
  }
}
