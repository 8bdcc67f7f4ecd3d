// Blue/green: the new colour starts beside the old one on every host (or a labelled group), is
// served by the preview listener, optionally verified, then takes all traffic in one generation;
// the old colour stays warm for a rollback window and is drained and stopped after it.
import { ZddError } from '../../lib/errors.js';
import type { TrafficOp } from '../../lib/traffic.js';
import { backendOf, matchesSelector, oldHosts, otherColour, parseSelector, retireOld, splitBatches, startSteps, thresholdsOf, trafficPhase, type Built, type PlanContext, type Strategy } from './kit.js';

export const blueGreen: Strategy = {
  name: 'blue-green',
  summary: 'the new colour beside the old on every host, checked on the preview listener, then one switch',
  options: ['keepOldMs', 'bakeMs', 'hosts'],
  /** --verify manual (verify=manual): hold at the preview listener until zddctl promote */
  extraOptions: ['verify'],
  defaultBatch: { percent: 100 },
  needsLiveVersion: true,
  parse: (r) => {
    if (r.options.verify !== undefined && r.options.verify !== 'manual') {
      throw new ZddError('INVALID_ARGUMENT', `verify=${r.options.verify}: the only value is manual (hold at the preview listener until zddctl promote)`, {
        hint: 'checks of your own go into the spec\'s verify section',
      });
    }
    return { keepOldMs: r.keepOldMs, bakeMs: r.bakeMs, hosts: parseSelector(r.hosts), ...(r.options.verify === 'manual' ? { extra: { verify: 'manual' } } : {}) };
  },
  group: (input, hosts) => (input.params.hosts ? hosts.filter((h) => matchesSelector(input.fleet.find((f) => f.agentId === h.agentId)!.labels, input.params.hosts!)) : hosts),
  plan: planBlueGreen,
};

// the group (hosts with --hosts labels), the compiled spec, the live track and the hook adder come from the planner
function planBlueGreen({ input, spec, compiled, params, hosts, group, edges, primary, list, hook }: PlanContext): Built {
  const { traffic } = input;
  const colour = otherColour(primary);
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
  const hold = params.extra?.verify === 'manual';
  if ((verify || hold) && !compiled.nginx.preview) {
    throw new ZddError('INVALID_SPEC', `${spec.name}'s ${hold ? 'rollout holds the new colour at the preview listener (--verify manual)' : 'spec asks for verification, which runs against the preview listener'}, but the spec sets no nginx.preview`, {
      hint: 'add nginx.preview (an address:port of its own) to the spec and apply it again',
    });
  }
  const changes: TrafficOp[][] = [];
  // the new colour starts in groups of --batch hosts (all at once by default)
  for (const part of splitBatches(group, params.batch)) startSteps(spec, list, hook, 1, part, params.version);
  // the new colour joins the traffic document, served only by the preview listener (and to clients that ask for it)
  trafficPhase(spec, list, edges, 1, [{ op: 'add', backends: group.map((h) => backendOf(h, colour, params.version)) }, { op: 'route', preview: colour }], changes);
  if (verify) {
    list.next();
    list.add(1, 'verify', edges[0], { service: spec.name, checks: [...compiled.verify.checks], argv: compiled.verify.argv && [...compiled.verify.argv], timeoutMs: compiled.verify.timeoutMs });
  }
  if (hold) {
    // the operator looks at the new colour through the preview listener; promote switches
    list.next();
    list.add(1, 'pause', '', { ms: -1, preview: compiled.nginx.preview! });
  }
  // the switch: one generation
  trafficPhase(spec, list, edges, 1, [{ op: 'route', primary: colour, preview: null }], changes);
  if (params.bakeMs && params.bakeMs > 0) {
    list.next();
    list.add(1, 'analyze', '', { mode: 'bake', track: colour, against: primary, waitMs: params.bakeMs, thresholds: thresholdsOf(input), intervalMs: compiled.analysis.intervalMs, maxWaitMs: compiled.analysis.maxWaitMs });
  }
  if (params.keepOldMs && params.keepOldMs > 0 && old.length) {
    list.next();
    list.add(1, 'window', '', { ms: params.keepOldMs, track: primary });
  }
  hook(1, 'beforeDrain', oldHosts(hosts, old));
  if (old.length) trafficPhase(spec, list, edges, 1, [{ op: 'drop', track: primary }], changes);
  retireOld(spec, list, edges, 1, old);
  hook(1, 'afterStop', oldHosts(hosts, old));
  hook(1, 'post', group.slice(0, 1));
  list.next();
  list.add(1, 'finalize', '', {});
  return { batches: [group.map((h) => h.agentId)], steps: list.steps, trafficOps: changes };
}
