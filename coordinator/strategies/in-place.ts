// In place: for services that cannot run two copies on a host. Each batch leaves the pool, its old
// instances stop, the new version starts on the same slot's other port, and the batch comes back.
// A rolling option (--in-place), planned by rolling.ts with the batches made here.
import { ZddError } from '../../lib/errors.js';
import type { HostPlan, PlanInput } from '../planner.js';
import { batchCount, splitBatches } from './kit.js';

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
