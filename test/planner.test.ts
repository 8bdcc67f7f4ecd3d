import test from 'ava';
import { batchCount, nextTraffic, parseBatch, planRollout, splitBatches, type FleetHost, type PlanInput } from '../coordinator/planner.js';
import { validateSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';
import type { TrafficDoc } from '../lib/traffic.js';

const spec = validateSpec({
  name: 'web',
  command: 'node server.js',
  ports: { a: 8001, b: 8002 },
  hosts: { selector: { role: 'web' } },
  nginx: { listen: '127.0.0.1:8080' },
});

const host = (i: number, extra: Partial<FleetHost> = {}): FleetHost => ({
  agentId: `h${i}`,
  labels: { role: 'web' },
  advertise: `10.0.0.${i}`,
  portOffset: 0,
  connected: true,
  edge: false,
  ...extra,
});

const fleet = (n: number) => [host(0, { edge: true, labels: { role: 'edge' } }), ...[...Array(n)].map((_, i) => host(i + 1))];

const input = (over: Partial<PlanInput> = {}, params: Partial<PlanInput['params']> = {}): PlanInput => ({
  spec,
  liveVersion: '',
  fleet: fleet(4),
  traffic: undefined,
  params: { version: 'v2', strategy: 'rolling', batch: { count: 1 }, pauseMs: 0, failureLimit: 0, ...params },
  ...over,
});

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ZddError ? err.code : 'not a ZddError';
  }
  return 'no error';
};

test('batch size parses as a count or a percentage and rejects anything else', (t) => {
  t.deepEqual(parseBatch('3'), { count: 3 });
  t.deepEqual(parseBatch('25%'), { percent: 25 });
  t.deepEqual(parseBatch(''), { count: 1 });
  for (const bad of ['0', '0%', '101%', 'two', '-1', '1.5']) t.is(code(() => parseBatch(bad)), 'INVALID_ARGUMENT', bad);
});

test('percent batches round up and never go below one host', (t) => {
  t.is(batchCount({ percent: 25 }, 10), 3);
  t.is(batchCount({ percent: 1 }, 10), 1);
  t.is(batchCount({ percent: 100 }, 7), 7);
  t.deepEqual(splitBatches([1, 2, 3, 4, 5], { count: 2 }), [[1, 2], [3, 4], [5]]);
  t.deepEqual(splitBatches([1, 2, 3, 4, 5], { percent: 50 }), [[1, 2, 3], [4, 5]]);
});

test('a rolling plan swaps each matching host into its other slot, batch by batch, with one traffic change per batch', (t) => {
  const traffic: TrafficDoc = {
    service: 'web',
    generation: 7,
    backends: [1, 2, 3, 4].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v1' })),
  };
  const plan = planRollout(input({ traffic, liveVersion: 'v1' }, { batch: { count: 2 } }));
  t.deepEqual(plan.batches, [['h1', 'h2'], ['h3', 'h4']]);
  t.deepEqual(plan.edges, ['h0']);
  t.true(plan.hosts.every((h) => h.newSlot === 'b' && h.oldSlot === 'a' && h.newAddr.endsWith(':8002')));
  t.deepEqual(plan.traffic.map((d) => d.generation), [8, 9]);
  t.deepEqual(plan.traffic[0].backends.map((b) => b.version), ['v2', 'v2', 'v1', 'v1']);
  t.deepEqual(plan.traffic[1].backends.map((b) => b.version), ['v2', 'v2', 'v2', 'v2']);
  const kinds = plan.steps.filter((s) => s.batch === 1).map((s) => s.kind);
  t.deepEqual(kinds, ['start', 'start', 'traffic', 'drain', 'stop', 'stop']);
  t.is(plan.steps[0].kind, 'configure_edge');
  t.is(plan.steps.at(-1)!.kind, 'finalize');
  // phases only grow: nothing of batch 2 can run before batch 1 is drained and stopped
  const phases = plan.steps.map((s) => s.phase);
  t.deepEqual(phases, [...phases].sort((a, b) => a - b));
});

test('a first deployment has nothing to drain or stop and starts in slot a', (t) => {
  const plan = planRollout(input({}, { batch: { percent: 100 } }));
  t.deepEqual(plan.batches, [['h1', 'h2', 'h3', 'h4']]);
  t.false(plan.steps.some((s) => s.kind === 'drain' || s.kind === 'stop'));
  t.true(plan.hosts.every((h) => h.newSlot === 'a'));
});

test('pauses go between batches, not after the last', (t) => {
  const plan = planRollout(input({}, { pauseMs: 5000 }));
  t.is(plan.steps.filter((s) => s.kind === 'pause').length, 3);
});

test('port offsets and advertise addresses make the backend address', (t) => {
  const f = [host(0, { edge: true }), host(1, { advertise: '127.0.0.1', portOffset: 10 })];
  const plan = planRollout(input({ fleet: f }));
  t.is(plan.hosts.find((h) => h.agentId === 'h1')!.newAddr, '127.0.0.1:8011');
});

test('refuses a plan with no connected matching agent, no edge, a bad version, a bad failure limit, or nothing new', (t) => {
  t.is(code(() => planRollout(input({ fleet: fleet(2).map((h) => ({ ...h, connected: h.agentId === 'h0' })) }))), 'NO_MATCHING_AGENTS');
  t.is(code(() => planRollout(input({ fleet: fleet(2).map((h) => ({ ...h, edge: false })) }))), 'NO_MATCHING_AGENTS');
  t.is(code(() => planRollout(input({}, { version: '../etc' }))), 'INVALID_ARGUMENT');
  t.is(code(() => planRollout(input({}, { failureLimit: -1 }))), 'INVALID_ARGUMENT');
  const traffic: TrafficDoc = {
    service: 'web',
    generation: 1,
    backends: [1, 2, 3, 4].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v2' })),
  };
  t.is(code(() => planRollout(input({ traffic }))), 'ALREADY_LIVE');
});

test('the next traffic document replaces only the moved hosts', (t) => {
  const prev: TrafficDoc = {
    service: 'web',
    generation: 3,
    backends: [
      { addr: 'a:1', track: 'stable', weight: 1, agentId: 'h1', version: 'v1' },
      { addr: 'b:1', track: 'stable', weight: 1, agentId: 'h2', version: 'v1' },
    ],
  };
  const next = nextTraffic(prev, 'web', [{ agentId: 'h2', backend: { addr: 'b:2', track: 'stable', weight: 1, agentId: 'h2', version: 'v2' } }], 4);
  t.is(next.generation, 4);
  t.deepEqual(next.backends.map((b) => b.addr), ['a:1', 'b:2']);
  t.is(prev.backends[1].addr, 'b:1', 'the previous document is not modified');
});
