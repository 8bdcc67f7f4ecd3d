// Canary: the new version on a few hosts as a track of its own, reachable first only by a header or
// cookie, then given a growing share of clients (hashed on a stable client key), with an analysis
// of its error rate and latency against the stable track after each step; at 100% it becomes the
// live track and the old instances leave.
import { ZddError } from '../../lib/errors.js';
import type { TrafficOp } from '../../lib/traffic.js';
import { backendOf, batchCount, CANARY_TRACK, oldHosts, parseBatch, parseSteps, retireOld, splitBatches, startSteps, thresholdsOf, trafficPhase, type Built, type PlanContext, type Strategy } from './kit.js';

export const canary: Strategy = {
  name: 'canary',
  summary: 'a share of clients on the new version, growing step by step, judged against the stable track',
  options: ['steps', 'canaryHosts'],
  defaultBatch: { percent: 100 },
  needsLiveVersion: true,
  parse: (r) => ({ steps: parseSteps(r.steps), ...(r.stepPauseMs >= 0 ? { stepPauseMs: r.stepPauseMs } : {}), canaryHosts: parseBatch(r.canaryHosts) }),
  plan: planCanary,
};

function planCanary({ input, spec, compiled, params, hosts, edges, primary, list, hook }: PlanContext): Built {
  const { traffic } = input;
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
  const changes: TrafficOp[][] = [];
  const thresholds = thresholdsOf(input);
  startSteps(spec, list, hook, 1, canaries, params.version);
  // weight 0: the canary is reachable only by the header or cookie that forces its track
  trafficPhase(spec, list, edges, 1, [{ op: 'add', backends: canaries.map((h) => backendOf(h, CANARY_TRACK, params.version)) }, { op: 'route', split: { track: CANARY_TRACK, percent: 0 } }], changes);
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
      trafficPhase(spec, list, edges, step, [{ op: 'add', backends: rest.map((h) => backendOf(h, CANARY_TRACK, params.version)) }, { op: 'route', split: { track: CANARY_TRACK, percent: 100 } }], changes);
    } else {
      trafficPhase(spec, list, edges, step, [{ op: 'route', split: { track: CANARY_TRACK, percent: p } }], changes);
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
  trafficPhase(spec, list, edges, last, [{ op: 'drop', track: primary }, { op: 'retrack', from: CANARY_TRACK, to: primary }, { op: 'route', split: null }], changes);
  retireOld(spec, list, edges, last, old);
  hook(last, 'afterStop', oldHosts(hosts, old));
  hook(last, 'post', hosts.slice(0, 1));
  list.next();
  list.add(last, 'finalize', '', {});
  return { batches: [canaries.map((h) => h.agentId), rest.map((h) => h.agentId)].filter((b) => b.length), steps: list.steps, trafficOps: changes };
}
