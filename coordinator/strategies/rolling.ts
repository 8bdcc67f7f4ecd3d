// Rolling: hosts swap batch by batch — the new version starts in each host's other slot, is
// health-gated, one traffic change moves the batch, then the old instances drain and stop. With
// --in-place (in-place.ts) a batch instead leaves the pool, swaps on one slot, and comes back.
import { ZddError } from '../../lib/errors.js';
import type { TrafficOp } from '../../lib/traffic.js';
import type { HostPlan } from '../planner.js';
import { loadAwareBatches } from './in-place.js';
import { backendOf, splitBatches, startSteps, type Built, type PlanContext, type Strategy } from './kit.js';

export const rolling: Strategy = {
  name: 'rolling',
  summary: 'hosts swap batch by batch, each new instance beside the old one (or --in-place)',
  options: ['inPlace', 'maxLoad'],
  defaultBatch: { count: 1 },
  needsLiveVersion: false,
  parse: (r) => {
    if (r.maxLoad && !r.inPlace) {
      throw new ZddError('INVALID_ARGUMENT', '--max-load shrinks in-place batches: add --in-place', {
        hint: 'without --in-place every host keeps serving while it swaps, so no host leaves the pool',
      });
    }
    if (r.inPlace && r.failureLimit) {
      throw new ZddError('INVALID_ARGUMENT', '--failure-limit does not apply to --in-place: a host that fails in place has no old instance left, so any failure returns the batch to the old version');
    }
    if (r.maxLoad > 100) throw new ZddError('INVALID_ARGUMENT', `--max-load ${r.maxLoad} is a CPU percentage: 1 to 100`);
    return { ...(r.inPlace ? { inPlace: true } : {}), ...(r.maxLoad ? { maxLoad: r.maxLoad } : {}) };
  },
  plan: planRolling,
};

function planRolling(ctx: PlanContext): Built {
  const { input, spec, compiled, params, hosts, edges, primary, list, hook, notes } = ctx;
  const { traffic } = input;
  const batches = params.inPlace ? loadAwareBatches(input, hosts, notes) : splitBatches(hosts, params.batch);
  const changes: TrafficOp[][] = [];
  const retire = (b: number, batch: HostPlan[]) => {
    const old = batch.filter((h): h is HostPlan & Required<Pick<HostPlan, 'oldSlot' | 'oldAddr'>> => !!h.oldSlot && !!h.oldAddr);
    if (!old.length) return;
    list.next();
    for (const e of edges) list.add(b, 'drain', e, { service: spec.name, hosts: old.map((h) => ({ agentId: h.agentId, addr: h.oldAddr })), timeoutMs: compiled.stop.drainTimeoutMs, longLivedGraceMs: compiled.stop.longLivedGraceMs });
    list.next();
    for (const h of old) list.add(b, 'stop', h.agentId, { service: spec.name, slot: h.oldSlot, signal: compiled.stop.signal, drainTimeoutMs: compiled.stop.drainTimeoutMs, spreadMs: compiled.stop.spreadMs });
    hook(b, 'afterStop', old);
  };
  const traffic1 = (b: number, ops: TrafficOp[]) => {
    changes.push(ops);
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
  return { batches: batches.map((b) => b.map((h) => h.agentId)), steps: list.steps, trafficOps: changes };
}
