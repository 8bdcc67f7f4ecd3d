// Rolling rollouts through real nginx, real agents and a real coordinator, under live load.
import test from 'ava';
import { deploy, fleetFor, load, versionsServed } from './support/fleet.js';

test('a rolling rollout v1→v2 across three agents under load fails no request (dynamic mode)', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  await new Promise((r) => setTimeout(r, 1000));
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2']);
  await new Promise((r) => setTimeout(r, 500));
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /rollout web-2 succeeded/);
  t.true(stats.requests > 500, `only ${stats.requests} requests were sent`);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true((stats.versions.v1 ?? 0) > 0 && (stats.versions.v2 ?? 0) > 0, JSON.stringify(stats.versions));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  const inst = fleet.instances();
  t.is(inst.length, 3, 'one instance per host once the old ones are stopped');
  t.true(inst.every((i) => i.version === 'v2' && i.slot === 'b' && i.state === 'healthy'));
  for (const i of [1, 2, 3]) t.is(fleet.executed(i, 'start_instance'), 2, `host-${i} started v1 once and v2 once`);
});

test('the same rollout completes in reload mode, with plain nginx', async (t) => {
  const fleet = await fleetFor(t, { edgeMode: 'reload' });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const agents = JSON.parse((await fleet.zddctl(['agents', '--json'])).stdout);
  t.is(agents.find((a: any) => a.id === 'host-1').edge_mode, 'reload');
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '2']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.true(stats.requests > 100);
  // Reload mode's residual failures under keep-alive load are measured by the benchmark, not hidden;
  // here the rollout must complete and leave only v2 serving.
  t.log(`reload mode: ${stats.requests} requests, ${stats.failed} failed ${JSON.stringify(stats.failures)}`);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  t.true(fleet.instances().every((i) => i.version === 'v2'));
});

test('an app that exits at once on SIGTERM loses no request: the edge drains it first', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1', { exitAtOnce: true, delayMs: 5 });
  fleet.writeRelease('v2', { exitAtOnce: true, delayMs: 5 });
  await deploy(t, fleet, 'v1');
  const gen = load(fleet, 400, 24);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true(stats.requests > 300);
});
