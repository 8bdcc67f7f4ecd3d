// Rollback: the return of a service to an earlier version — by `zddctl rollback`, by an abort, or
// automatically after a failed check. Not chosen with --strategy: it is planned from the journalled
// traffic by the control API and by the executor when a rollout turns around.
import { compileSpec, type ServiceSpec } from '../../lib/spec.js';
import { otherSlot, type Slot } from '../../lib/commands.js';
import { primaryTrack, type Backend, type Move, type TrafficDoc, type TrafficOp } from '../../lib/traffic.js';
import type { BatchSize, PlannedStep } from '../planner.js';
import { onHost, retireOld, splitBatches, StepList, trafficPhase } from './kit.js';

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
  const changes: TrafficOp[][] = [];
  if (keep !== primary || dropped.length || traffic?.split || traffic?.preview) {
    trafficPhase(spec, list, input.edges, batchNo, ops, changes);
  }
  // stop what leaves the traffic, and instances that never entered it; never an instance still kept
  const keptSlots = new Set(kept.map((b) => `${b.agentId}/${b.slot}`));
  const leaving = dropped.filter((b) => !keptSlots.has(`${b.agentId}/${b.slot}`));
  retireOld(spec, list, input.edges, batchNo, leaving);
  const stopped = new Set(leaving.map((b) => `${b.agentId}/${b.slot}`));
  const strays = input.strays.filter((x) => !keptSlots.has(`${x.agentId}/${x.slot}`) && !stopped.has(`${x.agentId}/${x.slot}`));
  if (strays.length) {
    list.next();
    for (const x of strays) list.add(batchNo, 'stop', x.agentId, { service: spec.name, slot: x.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs, spreadMs: compiled.stop.spreadMs });
  }
  // in place: hosts out of the pool get the target version back in their old slot, and rejoin
  const restore = (input.restore ?? []).filter(onHost).filter((b) => !kept.some((k) => k.agentId === b.agentId));
  if (restore.length) {
    list.next();
    for (const b of restore) list.add(batchNo, 'start', b.agentId, { spec, version: target, slot: b.slot });
    trafficPhase(spec, list, input.edges, batchNo, [{ op: 'add', backends: restore.map((b) => ({ ...b, track: keep, version: target })) }], changes);
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
    for (const e of input.edges) list.add(b, 'drain', e, { service: spec.name, hosts: batch.map((x) => ({ agentId: x.agentId, addr: x.addr })), timeoutMs: compiled.stop.drainTimeoutMs, longLivedGraceMs: compiled.stop.longLivedGraceMs });
    list.next();
    for (const x of batch) list.add(b, 'stop', x.agentId, { service: spec.name, slot: x.slot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs, spreadMs: compiled.stop.spreadMs });
  });
  list.next();
  list.add(batchNo, 'finalize', '', { version: target });
  return list.steps;
}
