// The planner is pure: (service spec, fleet state, parameters) in, a stored plan out. It decides
// batches, the slot each host swaps into, the steps and the traffic each batch will apply; the
// executor (coordinator/executor.ts) performs the steps.
import { ZddError } from '../lib/errors.js';
import { VERSION_PATTERN, compileSpec, type HookName, type ServiceSpec } from '../lib/spec.js';
import { otherSlot, type Slot } from '../lib/commands.js';
import { applyOps, primaryTrack, type Backend, type Move, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';
import type { Thresholds } from '../lib/analysis.js';
import { planned, type PlannedArgs, type StepArgsIn, type StepKind } from './steps.js';

export interface FleetHost {
  agentId: string;
  labels: Record<string, string>;
  advertise: string;
  portOffset: number;
  connected: boolean;
  edge: boolean;
  /** dynamic | reload, for edges */
  edgeMode?: string;
  /** CPU load (0..100) and cores from the agent's latest heartbeat */
  loadPct?: number;
  cores?: number;
}

export type BatchSize = { count: number } | { percent: number };

export type Strategy = 'rolling' | 'blue-green' | 'canary' | 'rollback';

export interface RolloutParams {
  version: string;
  strategy: Strategy;
  batch: BatchSize;
  pauseMs: number;
  failureLimit: number;
  /** canary: weight steps, increasing, ending at 100 */
  steps?: number[];
  /** canary: wait per step; undefined waits for `zddctl promote` */
  stepPauseMs?: number;
  /** canary: hosts that get canary instances */
  canaryHosts?: BatchSize;
  /** blue-green: how long the old colour stays warm after the switch */
  keepOldMs?: number;
  /** blue-green: how long the new colour is watched after the switch */
  bakeMs?: number;
  /** blue-green: start the new colour only on hosts with these labels */
  hosts?: Record<string, string>;
  /** analysis thresholds over the spec's */
  analysis?: Partial<Thresholds>;
  /** a release to stage on every host before the first batch */
  artifact?: { url: string; sha256: string };
  /** hosts that stage at the same time */
  stageConcurrency?: number;
  /** rolling: each batch leaves the pool, swaps, and comes back (one instance per host at a time) */
  inPlace?: boolean;
  /** in-place: batches shrink so that the hosts left in the pool stay under this CPU load (percent) */
  maxLoad?: number;
}

export interface HostPlan {
  agentId: string;
  newSlot: Slot;
  newAddr: string;
  oldSlot?: Slot;
  oldAddr?: string;
  oldVersion?: string;
}

/** A step of a plan: where it runs, and its kind and arguments (coordinator/steps.ts). */
export type PlannedStep = { seq: number; batch: number; phase: number; agentId: string } & PlannedArgs;

export interface Plan {
  service: string;
  version: string;
  fromVersion: string;
  strategy: Strategy;
  edges: string[];
  hosts: HostPlan[];
  batches: string[][];
  steps: PlannedStep[];
  /** the traffic each batch applies if every host succeeds (the nginx change, for `zddctl plan`) */
  traffic: TrafficDoc[];
  /** what the planner decided that the operator should know (a batch shrunk for load) */
  notes: string[];
  inPlace?: boolean;
}

/** "3" → 3 hosts a batch, "25%" → a quarter of the hosts (at least one). */
export function parseBatch(text: string | undefined): BatchSize {
  const t = (text ?? '').trim() || '1';
  let m = /^(\d+)$/.exec(t);
  if (m && Number(m[1]) >= 1) return { count: Number(m[1]) };
  m = /^(\d+)%$/.exec(t);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= 100) return { percent: Number(m[1]) };
  throw new ZddError('INVALID_ARGUMENT', `batch "${t}" is neither a host count (1, 2, …) nor a percentage (1% … 100%)`);
}

export function batchCount(size: BatchSize, hosts: number): number {
  return 'count' in size ? size.count : Math.max(1, Math.ceil((hosts * size.percent) / 100));
}

export function splitBatches<T>(items: T[], size: BatchSize): T[][] {
  const n = batchCount(size, items.length);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const addrOf = (h: Pick<FleetHost, 'advertise'>, port: number) => (h.advertise.includes(':') ? `[${h.advertise}]:${port}` : `${h.advertise}:${port}`);

/** The next traffic document of a rolling batch: each moved host's backend replaced by its new one. Pure. */
export function nextTraffic(prev: TrafficDoc | undefined, service: string, moves: Move[], generation: number): TrafficDoc {
  return applyOps(prev, service, [{ op: 'swap', moves }], generation);
}

export interface PlanInput {
  spec: ServiceSpec;
  liveVersion: string;
  fleet: FleetHost[];
  traffic: TrafficDoc | undefined;
  params: RolloutParams;
}

/** Steps in the making: seq and phase numbers are handed out in order. */
class StepList {
  readonly steps: PlannedStep[] = [];
  phase: number;
  constructor(private readonly firstSeq = 1, firstPhase = 0) {
    this.phase = firstPhase;
  }
  add<K extends StepKind>(batch: number, kind: K, agentId: string, args: StepArgsIn<K>, phase = this.phase) {
    this.steps.push({ seq: this.firstSeq + this.steps.length, batch, phase, agentId, ...planned(kind, args) });
  }
  /** every step added after this runs in a new phase */
  next(): number {
    return ++this.phase;
  }
}

/** "5,25,50,100" → [5, 25, 50, 100]; 100 is added at the end when missing. */
export function parseSteps(text: string | undefined): number[] {
  const t = (text ?? '').trim() || '10,50,100';
  const steps = t.split(',').map((x) => x.trim());
  const out: number[] = [];
  for (const x of steps) {
    if (!/^\d+$/.test(x) || Number(x) < 1 || Number(x) > 100) {
      throw new ZddError('INVALID_ARGUMENT', `canary step "${x}" is not a whole percentage from 1 to 100`, { hint: 'for example --steps 5,25,50,100' });
    }
    const n = Number(x);
    if (out.length && n <= out[out.length - 1]) {
      throw new ZddError('INVALID_ARGUMENT', `canary steps must increase: ${n} comes after ${out[out.length - 1]}`, { hint: 'for example --steps 5,25,50,100' });
    }
    out.push(n);
  }
  if (out[out.length - 1] !== 100) out.push(100);
  return out;
}

/** "role=web,zone=a" → { role: 'web', zone: 'a' } */
export function parseSelector(text: string | undefined): Record<string, string> | undefined {
  const t = (text ?? '').trim();
  if (!t) return undefined;
  const out: Record<string, string> = {};
  for (const kv of t.split(',')) {
    const m = /^([^=\s]+)=([^=\s]*)$/.exec(kv.trim());
    if (!m) throw new ZddError('INVALID_ARGUMENT', `"${kv}" is not a label selector; use key=value[,key=value]`);
    out[m[1]] = m[2];
  }
  return out;
}

/** A backend that is an instance zdd runs: on an agent, in a slot. */
export type HostBackend = Backend & { agentId: string; slot: Slot };
export const onHost = (b: Backend): b is HostBackend => !!b.agentId && (b.slot === 'a' || b.slot === 'b');

const backendOf = (h: HostPlan, track: string, version: string): Backend => ({ addr: h.newAddr, track, weight: 1, agentId: h.agentId, slot: h.newSlot, version });

/** A colour for blue/green: the other one than the live track's. */
export const otherColour = (live: string) => (live === 'blue' ? 'green' : 'blue');
export const CANARY_TRACK = 'canary';

export function planRollout(input: PlanInput): Plan {
  const { spec, params, traffic } = input;
  const compiled = compileSpec(spec);
  if (!VERSION_PATTERN.test(params.version)) {
    throw new ZddError('INVALID_ARGUMENT', `version "${params.version}" is not valid: use letters, digits, ".", "_", "+" or "-" (at most 128)`);
  }
  if (params.failureLimit < 0 || !Number.isInteger(params.failureLimit)) {
    throw new ZddError('INVALID_ARGUMENT', 'failure limit must be a whole number of hosts, 0 or more');
  }
  const connected = input.fleet.filter((h) => h.connected);
  const targets = connected.filter((h) => matchesSelector(h.labels, compiled.selector)).sort((a, b) => a.agentId.localeCompare(b.agentId));
  if (!targets.length) {
    const sel = Object.entries(compiled.selector).map(([k, v]) => `${k}=${v}`).join(',') || '(any)';
    throw new ZddError('NO_MATCHING_AGENTS', `no connected agent matches the hosts of ${spec.name} (selector ${sel})`, {
      hint: 'start agents with matching --labels, or check them with `zddctl agents`',
    });
  }
  const edges = (compiled.nginx.edges.length ? compiled.nginx.edges : connected.filter((h) => h.edge).map((h) => h.agentId)).slice().sort();
  if (!edges.length) {
    throw new ZddError('NO_MATCHING_AGENTS', `no edge agent is connected to drive nginx for ${spec.name}`, { hint: 'start one agent with --edge' });
  }
  for (const e of edges) {
    const h = connected.find((x) => x.agentId === e && x.edge);
    if (!h) throw new ZddError('NO_MATCHING_AGENTS', `edge agent "${e}" named in the spec is not connected as an edge`, { hint: 'check `zddctl agents`' });
  }
  if (params.strategy !== 'rolling' && !input.liveVersion) {
    throw new ZddError('INVALID_ARGUMENT', `${spec.name} has no live version yet: a ${params.strategy} rollout needs one to return to`, {
      hint: 'the first release of a service goes out with --strategy rolling',
    });
  }
  if (traffic?.split || traffic?.preview) {
    throw new ZddError('ROLLOUT_ACTIVE', `${spec.name} still has a canary or preview track in its traffic, left by a rollout that could not finish`, {
      hint: `zddctl rollback ${spec.name} returns it to its live version (${input.liveVersion || 'none'}) alone`,
    });
  }
  const primary = primaryTrack(traffic);
  const live = new Map<string, Backend>();
  for (const b of traffic?.backends ?? []) if (b.agentId && b.track === primary) live.set(b.agentId, b);
  const hosts: HostPlan[] = targets.map((h) => {
    const cur = live.get(h.agentId);
    const oldSlot = cur && onHost(cur) ? cur.slot : undefined;
    const newSlot = oldSlot ? otherSlot(oldSlot) : 'a';
    return {
      agentId: h.agentId,
      newSlot,
      newAddr: addrOf(h, compiled.ports[newSlot] + h.portOffset),
      ...(cur && oldSlot ? { oldSlot, oldAddr: cur.addr, oldVersion: cur.version } : {}),
    };
  });
  if (hosts.every((h) => h.oldVersion === params.version)) {
    throw new ZddError('ALREADY_LIVE', `${spec.name} ${params.version} is already live on every host`, {
      hint: 'roll out a different version',
    });
  }
  const base = { service: spec.name, version: params.version, fromVersion: input.liveVersion, strategy: params.strategy, edges, hosts, notes: [] as string[], ...(params.inPlace ? { inPlace: true } : {}) };
  const list = new StepList();
  for (const e of edges) list.add(0, 'configure_edge', e, { spec });
  const stagers = params.strategy === 'blue-green' && params.hosts ? hosts.filter((h) => matchesSelector(input.fleet.find((f) => f.agentId === h.agentId)!.labels, params.hosts!)) : hosts;
  if (params.artifact) {
    list.next();
    for (const h of stagers) {
      list.add(0, 'stage', h.agentId, {
        service: spec.name,
        version: params.version,
        url: params.artifact.url,
        sha256: params.artifact.sha256,
        keep: compiled.release.keep,
        ...(compiled.release.prepareArgv ? { prepare: { argv: [...compiled.release.prepareArgv], timeoutMs: compiled.release.prepareTimeoutMs } } : {}),
        env: { ...compiled.env },
      });
    }
  }
  const hook = hookSteps(spec, list, params.version, input.liveVersion);
  hook(0, 'pre', stagers.slice(0, 1));
  if (params.strategy === 'blue-green') return { ...base, ...planBlueGreen(input, hosts, edges, list) };
  if (params.strategy === 'canary') return { ...base, ...planCanary(input, hosts, edges, list) };
  if (params.strategy !== 'rolling') throw new ZddError('INVALID_ARGUMENT', `unknown strategy "${params.strategy}": use rolling, blue-green or canary`);

  const batches = params.inPlace ? loadAwareBatches(input, hosts, base.notes) : splitBatches(hosts, params.batch);
  const previews: TrafficDoc[] = [];
  let doc = traffic;
  const gen0 = traffic?.generation ?? 0;
  const retire = (b: number, batch: HostPlan[]) => {
    const old = batch.filter((h): h is HostPlan & Required<Pick<HostPlan, 'oldSlot' | 'oldAddr'>> => !!h.oldSlot && !!h.oldAddr);
    if (!old.length) return;
    list.next();
    for (const e of edges) list.add(b, 'drain', e, { service: spec.name, hosts: old.map((h) => ({ agentId: h.agentId, addr: h.oldAddr })), timeoutMs: compiled.stop.drainTimeoutMs });
    list.next();
    for (const h of old) list.add(b, 'stop', h.agentId, { service: spec.name, slot: h.oldSlot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs });
    hook(b, 'afterStop', old);
  };
  const traffic1 = (b: number, ops: TrafficOp[]) => {
    doc = applyOps(doc, spec.name, ops, (doc?.generation ?? gen0) + 1);
    previews.push(doc);
    list.next();
    for (const e of edges) list.add(b, 'traffic', e, { service: spec.name, ops });
  };
  batches.forEach((batch, i) => {
    const b = i + 1;
    const moves = batch.map((h) => ({ agentId: h.agentId, backend: backendOf(h, primary, params.version) }));
    if (params.inPlace && batch.some((h) => h.oldAddr)) {
      // the batch leaves the pool, swaps with one instance at a time, and comes back
      hook(b, 'beforeDrain', batch.filter((h) => h.oldAddr));
      traffic1(b, [{ op: 'remove', agentIds: batch.filter((h) => h.oldAddr).map((h) => h.agentId) }]);
      retire(b, batch);
      startSteps(spec, list, hook, b, batch, params.version);
      traffic1(b, [{ op: 'add', backends: moves.map((m) => m.backend) }]);
    } else {
      startSteps(spec, list, hook, b, batch, params.version);
      hook(b, 'beforeDrain', batch.filter((h) => h.oldAddr));
      traffic1(b, [{ op: 'swap', moves }]);
      retire(b, batch);
    }
    if (params.pauseMs > 0 && i < batches.length - 1) {
      list.next();
      list.add(b, 'pause', '', { ms: params.pauseMs });
    }
  });
  hook(batches.length, 'post', hosts.slice(0, 1));
  list.next();
  list.add(batches.length, 'finalize', '', {});
  return { ...base, batches: batches.map((b) => b.map((h) => h.agentId)), steps: list.steps, traffic: previews };
}

type HookAdder = (batch: number, name: HookName, hosts: Pick<HostPlan, 'agentId' | 'newSlot' | 'newAddr' | 'oldSlot' | 'oldAddr' | 'oldVersion'>[]) => void;

/** Adds a phase running one of the spec's hooks on each given host (nothing when the spec has no such hook). */
function hookSteps(spec: ServiceSpec, list: StepList, version: string, liveVersion: string): HookAdder {
  const compiled = compileSpec(spec);
  return (batch, name, hosts) => {
    const h = compiled.hooks[name];
    if (!h || !hosts.length) return;
    list.next();
    const perHost = name !== 'pre' && name !== 'post';
    for (const x of hosts) {
      const old = name === 'beforeDrain' || name === 'afterStop';
      const slot = old ? x.oldSlot : x.newSlot;
      const addr = old ? x.oldAddr : x.newAddr;
      list.add(batch, 'hook', x.agentId, {
        service: spec.name,
        hook: name,
        version,
        argv: [...h.argv],
        timeoutMs: h.timeoutMs,
        ...(compiled.workdir ? { workdir: compiled.workdir } : {}),
        // per host: the slot and PORT of the instance the hook is about (the new one, or the old one for beforeDrain and afterStop)
        env: {
          ...compiled.env,
          ZDD_OLD_VERSION: (perHost ? x.oldVersion : liveVersion) ?? '',
          ...(perHost && slot ? { ZDD_SLOT: slot } : {}),
          ...(perHost && addr ? { PORT: addr.slice(addr.lastIndexOf(':') + 1) } : {}),
        },
      });
    }
  };
}

/** beforeStart hooks, the start of the new version, afterHealthy hooks. */
function startSteps(spec: ServiceSpec, list: StepList, hook: HookAdder, batch: number, hosts: HostPlan[], version: string) {
  hook(batch, 'beforeStart', hosts);
  list.next();
  for (const h of hosts) list.add(batch, 'start', h.agentId, { spec, version, slot: h.newSlot });
  hook(batch, 'afterHealthy', hosts);
}

/**
 * In-place batches: as large as --batch, but shrunk so that the hosts left in the pool, carrying
 * the whole load (busy cores summed over the fleet), stay at or under --max-load. Hosts without a
 * load report count as idle. Planned from the heartbeats at plan time.
 */
export function loadAwareBatches(input: PlanInput, hosts: HostPlan[], notes: string[]): HostPlan[][] {
  const { params } = input;
  const facts = new Map(input.fleet.map((f) => [f.agentId, { cores: f.cores || 1, busy: ((f.loadPct ?? 0) / 100) * (f.cores || 1) }]));
  const busy = hosts.reduce((n, h) => n + facts.get(h.agentId)!.busy, 0);
  const want = batchCount(params.batch, hosts.length);
  if (hosts.length < 2 && hosts.some((h) => h.oldAddr)) {
    throw new ZddError('INVALID_ARGUMENT', `an in-place rollout takes hosts out of the pool, and ${input.spec.name} has only one`, {
      hint: 'roll it out without --in-place (the new instance starts beside the old one)',
    });
  }
  // a first release takes nothing out of the pool
  if (!hosts.some((h) => h.oldAddr)) return splitBatches(hosts, params.batch);
  const out: HostPlan[][] = [];
  for (let i = 0; i < hosts.length; ) {
    let n = Math.max(1, Math.min(want, hosts.length - i, hosts.length - 1));
    const projected = (k: number) => {
      const left = hosts.filter((_, j) => j < i || j >= i + k);
      const cores = left.reduce((c, h) => c + facts.get(h.agentId)!.cores, 0);
      return (100 * busy) / cores;
    };
    while (n > 1 && params.maxLoad !== undefined && projected(n) > params.maxLoad) n--;
    if (params.maxLoad !== undefined && projected(n) > params.maxLoad) {
      throw new ZddError('INVALID_ARGUMENT', `taking even one host out would load the others to ${Math.round(projected(n))}% (--max-load ${params.maxLoad}%)`, {
        hint: 'add capacity, raise --max-load, or roll out without --in-place',
      });
    }
    if (n < Math.min(want, hosts.length - i)) {
      notes.push(`batch ${out.length + 1}: ${n} host(s) instead of ${Math.min(want, hosts.length - i)}, so the hosts left in the pool stay at ${Math.round(projected(n))}% CPU (max ${params.maxLoad}%)`);
    }
    out.push(hosts.slice(i, i + n));
    i += n;
  }
  return out;
}

type Built = Pick<Plan, 'batches' | 'steps' | 'traffic'>;

function thresholdsOf(input: PlanInput): Thresholds {
  const a = compileSpec(input.spec).analysis;
  const t = { maxErrorRate: a.maxErrorRate, maxErrorRateDelta: a.maxErrorRateDelta, maxP95Ratio: a.maxP95Ratio, minRequests: a.minRequests, ...input.params.analysis };
  if (!(t.maxErrorRate >= 0 && t.maxErrorRate <= 1) || !(t.maxErrorRateDelta >= 0 && t.maxErrorRateDelta <= 1)) {
    throw new ZddError('INVALID_ARGUMENT', 'error-rate thresholds are fractions from 0 to 1 (0.01 is 1%)');
  }
  if (!(t.maxP95Ratio >= 1) || !(Number.isInteger(t.minRequests) && t.minRequests >= 1)) {
    throw new ZddError('INVALID_ARGUMENT', 'the p95 ratio must be at least 1 and the minimum request count a whole number of at least 1');
  }
  return t;
}

/** The hosts running the old track's instances, for their hooks. */
const oldHosts = (hosts: HostPlan[], old: Backend[]) => hosts.filter((h) => old.some((b) => b.agentId === h.agentId && b.slot === h.oldSlot));

/** The old instances of the live track: drained and stopped once nothing routes to them. */
function retireOld(spec: ServiceSpec, list: StepList, edges: string[], batch: number, old: Backend[]) {
  const compiled = compileSpec(spec);
  const withHost = old.filter(onHost);
  if (!withHost.length) return;
  list.next();
  for (const e of edges) list.add(batch, 'drain', e, { service: spec.name, hosts: withHost.map((b) => ({ agentId: b.agentId, addr: b.addr })), timeoutMs: compiled.stop.drainTimeoutMs });
  list.next();
  for (const b of withHost) {
    list.add(batch, 'stop', b.agentId, { service: spec.name, slot: b.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs });
  }
}

/** A traffic change on every edge; `docs` collects the documents it will produce, for `zddctl plan`. */
function trafficPhase(spec: ServiceSpec, before: TrafficDoc | undefined, list: StepList, edges: string[], batch: number, ops: TrafficOp[], docs: TrafficDoc[]) {
  list.next();
  for (const e of edges) list.add(batch, 'traffic', e, { service: spec.name, ops });
  const prev = docs[docs.length - 1] ?? before;
  docs.push(applyOps(prev, spec.name, ops, (prev?.generation ?? 0) + 1));
}

function planBlueGreen(input: PlanInput, hosts: HostPlan[], edges: string[], list: StepList): Built {
  const { spec, params, traffic } = input;
  const compiled = compileSpec(spec);
  const primary = primaryTrack(traffic);
  const colour = otherColour(primary);
  const group = params.hosts ? hosts.filter((h) => matchesSelector(input.fleet.find((f) => f.agentId === h.agentId)!.labels, params.hosts!)) : hosts;
  if (!group.length) {
    throw new ZddError('NO_MATCHING_AGENTS', `no target host of ${spec.name} has the labels ${Object.entries(params.hosts!).map(([k, v]) => `${k}=${v}`).join(',')}`, {
      hint: 'check the labels with `zddctl agents`',
    });
  }
  const old = (traffic?.backends ?? []).filter((b) => b.track === primary);
  if (!old.length) {
    throw new ZddError('INVALID_ARGUMENT', `${spec.name} has no live colour to switch from`, { hint: 'the first release of a service goes out with --strategy rolling' });
  }
  const verify = compiled.verify.checks.length > 0 || !!compiled.verify.argv;
  if (verify && !compiled.nginx.preview) {
    throw new ZddError('INVALID_SPEC', `${spec.name}'s spec asks for verification, which runs against the preview listener, but sets no nginx.preview`, {
      hint: 'add nginx.preview (an address:port of its own) to the spec and apply it again',
    });
  }
  const docs: TrafficDoc[] = [];
  // the new colour starts in groups of --batch hosts (all at once by default)
  const hook = hookSteps(spec, list, params.version, input.liveVersion);
  for (const part of splitBatches(group, params.batch)) startSteps(spec, list, hook, 1, part, params.version);
  // the new colour joins the traffic document, served only by the preview listener (and to clients that ask for it)
  trafficPhase(input.spec, input.traffic, list, edges, 1, [{ op: 'add', backends: group.map((h) => backendOf(h, colour, params.version)) }, { op: 'route', preview: colour }], docs);
  if (verify) {
    list.next();
    list.add(1, 'verify', edges[0], { service: spec.name, checks: [...compiled.verify.checks], argv: compiled.verify.argv && [...compiled.verify.argv], timeoutMs: compiled.verify.timeoutMs });
  }
  // the switch: one generation
  trafficPhase(input.spec, input.traffic, list, edges, 1, [{ op: 'route', primary: colour, preview: null }], docs);
  if (params.bakeMs && params.bakeMs > 0) {
    list.next();
    list.add(1, 'analyze', '', { mode: 'bake', track: colour, against: primary, waitMs: params.bakeMs, thresholds: thresholdsOf(input), intervalMs: compiled.analysis.intervalMs, maxWaitMs: compiled.analysis.maxWaitMs });
  }
  if (params.keepOldMs && params.keepOldMs > 0 && old.length) {
    list.next();
    list.add(1, 'window', '', { ms: params.keepOldMs, track: primary });
  }
  hook(1, 'beforeDrain', oldHosts(hosts, old));
  if (old.length) trafficPhase(input.spec, input.traffic, list, edges, 1, [{ op: 'drop', track: primary }], docs);
  retireOld(input.spec, list, edges, 1, old);
  hook(1, 'afterStop', oldHosts(hosts, old));
  hook(1, 'post', group.slice(0, 1));
  list.next();
  list.add(1, 'finalize', '', {});
  return { batches: [group.map((h) => h.agentId)], steps: list.steps, traffic: docs };
}

function planCanary(input: PlanInput, hosts: HostPlan[], edges: string[], list: StepList): Built {
  const { spec, params, traffic } = input;
  const compiled = compileSpec(spec);
  const primary = primaryTrack(traffic);
  const steps = params.steps ?? [10, 50, 100];
  if (!steps.length || steps.some((p, i) => !Number.isInteger(p) || p < 1 || p > 100 || (i > 0 && p <= steps[i - 1])) || steps[steps.length - 1] !== 100) {
    throw new ZddError('INVALID_ARGUMENT', `canary steps ${steps.join(',')} must increase within 1..100 and end at 100`);
  }
  const size = params.canaryHosts ?? { count: 1 };
  const n = batchCount(size, hosts.length);
  if ('count' in size && size.count > hosts.length) {
    throw new ZddError('INVALID_ARGUMENT', `a canary on ${size.count} hosts does not fit: ${spec.name} has ${hosts.length} target host(s)`, {
      hint: `use --canary-hosts ${hosts.length} or fewer, or a percentage`,
    });
  }
  const canaries = hosts.slice(0, n);
  const rest = hosts.slice(n);
  const old = (traffic?.backends ?? []).filter((b) => b.track === primary);
  if (!old.length) {
    throw new ZddError('INVALID_ARGUMENT', `${spec.name} has no live version to compare a canary with`, { hint: 'the first release of a service goes out with --strategy rolling' });
  }
  const docs: TrafficDoc[] = [];
  const thresholds = thresholdsOf(input);
  const hook = hookSteps(spec, list, params.version, input.liveVersion);
  startSteps(spec, list, hook, 1, canaries, params.version);
  // weight 0: the canary is reachable only by the header or cookie that forces its track
  trafficPhase(input.spec, input.traffic, list, edges, 1, [{ op: 'add', backends: canaries.map((h) => backendOf(h, CANARY_TRACK, params.version)) }, { op: 'route', split: { track: CANARY_TRACK, percent: 0 } }], docs);
  if (params.stepPauseMs === undefined) {
    // manual: the canary waits dark first, reachable by the header or cookie, until promoted
    list.next();
    list.add(1, 'analyze', '', { mode: 'canary', percent: 0, track: CANARY_TRACK, against: primary, waitMs: -1, thresholds, intervalMs: compiled.analysis.intervalMs, maxWaitMs: compiled.analysis.maxWaitMs });
  }
  steps.forEach((p, i) => {
    const step = i + 1;
    if (p === 100 && rest.length) {
      // full weight: the new version on every host first, so the canary hosts do not carry it all
      for (const part of splitBatches(rest, params.batch)) startSteps(spec, list, hook, step, part, params.version);
      trafficPhase(input.spec, input.traffic, list, edges, step, [{ op: 'add', backends: rest.map((h) => backendOf(h, CANARY_TRACK, params.version)) }, { op: 'route', split: { track: CANARY_TRACK, percent: 100 } }], docs);
    } else {
      trafficPhase(input.spec, input.traffic, list, edges, step, [{ op: 'route', split: { track: CANARY_TRACK, percent: p } }], docs);
    }
    list.next();
    list.add(step, 'analyze', '', {
      mode: 'canary',
      percent: p,
      track: CANARY_TRACK,
      against: primary,
      waitMs: params.stepPauseMs ?? -1,
      thresholds,
      intervalMs: compiled.analysis.intervalMs, maxWaitMs: compiled.analysis.maxWaitMs,
    });
  });
  // promotion: the canary track becomes the live one, the old instances leave
  const last = steps.length;
  hook(last, 'beforeDrain', oldHosts(hosts, old));
  trafficPhase(input.spec, input.traffic, list, edges, last, [{ op: 'drop', track: primary }, { op: 'retrack', from: CANARY_TRACK, to: primary }, { op: 'route', split: null }], docs);
  retireOld(input.spec, list, edges, last, old);
  hook(last, 'afterStop', oldHosts(hosts, old));
  hook(last, 'post', hosts.slice(0, 1));
  list.next();
  list.add(last, 'finalize', '', {});
  return { batches: [canaries.map((h) => h.agentId), rest.map((h) => h.agentId)].filter((b) => b.length), steps: list.steps, traffic: docs };
}

export interface RollbackInput {
  spec: ServiceSpec;
  traffic: TrafficDoc | undefined;
  /** the version to return to */
  target: string;
  edges: string[];
  batch: BatchSize;
  /** instances started by an interrupted rollout that take no traffic: stopped */
  strays: { agentId: string; slot: Slot }[];
  /** in-place: hosts the rollout took out of the pool, as they were: started again with the target and put back */
  restore?: Backend[];
  firstSeq: number;
  firstPhase: number;
  firstBatch: number;
}

/**
 * The steps that return a service to `target`: one traffic change that keeps only the track
 * running the target (a warm old colour, or the stable track under a canary), the drain and stop
 * of everything else, then a rolling swap back of any host whose live instance runs another
 * version. Used by `zddctl rollback`, `zddctl abort` and automatic rollbacks. Pure.
 */
export function planRollbackSteps(input: RollbackInput): PlannedStep[] {
  const { spec, traffic, target } = input;
  const compiled = compileSpec(spec);
  const list = new StepList(input.firstSeq, input.firstPhase - 1);
  const batchNo = input.firstBatch;
  const backends = traffic?.backends ?? [];
  const primary = primaryTrack(traffic);
  const tracks = [...new Set(backends.map((b) => b.track))];
  const runsTarget = (t: string) => backends.some((b) => b.track === t) && backends.filter((b) => b.track === t).every((b) => b.version === target);
  const keep = runsTarget(primary) ? primary : (tracks.find((t) => t !== primary && runsTarget(t)) ?? primary);
  const dropped = backends.filter((b) => b.track !== keep);
  const kept = backends.filter((b) => b.track === keep);
  const ops: TrafficOp[] = [{ op: 'route', primary: keep, preview: null, split: null }, ...tracks.filter((t) => t !== keep).map((t) => ({ op: 'drop' as const, track: t }))];
  const docs: TrafficDoc[] = [];
  if (keep !== primary || dropped.length || traffic?.split || traffic?.preview) {
    trafficPhase(spec, traffic, list, input.edges, batchNo, ops, docs);
  }
  // stop what leaves the traffic, and instances that never entered it; never an instance still kept
  const keptSlots = new Set(kept.map((b) => `${b.agentId}/${b.slot}`));
  const leaving = dropped.filter((b) => !keptSlots.has(`${b.agentId}/${b.slot}`));
  retireOld(spec, list, input.edges, batchNo, leaving);
  const stopped = new Set(leaving.map((b) => `${b.agentId}/${b.slot}`));
  const strays = input.strays.filter((x) => !keptSlots.has(`${x.agentId}/${x.slot}`) && !stopped.has(`${x.agentId}/${x.slot}`));
  if (strays.length) {
    list.next();
    for (const x of strays) list.add(batchNo, 'stop', x.agentId, { service: spec.name, slot: x.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs });
  }
  // in place: hosts out of the pool get the target version back in their old slot, and rejoin
  const restore = (input.restore ?? []).filter(onHost).filter((b) => !kept.some((k) => k.agentId === b.agentId));
  if (restore.length) {
    list.next();
    for (const b of restore) list.add(batchNo, 'start', b.agentId, { spec, version: target, slot: b.slot });
    trafficPhase(spec, traffic, list, input.edges, batchNo, [{ op: 'add', backends: restore.map((b) => ({ ...b, track: keep, version: target })) }], docs);
  }
  // hosts whose kept instance runs another version: swapped back, batch by batch
  const back = kept.filter(onHost).filter((b) => b.version !== target);
  splitBatches(back, input.batch).forEach((batch, i) => {
    const b = batchNo + 1 + i;
    const moves: Move[] = batch.map((x) => {
      const slot = x.slot;
      const other = otherSlot(slot);
      const port = Number(x.addr.slice(x.addr.lastIndexOf(':') + 1));
      const host = x.addr.slice(0, x.addr.lastIndexOf(':'));
      const addr = `${host}:${port - compiled.ports[slot] + compiled.ports[other]}`;
      return { agentId: x.agentId, backend: { addr, track: keep, weight: 1, agentId: x.agentId, slot: other, version: target } };
    });
    list.next();
    for (const x of batch) list.add(b, 'start', x.agentId, { spec, version: target, slot: otherSlot(x.slot) });
    list.next();
    for (const e of input.edges) list.add(b, 'traffic', e, { service: spec.name, ops: [{ op: 'swap', moves }] });
    list.next();
    for (const e of input.edges) list.add(b, 'drain', e, { service: spec.name, hosts: batch.map((x) => ({ agentId: x.agentId, addr: x.addr })), timeoutMs: compiled.stop.drainTimeoutMs });
    list.next();
    for (const x of batch) list.add(b, 'stop', x.agentId, { service: spec.name, slot: x.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs });
  });
  list.next();
  list.add(batchNo, 'finalize', '', { version: target });
  return list.steps;
}
