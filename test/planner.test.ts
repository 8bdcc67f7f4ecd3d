import test from 'ava';
import { batchCount, nextTraffic, parseBatch, parseSteps, planRollbackSteps, planRollout, splitBatches, type FleetHost, type PlanInput, type PlannedStep } from '../coordinator/planner.js';

type HookStep = Extract<PlannedStep, { kind: 'hook' }>;
import { validateSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';
import { applyDiff, applyOps, inOrder, trafficDiff, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';

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

const liveV1: TrafficDoc = {
  service: 'web',
  generation: 5,
  backends: [1, 2, 3, 4].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v1' })),
};

test('blue-green: every host starts the new colour, preview first, one switch, then the old colour leaves', (t) => {
  const plan = planRollout(input({ traffic: liveV1, liveVersion: 'v1' }, { strategy: 'blue-green', bakeMs: 2000, keepOldMs: 60_000 }));
  const kinds = plan.steps.map((s) => s.kind);
  t.deepEqual([...new Set(kinds)], ['configure_edge', 'start', 'traffic', 'analyze', 'window', 'drain', 'stop', 'finalize']);
  t.is(kinds.filter((k) => k === 'start').length, 4);
  // preview, switch, drop: three traffic changes, each one generation
  t.deepEqual(plan.traffic.map((d) => [d.generation, d.primary ?? 'stable', d.preview ?? '-']), [
    [6, 'stable', 'blue'],
    [7, 'blue', '-'],
    [8, 'blue', '-'],
  ]);
  t.deepEqual([...new Set(plan.traffic[0].backends.map((b) => `${b.track}:${b.version}`))].sort(), ['blue:v2', 'stable:v1']);
  t.deepEqual(plan.traffic[2].backends.map((b) => `${b.track}:${b.version}`), ['blue:v2', 'blue:v2', 'blue:v2', 'blue:v2']);
  // the bake and the window come after the switch, the drain after the window
  const phaseOf = (k: string) => plan.steps.find((s) => s.kind === k)!.phase;
  t.true(phaseOf('analyze') < phaseOf('window') && phaseOf('window') < phaseOf('drain'));
  const phases = plan.steps.map((s) => s.phase);
  t.deepEqual(phases, [...phases].sort((a, b) => a - b));
});

test('blue-green alternates colours, verifies when the spec asks, and may use a labelled host group', (t) => {
  const blue: TrafficDoc = { ...liveV1, primary: 'blue', backends: liveV1.backends.map((b) => ({ ...b, track: 'blue' })) };
  const s2 = validateSpec({ ...spec, nginx: { listen: '127.0.0.1:8080', preview: '127.0.0.1:8081' }, verify: { checks: [{ path: '/ready' }] } });
  const f = fleet(4).map((h) => (h.agentId === 'h3' || h.agentId === 'h4' ? { ...h, labels: { ...h.labels, pool: 'b' } } : h));
  const plan = planRollout(input({ spec: s2, traffic: blue, liveVersion: 'v1', fleet: f }, { strategy: 'blue-green', hosts: { pool: 'b' } }));
  t.is(plan.traffic[1].primary, 'green');
  t.deepEqual(plan.steps.filter((s) => s.kind === 'start').map((s) => s.agentId), ['h3', 'h4']);
  t.is(plan.steps.filter((s) => s.kind === 'verify').length, 1);
  // all four old-colour hosts are drained and stopped, also those outside the group
  t.is(plan.steps.filter((s) => s.kind === 'stop').length, 4);
  t.is(code(() => planRollout(input({ traffic: blue, liveVersion: 'v1' }, { strategy: 'blue-green', hosts: { pool: 'x' } }))), 'NO_MATCHING_AGENTS');
  // verification needs the preview listener; a first release has no colour to switch from
  const noPreview = validateSpec({ ...spec, verify: { checks: [{ path: '/ready' }] } });
  t.is(code(() => planRollout(input({ spec: noPreview, traffic: blue, liveVersion: 'v1' }, { strategy: 'blue-green' }))), 'INVALID_SPEC');
  t.is(code(() => planRollout(input({}, { strategy: 'blue-green' }))), 'INVALID_ARGUMENT');
});

test('canary: the share grows step by step with an analysis after each; at 100 every host runs the new version before the old track leaves', (t) => {
  const plan = planRollout(input({ traffic: liveV1, liveVersion: 'v1' }, { strategy: 'canary', steps: [5, 25, 100], stepPauseMs: 1000, canaryHosts: { count: 1 } }));
  t.deepEqual(plan.batches, [['h1'], ['h2', 'h3', 'h4']]);
  t.deepEqual(plan.traffic.map((d) => d.split?.percent ?? null), [0, 5, 25, 100, null]);
  const analyses = plan.steps.filter((s) => s.kind === 'analyze').map((s) => (s.args as { percent: number }).percent);
  t.deepEqual(analyses, [5, 25, 100]);
  const last = plan.traffic.at(-1)!;
  t.deepEqual([...new Set(last.backends.map((b) => `${b.track}:${b.version}`))], ['stable:v2']);
  t.is(last.backends.length, 4);
  // the rest of the fleet starts before the 100% change, the old instances stop after it
  const startRest = plan.steps.filter((s) => s.kind === 'start' && s.agentId !== 'h1').map((s) => s.phase);
  const full = plan.steps.find((s) => s.kind === 'analyze' && (s.args as { percent: number }).percent === 100)!.phase;
  t.true(startRest.every((p) => p < full));
  t.true(plan.steps.filter((s) => s.kind === 'stop').every((s) => s.phase > full));
  // manual: the canary first waits dark, at weight 0, for a promote
  const manual = planRollout(input({ traffic: liveV1, liveVersion: 'v1' }, { strategy: 'canary', steps: [50, 100] }));
  t.deepEqual(manual.steps.filter((s) => s.kind === 'analyze').map((s) => [(s.args as any).percent, (s.args as any).waitMs]), [
    [0, -1],
    [50, -1],
    [100, -1],
  ]);
});

test('canary bad input: steps that do not increase or leave 1..100, more canary hosts than the fleet, no live version', (t) => {
  for (const bad of ['50,25', '0,50', '10,101', 'ten', '5,5,100']) t.is(code(() => parseSteps(bad)), 'INVALID_ARGUMENT', bad);
  t.deepEqual(parseSteps('5,25,50'), [5, 25, 50, 100], 'the full share is the last step');
  t.deepEqual(parseSteps('100'), [100]);
  const c = (over: Partial<PlanInput['params']>, traffic: TrafficDoc | undefined = liveV1) => code(() => planRollout(input({ traffic, liveVersion: 'v1' }, { strategy: 'canary', ...over })));
  t.is(c({ canaryHosts: { count: 5 } }), 'INVALID_ARGUMENT');
  t.is(c({ canaryHosts: { count: 4 } }), 'no error');
  t.is(c({ steps: [50, 20, 100] }), 'INVALID_ARGUMENT');
  t.is(code(() => planRollout(input({}, { strategy: 'canary' }))), 'INVALID_ARGUMENT', 'a first release has nothing to compare a canary with');
  // a canary still in the traffic blocks a new rollout until it is rolled back
  t.is(c({}, { ...liveV1, split: { track: 'canary', percent: 10 } }), 'ROLLOUT_ACTIVE');
});

test('rollback: a warm old colour is one traffic switch; a canary leaves; swapped hosts are swapped back; strays are stopped', (t) => {
  const base = { spec, edges: ['h0'], batch: { count: 1 }, strays: [], firstSeq: 1, firstPhase: 1, firstBatch: 1 };
  // blue/green in its keep-old window: blue v2 live, stable v1 warm
  const window: TrafficDoc = {
    service: 'web',
    generation: 7,
    primary: 'blue',
    backends: [
      ...liveV1.backends,
      ...[1, 2, 3, 4].map((i) => ({ addr: `10.0.0.${i}:8002`, track: 'blue', weight: 1, agentId: `h${i}`, slot: 'b', version: 'v2' })),
    ],
  };
  let steps = planRollbackSteps({ ...base, traffic: window, target: 'v1' });
  t.deepEqual(steps.map((s) => s.kind), ['traffic', 'drain', 'stop', 'stop', 'stop', 'stop', 'finalize']);
  const doc = applyOps(window, 'web', (steps[0].args as { ops: TrafficOp[] }).ops, 8);
  t.is(doc.primary, undefined, 'stable is the primary track again');
  t.true(doc.backends.every((b) => b.version === 'v1'));
  t.true(steps.filter((s) => s.kind === 'stop').every((s) => (s.args as { slot: string }).slot === 'b'));
  // a canary beside the stable track
  const canary: TrafficDoc = { ...liveV1, split: { track: 'canary', percent: 25 }, backends: [...liveV1.backends, { addr: '10.0.0.1:8002', track: 'canary', weight: 1, agentId: 'h1', slot: 'b', version: 'v2' }] };
  steps = planRollbackSteps({ ...base, traffic: canary, target: 'v1', strays: [{ agentId: 'h2', slot: 'b' }] });
  t.deepEqual(steps.map((s) => `${s.kind}:${s.agentId}`), ['traffic:h0', 'drain:h0', 'stop:h1', 'stop:h2', 'finalize:']);
  t.is(applyOps(canary, 'web', (steps[0].args as { ops: TrafficOp[] }).ops, 6).split, undefined);
  // a rolling rollout half-way: h1 and h2 on v2 in slot b
  const half: TrafficDoc = {
    ...liveV1,
    backends: liveV1.backends.map((b) => (b.agentId === 'h1' || b.agentId === 'h2' ? { ...b, addr: b.addr.replace('8001', '8002'), slot: 'b', version: 'v2' } : b)),
  };
  steps = planRollbackSteps({ ...base, traffic: half, target: 'v1' });
  t.deepEqual(steps.filter((s) => s.kind === 'start').map((s) => [s.agentId, (s.args as { slot: string; version: string }).slot, (s.args as { version: string }).version]), [
    ['h1', 'a', 'v1'],
    ['h2', 'a', 'v1'],
  ]);
  const swap = steps.find((s) => s.kind === 'traffic')!.args as { ops: TrafficOp[] };
  t.deepEqual((swap.ops[0] as { moves: { backend: { addr: string } }[] }).moves.map((m) => m.backend.addr), ['10.0.0.1:8001']);
  t.is(steps.at(-1)!.kind, 'finalize');
  t.deepEqual(steps.at(-1)!.args, { version: 'v1' });
  const phases = steps.map((s) => s.phase);
  t.deepEqual(phases, [...phases].sort((a, b) => a - b));
});

const live4: TrafficDoc = {
  service: 'web',
  generation: 3,
  backends: [1, 2, 3, 4].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v1' })),
};
const withHooks = validateSpec({
  ...spec,
  hooks: Object.fromEntries(['pre', 'beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop', 'post'].map((h) => [h, `echo ${h}`])),
});
/** "kind" or "hook:name" per step, for one host and the rollout-wide steps */
const sequence = (plan: ReturnType<typeof planRollout>, agentId: string) =>
  plan.steps.filter((s) => s.agentId === agentId || s.agentId === 'h0' || s.agentId === '').map((s) => (s.kind === 'hook' ? `hook:${s.args.hook}` : s.kind));

test('an artifact is staged on every host before anything starts; hooks wrap each host\'s swap, pre before the first batch and post after the last', (t) => {
  const plan = planRollout(
    input({ spec: withHooks, traffic: live4, liveVersion: 'v1' }, { artifact: { url: 'https://b.example/web-v2.tar.gz', sha256: 'a'.repeat(64) } }),
  );
  const firstStart = plan.steps.findIndex((s) => s.kind === 'start');
  const stages = plan.steps.filter((s) => s.kind === 'stage');
  t.deepEqual(stages.map((s) => s.agentId), ['h1', 'h2', 'h3', 'h4']);
  t.true(plan.steps.every((s, i) => s.kind !== 'stage' || i < firstStart));
  t.is(new Set(stages.map((s) => s.phase)).size, 1, 'staging runs as one phase (the executor bounds its concurrency)');
  t.deepEqual(stages[0].args, { service: 'web', version: 'v2', url: 'https://b.example/web-v2.tar.gz', sha256: 'a'.repeat(64), keep: 3, env: {} });
  t.deepEqual(sequence(plan, 'h1').filter((k) => k !== 'traffic' && k !== 'drain' && k !== 'configure_edge'), [
    'stage',
    'hook:pre',
    'hook:beforeStart',
    'start',
    'hook:afterHealthy',
    'hook:beforeDrain',
    'stop',
    'hook:afterStop',
    'hook:post',
    'finalize',
  ]);
  // per host, the order around traffic: beforeDrain, then the traffic change, then drain and stop
  const h2 = plan.steps.filter((s) => s.batch === 2).map((s) => (s.kind === 'hook' ? `hook:${s.args.hook}` : s.kind));
  t.deepEqual(h2, ['hook:beforeStart', 'start', 'hook:afterHealthy', 'hook:beforeDrain', 'traffic', 'drain', 'stop', 'hook:afterStop']);
  const pre = plan.steps.find((s): s is HookStep => s.kind === 'hook' && s.args.hook === 'pre')!;
  t.is(pre.agentId, 'h1');
  t.deepEqual(pre.args.env, { ZDD_OLD_VERSION: 'v1' });
  const drain = plan.steps.find((s): s is HookStep => s.kind === 'hook' && s.args.hook === 'beforeDrain')!;
  t.deepEqual(drain.args.env, { ZDD_OLD_VERSION: 'v1', ZDD_SLOT: 'a', PORT: '8001' });
  t.deepEqual(plan.steps.find((s): s is HookStep => s.kind === 'hook' && s.args.hook === 'afterHealthy')!.args.env, { ZDD_OLD_VERSION: 'v1', ZDD_SLOT: 'b', PORT: '8002' });
  const phases = plan.steps.map((s) => s.phase);
  t.deepEqual(phases, [...phases].sort((a, b) => a - b));
});

test('blue-green and canary run the same per-host hooks around their starts and the retirement of the old version', (t) => {
  for (const strategy of ['blue-green', 'canary'] as const) {
    const plan = planRollout(input({ spec: withHooks, traffic: live4, liveVersion: 'v1' }, { strategy, batch: { percent: 100 } }));
    const hooks = plan.steps.filter((s): s is HookStep => s.kind === 'hook' && s.agentId === 'h3').map((s) => s.args.hook);
    t.deepEqual(hooks, ['beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop'], strategy);
    const lastTraffic = plan.steps.map((s) => s.kind).lastIndexOf('traffic');
    t.true(plan.steps.findIndex((s) => s.kind === 'hook' && s.args.hook === 'beforeDrain') < lastTraffic, `${strategy}: beforeDrain before the traffic change that drops the old track`);
  }
});

test('in place: each batch leaves the pool, is drained and stopped, starts the new version, and comes back', (t) => {
  const plan = planRollout(input({ traffic: live4, liveVersion: 'v1' }, { inPlace: true, batch: { count: 2 } }));
  t.deepEqual(plan.batches, [['h1', 'h2'], ['h3', 'h4']]);
  t.deepEqual(plan.steps.filter((s) => s.batch === 1).map((s) => s.kind), ['traffic', 'drain', 'stop', 'stop', 'start', 'start', 'traffic']);
  // out of the pool: the two others serve alone; back: the new version joins
  t.deepEqual(plan.traffic[0].backends.map((b) => b.agentId), ['h3', 'h4']);
  t.deepEqual(plan.traffic[1].backends.map((b) => `${b.agentId}=${b.version}`), ['h1=v2', 'h2=v2', 'h3=v1', 'h4=v1']);
  t.is(code(() => planRollout(input({ fleet: fleet(1), traffic: { ...live4, backends: live4.backends.slice(0, 1) }, liveVersion: 'v1' }, { inPlace: true }))), 'INVALID_ARGUMENT');
});

test('in place with --max-load: a batch shrinks until the hosts left in the pool stay under the limit, and says so; a fleet too busy to lose one host is refused', (t) => {
  const busy = (pct: number) => [host(0, { edge: true, labels: { role: 'edge' } }), ...[1, 2, 3, 4].map((i) => host(i, { loadPct: pct, cores: 2 }))];
  // 4 hosts at 30 %: 2.4 busy cores; 2 out → 60 % on the other two, 1 out → 40 %
  let plan = planRollout(input({ fleet: busy(30), traffic: live4, liveVersion: 'v1' }, { inPlace: true, batch: { count: 2 }, maxLoad: 50 }));
  t.deepEqual(plan.batches, [['h1'], ['h2'], ['h3'], ['h4']]);
  t.regex(plan.notes[0], /batch 1: 1 host\(s\) instead of 2, so the hosts left in the pool stay at 40% CPU \(max 50%\)/);
  plan = planRollout(input({ fleet: busy(30), traffic: live4, liveVersion: 'v1' }, { inPlace: true, batch: { count: 2 }, maxLoad: 60 }));
  t.deepEqual(plan.batches, [['h1', 'h2'], ['h3', 'h4']]);
  t.deepEqual(plan.notes, []);
  t.is(code(() => planRollout(input({ fleet: busy(80), traffic: live4, liveVersion: 'v1' }, { inPlace: true, maxLoad: 90 }))), 'INVALID_ARGUMENT');
});

test('in place on a first release takes nothing out of the pool, even on one host', (t) => {
  const plan = planRollout(input({ fleet: fleet(1) }, { inPlace: true, batch: { count: 3 } }));
  t.deepEqual(plan.batches, [['h1']]);
  t.false(plan.steps.some((s) => s.kind === 'traffic' && (s.args.ops as TrafficOp[]).some((o) => o.op === 'remove')));
});

test('a return from an in-place rollout starts the old version again on hosts that are out of the pool, and puts them back', (t) => {
  const traffic: TrafficDoc = { ...live4, backends: live4.backends.slice(2) };
  const steps = planRollbackSteps({
    spec,
    traffic,
    target: 'v1',
    edges: ['h0'],
    batch: { count: 1 },
    strays: [{ agentId: 'h1', slot: 'b' }],
    restore: live4.backends.slice(0, 2),
    firstSeq: 50,
    firstPhase: 20,
    firstBatch: 3,
  });
  t.deepEqual(steps.map((s) => `${s.kind}:${s.agentId}`), ['stop:h1', 'start:h1', 'start:h2', 'traffic:h0', 'finalize:']);
  t.deepEqual(steps.filter((s) => s.kind === 'start').map((s) => s.args.slot), ['a', 'a']);
  const doc = applyOps(traffic, 'web', (steps.find((s) => s.kind === 'traffic')!.args.ops as TrafficOp[]), 5);
  t.deepEqual(doc.backends.map((b) => `${b.agentId}=${b.version}`), ['h1=v1', 'h2=v1', 'h3=v1', 'h4=v1']);
});

test('two hosts that would serve at one address are refused at plan time, naming both', (t) => {
  // h1 and h2 advertise one address with port offsets 0 and 1: h1's slot b is h2's slot a
  const f = [host(0, { edge: true, labels: { role: 'edge' } }), host(1, { advertise: '10.0.0.9' }), host(2, { advertise: '10.0.0.9', portOffset: 1 })];
  const live: TrafficDoc = {
    service: 'web',
    generation: 1,
    backends: [
      { addr: '10.0.0.9:8001', track: 'stable', weight: 1, agentId: 'h1', slot: 'a', version: 'v1' },
      { addr: '10.0.0.9:8002', track: 'stable', weight: 1, agentId: 'h2', slot: 'a', version: 'v1' },
    ],
  };
  const err = t.throws(() => planRollout(input({ fleet: f, traffic: live, liveVersion: 'v1' })), { instanceOf: ZddError });
  t.is((err as ZddError).code, 'PORT_IN_USE');
  t.regex(err!.message, /hosts h2 and h1 would both serve at 10\.0\.0\.9:8002|hosts h1 and h2 would both serve at 10\.0\.0\.9:8002/);
});

test('cordoned hosts are left out of a plan, with a note', (t) => {
  const f = fleet(3).map((h) => (h.agentId === 'h2' ? { ...h, cordoned: true } : h));
  const plan = planRollout(input({ fleet: f }));
  t.deepEqual(plan.hosts.map((h) => h.agentId), ['h1', 'h3']);
  t.true(plan.notes.some((n) => /left out \(cordoned\): h2/.test(n)));
});

test('a traffic change as a difference: rebuilt on its base it is the very document, and on any other base it is refused', (t) => {
  const b = (i: number, version = 'v1', slot = 'a') => ({ addr: `10.0.${i >> 8}.${i & 255}:${slot === 'a' ? 9100 : 9101}`, track: 'stable', weight: 1, agentId: `h${i}`, slot, version });
  const g1: TrafficDoc = applyOps(undefined, 'web', [{ op: 'add', backends: [...Array(1000)].map((_, i) => b(i)) }], 1);
  // one host swapped, a canary added with a split, a duplicate backend kept as two copies
  const g2 = applyOps(g1, 'web', [{ op: 'swap', moves: [{ agentId: 'h7', backend: b(7, 'v2', 'b') }] }], 2);
  const g3 = applyOps(g2, 'web', [{ op: 'add', backends: [{ ...b(9, 'v3', 'b'), track: 'canary' }] }, { op: 'route', split: { track: 'canary', percent: 5 } }], 3);
  const g4: TrafficDoc = { ...g3, generation: 4, backends: inOrder([...g3.backends, g3.backends[0]]) };
  for (const [base, next] of [[g1, g2], [g2, g3], [g3, g4], [g4, { ...g1, generation: 5 }], [g1, g4]] as const) {
    const d = trafficDiff(base, next);
    t.true(JSON.stringify(d).length < 2000, 'a handful of hosts changed: a small difference');
    t.deepEqual(applyDiff(base, d), next);
  }
  const d = trafficDiff(g2, g3);
  t.throws(() => applyDiff(g1, d), { message: /sent as a change to generation 2, and this side holds generation 1/ });
  t.throws(() => applyDiff(undefined, d), { message: /this side holds none/ });
  // the right generation with other content (never sent by zdd): refused by the count check
  t.throws(() => applyDiff({ ...g2, backends: g2.backends.slice(1) }, d), { message: /does not apply to generation 2/ });
});
