// The planner is pure: (service spec, fleet state, parameters) in, a stored plan out. It decides
// batches, the slot each host swaps into, the steps and the traffic each batch will apply; the
// executor (coordinator/executor.ts) performs the steps.
import { ZddError } from '../lib/errors.js';
import { VERSION_PATTERN, compileSpec, type ServiceSpec } from '../lib/spec.js';
import { otherSlot, type Slot } from '../lib/commands.js';
import type { Backend, TrafficDoc } from '../lib/traffic.js';

export interface FleetHost {
  agentId: string;
  labels: Record<string, string>;
  advertise: string;
  portOffset: number;
  connected: boolean;
  edge: boolean;
}

export type BatchSize = { count: number } | { percent: number };

export interface RolloutParams {
  version: string;
  strategy: 'rolling';
  batch: BatchSize;
  pauseMs: number;
  failureLimit: number;
}

export interface HostPlan {
  agentId: string;
  newSlot: Slot;
  newAddr: string;
  oldSlot?: Slot;
  oldAddr?: string;
  oldVersion?: string;
}

export type StepKind = 'configure_edge' | 'start' | 'traffic' | 'drain' | 'stop' | 'pause' | 'finalize';

export interface PlannedStep {
  seq: number;
  batch: number;
  phase: number;
  kind: StepKind;
  agentId: string;
  args: Record<string, unknown>;
}

export interface Plan {
  service: string;
  version: string;
  fromVersion: string;
  strategy: 'rolling';
  edges: string[];
  hosts: HostPlan[];
  batches: string[][];
  steps: PlannedStep[];
  /** the traffic each batch applies if every host succeeds (the nginx change, for `zddctl plan`) */
  traffic: TrafficDoc[];
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

export interface Move {
  agentId: string;
  backend: Backend;
}

/** The next traffic document: each moved host's backends replaced by its new one. Pure. */
export function nextTraffic(prev: TrafficDoc | undefined, service: string, moves: Move[], generation: number): TrafficDoc {
  const moved = new Set(moves.map((m) => m.agentId));
  const kept = (prev?.backends ?? []).filter((b) => !b.agentId || !moved.has(b.agentId));
  const backends = [...kept, ...moves.map((m) => m.backend)].sort((a, b) => (a.agentId ?? a.addr).localeCompare(b.agentId ?? b.addr));
  return { service, generation, backends };
}

export interface PlanInput {
  spec: ServiceSpec;
  liveVersion: string;
  fleet: FleetHost[];
  traffic: TrafficDoc | undefined;
  params: RolloutParams;
}

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
    if (!connected.some((h) => h.agentId === e && h.edge)) {
      throw new ZddError('NO_MATCHING_AGENTS', `edge agent "${e}" named in the spec is not connected as an edge`, { hint: 'check `zddctl agents`' });
    }
  }
  const live = new Map<string, Backend>();
  for (const b of traffic?.backends ?? []) if (b.agentId) live.set(b.agentId, b);
  const hosts: HostPlan[] = targets.map((h) => {
    const cur = live.get(h.agentId);
    const oldSlot = cur?.slot === 'a' || cur?.slot === 'b' ? (cur.slot as Slot) : undefined;
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
  const batches = splitBatches(hosts, params.batch);
  const steps: PlannedStep[] = [];
  const add = (batch: number, phase: number, kind: StepKind, agentId: string, args: Record<string, unknown>) =>
    steps.push({ seq: steps.length + 1, batch, phase, kind, agentId, args });
  for (const e of edges) add(0, 0, 'configure_edge', e, { spec });
  const previews: TrafficDoc[] = [];
  let doc = traffic;
  const gen0 = traffic?.generation ?? 0;
  batches.forEach((batch, i) => {
    const b = i + 1;
    const base = 1 + i * 5;
    for (const h of batch) add(b, base, 'start', h.agentId, { spec, version: params.version, slot: h.newSlot });
    const moves = batch.map((h) => ({ agentId: h.agentId, backend: { addr: h.newAddr, track: 'stable', weight: 1, agentId: h.agentId, slot: h.newSlot, version: params.version } }));
    doc = nextTraffic(doc, spec.name, moves, gen0 + b);
    previews.push(doc);
    for (const e of edges) add(b, base + 1, 'traffic', e, { service: spec.name, moves });
    const draining = batch.filter((h) => h.oldAddr).map((h) => ({ agentId: h.agentId, addr: h.oldAddr! }));
    if (draining.length) {
      for (const e of edges) add(b, base + 2, 'drain', e, { service: spec.name, hosts: draining, timeoutMs: compiled.stop.drainTimeoutMs });
      for (const h of batch.filter((x) => x.oldSlot)) {
        add(b, base + 3, 'stop', h.agentId, { service: spec.name, slot: h.oldSlot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs });
      }
    }
    if (params.pauseMs > 0 && i < batches.length - 1) add(b, base + 4, 'pause', '', { ms: params.pauseMs });
  });
  add(batches.length, 1 + batches.length * 5, 'finalize', '', {});
  return {
    service: spec.name,
    version: params.version,
    fromVersion: input.liveVersion,
    strategy: params.strategy,
    edges,
    hosts,
    batches: batches.map((b) => b.map((h) => h.agentId)),
    steps,
    traffic: previews,
  };
}
