// The planner is pure: (service spec, fleet state, parameters) in, a stored plan out. It decides
// batches, the slot each host swaps into, the steps and the traffic each batch will apply; the
// executor (coordinator/executor.ts) performs the steps.
import { ZddError } from '../lib/errors.js';
import path from 'node:path';
import { VERSION_PATTERN, compileSpec, expandTemplate, type ServiceSpec } from '../lib/spec.js';
import { otherSlot, type Slot } from '../lib/commands.js';
import { applyOps, primaryTrack, type Backend, type Move, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';
import type { Thresholds } from '../lib/analysis.js';
import type { PlannedArgs } from './steps.js';
import { hookSteps, matchesSelector, onHost, StepList } from './strategies/kit.js';
import { strategyNamed } from './strategies/index.js';

// what the strategies' building blocks are imported as elsewhere
export { parseBatch, batchCount, splitBatches, matchesSelector, parseSteps, parseSelector, onHost, otherColour, CANARY_TRACK, type HostBackend } from './strategies/kit.js';
export { loadAwareBatches } from './strategies/in-place.js';
export { planRollbackSteps, type RollbackInput } from './strategies/rollback.js';

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
  /** where the agent lets apps and hooks run (--releases-root); unknown for plaintext agents of old */
  releasesRoots?: string[];
  /** an operator cordoned it (zddctl cordon / drain): new rollouts leave it alone */
  cordoned?: boolean;
}

export type BatchSize = { count: number } | { percent: number };

/** a registered strategy's name (strategies/index.ts), or 'rollback' for a return */
export type Strategy = string;

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
  /** a registered strategy's own parameters, for strategies without fields of their own here */
  extra?: Record<string, unknown>;
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
  /** each traffic phase's operations, in order (the nginx change of each batch) */
  trafficOps: TrafficOp[][];
  /**
   * The document each traffic phase applies if every host succeeds, for `zddctl plan`: worked
   * out when read (and kept), never while planning, so a plan of 10,000 one-host batches holds
   * no 10,000 documents. Not enumerable: a plan serialised carries the operations instead.
   */
  readonly traffic: TrafficDoc[];
  /** what the planner decided that the operator should know (a batch shrunk for load) */
  notes: string[];
  inPlace?: boolean;
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

/**
 * A spec whose workdir lies outside a host's release roots is refused before anything is
 * journalled. The agent checks again with symlinks resolved; a relative workdir only it can judge.
 */
export function refuseWorkdirOutsideRoots(spec: ServiceSpec, version: string, targets: FleetHost[]) {
  if (!spec.workdir || spec.workdir.includes('{release}') || !spec.workdir.startsWith('/')) return;
  const dir = path.posix.resolve(expandTemplate(spec.workdir, { version, service: spec.name }));
  for (const h of targets) {
    const roots = h.releasesRoots;
    if (!roots?.length || roots.some((r) => dir === r || dir.startsWith(r.endsWith('/') ? r : `${r}/`))) continue;
    throw new ZddError('INVALID_ARGUMENT', `workdir ${dir} of ${spec.name} is outside the release roots of ${h.agentId} (${roots.join(', ')}): its agent would refuse to run there`, {
      hint: "put the release under the agent's --releases-root, stage it with --artifact (workdir {release}), or start the agent with another --releases-root",
    });
  }
}

/**
 * Two hosts that would serve at one address (agents on one machine whose port offsets overlap)
 * would stop each other's instances: the plan is refused, naming both.
 */
export function refuseSharedAddresses(service: string, hosts: HostPlan[], traffic: TrafficDoc | undefined) {
  const seen = new Map<string, string>();
  for (const b of traffic?.backends ?? []) if (b.agentId) seen.set(b.addr, b.agentId);
  for (const h of hosts) {
    for (const addr of [h.newAddr, h.oldAddr]) {
      if (!addr) continue;
      const other = seen.get(addr);
      if (other && other !== h.agentId) {
        throw new ZddError('PORT_IN_USE', `${service}: hosts ${other} and ${h.agentId} would both serve at ${addr}; their agents share an address and their port offsets overlap`, {
          hint: `give one of them another --port-offset (or --advertise address); nothing was planned`,
        });
      }
      seen.set(addr, h.agentId);
    }
  }
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
  const matching = connected.filter((h) => matchesSelector(h.labels, compiled.selector)).sort((a, b) => a.agentId.localeCompare(b.agentId));
  // cordoned hosts (zddctl cordon / drain) are left alone: they keep what they run
  const cordoned = matching.filter((h) => h.cordoned).map((h) => h.agentId);
  const targets = matching.filter((h) => !h.cordoned);
  if (!targets.length) {
    const sel = Object.entries(compiled.selector).map(([k, v]) => `${k}=${v}`).join(',') || '(any)';
    throw new ZddError('NO_MATCHING_AGENTS', `no connected agent matches the hosts of ${spec.name} (selector ${sel})`, {
      hint: 'start agents with matching --labels, or check them with `zddctl agents`',
    });
  }
  refuseWorkdirOutsideRoots(spec, params.version, targets);
  const edges = (compiled.nginx.edges.length ? compiled.nginx.edges : connected.filter((h) => h.edge).map((h) => h.agentId)).slice().sort();
  if (!edges.length) {
    throw new ZddError('NO_MATCHING_AGENTS', `no edge agent is connected to drive nginx for ${spec.name}`, { hint: 'start one agent with --edge' });
  }
  for (const e of edges) {
    const h = connected.find((x) => x.agentId === e && x.edge);
    if (!h) throw new ZddError('NO_MATCHING_AGENTS', `edge agent "${e}" named in the spec is not connected as an edge`, { hint: 'check `zddctl agents`' });
  }
  const strategy = strategyNamed(params.strategy);
  if (strategy.needsLiveVersion && !input.liveVersion) {
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
  refuseSharedAddresses(spec.name, hosts, traffic);
  const notes = cordoned.length ? [`left out (cordoned): ${cordoned.join(', ')}; they keep the version they run`] : [];
  const base = { service: spec.name, version: params.version, fromVersion: input.liveVersion, strategy: params.strategy, edges, hosts, notes, ...(params.inPlace ? { inPlace: true } : {}) };
  const list = new StepList();
  for (const e of edges) list.add(0, 'configure_edge', e, { spec });
  const group = strategy.group ? strategy.group(input, hosts) : hosts;
  if (params.artifact) {
    list.next();
    for (const h of group) {
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
  hook(0, 'pre', group.slice(0, 1));
  const built = strategy.plan({ input, spec, compiled, params, hosts, group, edges, primary, list, hook, notes: base.notes });
  const plan = { ...base, ...built } as Plan;
  let docs: TrafficDoc[] | undefined;
  Object.defineProperty(plan, 'traffic', { enumerable: false, get: () => (docs ??= trafficPreviews(traffic, spec.name, built.trafficOps, built.trafficOps.length)) });
  return plan;
}

/** The documents of the first `count` traffic phases of a plan, from the live document: each costs one pass over it. */
export function trafficPreviews(before: TrafficDoc | undefined, service: string, changes: readonly TrafficOp[][], count: number): TrafficDoc[] {
  const docs: TrafficDoc[] = [];
  let doc = before;
  for (const ops of changes.slice(0, count)) {
    doc = applyOps(doc, service, ops, (doc?.generation ?? 0) + 1);
    docs.push(doc);
  }
  return docs;
}
