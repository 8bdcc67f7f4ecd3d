// Building blocks of plans, shared by the strategies (coordinator/strategies/*.ts): batch sizes,
// the step list, hooks around a host's swap, traffic phases and the retirement of old instances.
// Everything here is pure.
import { ZddError } from '../../lib/errors.js';
import { compileSpec, type CompiledSpec, type HookName, type ServiceSpec } from '../../lib/spec.js';
import type { Slot } from '../../lib/commands.js';
import { applyOps, type Backend, type TrafficDoc, type TrafficOp } from '../../lib/traffic.js';
import type { Thresholds } from '../../lib/analysis.js';
import { planned, type StepArgsIn, type StepKind } from '../steps.js';
import type { BatchSize, HostPlan, Plan, PlanInput, PlannedStep, RolloutParams } from '../planner.js';

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

/** Steps in the making: seq and phase numbers are handed out in order. */
export class StepList {
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

export const backendOf = (h: HostPlan, track: string, version: string): Backend => ({ addr: h.newAddr, track, weight: 1, agentId: h.agentId, slot: h.newSlot, version });

/** A colour for blue/green: the other one than the live track's. */
export const otherColour = (live: string) => (live === 'blue' ? 'green' : 'blue');
export const CANARY_TRACK = 'canary';

export type HookAdder = (batch: number, name: HookName, hosts: Pick<HostPlan, 'agentId' | 'newSlot' | 'newAddr' | 'oldSlot' | 'oldAddr' | 'oldVersion'>[]) => void;

/** Adds a phase running one of the spec's hooks on each given host (nothing when the spec has no such hook). */
export function hookSteps(spec: ServiceSpec, list: StepList, version: string, liveVersion: string): HookAdder {
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
export function startSteps(spec: ServiceSpec, list: StepList, hook: HookAdder, batch: number, hosts: HostPlan[], version: string) {
  hook(batch, 'beforeStart', hosts);
  list.next();
  for (const h of hosts) list.add(batch, 'start', h.agentId, { spec, version, slot: h.newSlot });
  hook(batch, 'afterHealthy', hosts);
}

export type Built = Pick<Plan, 'batches' | 'steps' | 'trafficOps'>;

export function thresholdsOf(input: PlanInput): Thresholds {
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
export const oldHosts = (hosts: HostPlan[], old: Backend[]) => hosts.filter((h) => old.some((b) => b.agentId === h.agentId && b.slot === h.oldSlot));

/** The old instances of the live track: drained and stopped once nothing routes to them. */
export function retireOld(spec: ServiceSpec, list: StepList, edges: string[], batch: number, old: Backend[]) {
  const compiled = compileSpec(spec);
  const withHost = old.filter(onHost);
  if (!withHost.length) return;
  list.next();
  for (const e of edges) list.add(batch, 'drain', e, { service: spec.name, hosts: withHost.map((b) => ({ agentId: b.agentId, addr: b.addr })), timeoutMs: compiled.stop.drainTimeoutMs, longLivedGraceMs: compiled.stop.longLivedGraceMs });
  list.next();
  for (const b of withHost) {
    list.add(batch, 'stop', b.agentId, { service: spec.name, slot: b.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs, spreadMs: compiled.stop.spreadMs });
  }
}

/**
 * A traffic change on every edge; `changes` collects its operations, from which `zddctl plan`
 * previews the documents (planner.ts trafficPreviews): a plan never holds a document per batch.
 */
export function trafficPhase(spec: ServiceSpec, list: StepList, edges: string[], batch: number, ops: TrafficOp[], changes: TrafficOp[][]) {
  list.next();
  for (const e of edges) list.add(batch, 'traffic', e, { service: spec.name, ops });
  changes.push(ops);
}

/**
 * What a StartRollout request carries for strategies, beyond the fields every rollout has. The
 * named fields are the options of the built-in strategies (each has a field in the control API and
 * a zddctl flag); `options` carries those of any other strategy (zddctl --option key=value).
 */
export interface StrategyRequest {
  steps: string;
  /** canary: ms per step; -1 waits for zddctl promote */
  stepPauseMs: number;
  canaryHosts: string;
  keepOldMs: number;
  bakeMs: number;
  hosts: string;
  inPlace: boolean;
  maxLoad: number;
  options: Record<string, string>;
  /** the common fields a strategy's checks may need */
  failureLimit: number;
}

/** The request fields that belong to one strategy or another, with the flag that sets each. */
export const OPTION_FLAGS = {
  steps: '--steps',
  canaryHosts: '--canary-hosts',
  keepOldMs: '--keep-old',
  bakeMs: '--bake',
  hosts: '--hosts',
  inPlace: '--in-place',
  maxLoad: '--max-load',
} as const satisfies Partial<Record<keyof StrategyRequest, string>>;
export type StrategyOption = keyof typeof OPTION_FLAGS;

/** What a strategy plans from: the rollout's input, the hosts, and the steps planned so far. */
export interface PlanContext {
  input: PlanInput;
  spec: ServiceSpec;
  compiled: CompiledSpec;
  params: RolloutParams;
  /** every target host, by agent id, with the slot it swaps into */
  hosts: HostPlan[];
  /** the hosts that get the new version (the strategy's group), staged and hooked first */
  group: HostPlan[];
  edges: string[];
  /** the live listener's track before the rollout */
  primary: string;
  /** the plan so far: edge configuration, staging and the pre hook */
  list: StepList;
  hook: HookAdder;
  /** what the planner decided that the operator should know */
  notes: string[];
}

/**
 * A rollout strategy: one file in coordinator/strategies/, registered in index.ts. The control API
 * validates a request against it and the CLI's help lists it from the registry; its plan is pure.
 * The executor knows only step kinds, never strategies.
 */
export interface Strategy {
  readonly name: string;
  /** one line for `zddctl rollout --help` */
  readonly summary: string;
  /** the request options that belong to it; the others are refused with it */
  readonly options: readonly StrategyOption[];
  /** option names it reads from StrategyRequest.options (zddctl --option key=value) */
  readonly extraOptions?: readonly string[];
  /** hosts per batch when the request names none */
  readonly defaultBatch: BatchSize;
  /** it needs a live version (to compare with or return to): a first release cannot use it */
  readonly needsLiveVersion: boolean;
  /** its parameters from the request; throws INVALID_ARGUMENT on a bad value */
  parse(r: StrategyRequest): Partial<RolloutParams>;
  /** the hosts that get the new version, when not all of them */
  group?(input: PlanInput, hosts: HostPlan[]): HostPlan[];
  /** the rest of the plan, after the edge configuration, staging and the pre hook */
  plan(ctx: PlanContext): Built;
}
