// Crash-safe rollouts with real processes: the coordinator SIGKILLed at every step boundary of a
// rolling rollout (points generated from the stored plan) and at random instants, under load.
// After each restart the rollout must complete, every host must have been swapped exactly once,
// the database must pass integrity_check, and no request may fail.
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import type { LocalFleet } from '../testkit/local-fleet.js';
import { deploy, fleetFor, load, parseJson, rolloutNow, settled, sleep, status, until, versionsServed } from './support/fleet.js';

interface Point {
  seq: number;
  when: 'before' | 'after';
  kind: string;
}

async function planPoints(fleet: LocalFleet, version: string): Promise<Point[]> {
  const r = await fleet.zddctl(['plan', 'web', '--version', version, '--json']);
  if (r.code !== 0) throw new Error(`zddctl plan failed: ${r.stderr}`);
  const plan = parseJson(r);
  return plan.steps.flatMap((s: { seq: number; kind: string }) => [
    { seq: s.seq, when: 'before' as const, kind: s.kind },
    { seq: s.seq, when: 'after' as const, kind: s.kind },
  ]);
}

const starts = (fleet: LocalFleet) => [1, 2, 3].map((i) => fleet.executed(i, 'start_instance'));

/** One rollout killed at `kill` (a crash point, or a delay for a random instant), then finished. */
async function interruptedRollout(t: ExecutionContext, fleet: LocalFleet, version: string, kill: Point | number) {
  const before = starts(fleet);
  if (typeof kill === 'number') {
    const r = await fleet.zddctl(['rollout', 'web', '--version', version, '--detach']);
    t.is(r.code, 0, r.stderr);
    await sleep(kill);
    await fleet.stopCoordinator('SIGKILL');
  } else {
    await fleet.stopCoordinator('SIGTERM');
    await fleet.startCoordinator({ ZDD_CRASH_AT: `${kill.seq}:${kill.when}` });
    await fleet.waitForAgents(3);
    const exited = fleet.coordinatorExited();
    const r = await fleet.zddctl(['rollout', 'web', '--version', version, '--detach']);
    // a crash point right after the rollout is stored may take the answer with it
    if (r.code !== 0) t.regex(r.stderr, /cannot reach the coordinator/);
    await exited;
  }
  await fleet.startCoordinator();
  const h = await fleet.zddctl(['history', 'web', '--json', '--limit', '1']);
  if (h.code !== 0) throw new Error(`zddctl history failed: ${h.stderr}`);
  const id = parseJson(h)[0].id;
  const s = await settled(fleet, id);
  const where = typeof kill === 'number' ? `${kill}ms in` : `${kill.when} step ${kill.seq} (${kill.kind})`;
  t.is(s.state, 'succeeded', `killed ${where}: ${s.error}`);
  t.deepEqual(
    starts(fleet).map((n, i) => n - before[i]),
    [1, 1, 1],
    `killed ${where}: every host swapped exactly once`,
  );
  if (typeof kill !== 'number') t.true(s.resumed_at_ms.length >= 1, 'the restart is on record');
  return s;
}

function integrity(t: ExecutionContext, fleet: LocalFleet) {
  const db = new Database(fleet.db, { readonly: true });
  try {
    t.is(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
}

async function killAtEveryBoundary(t: ExecutionContext, when: 'before' | 'after') {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const points = (await planPoints(fleet, 'v2')).filter((p) => p.when === when);
  t.true(points.length >= 14, `a 3-host rolling plan has ${points.length} ${when}-boundaries`);
  const gen = load(fleet, 200, 12);
  let version = 'v1';
  for (const p of points) {
    version = version === 'v1' ? 'v2' : 'v1';
    await interruptedRollout(t, fleet, version, p);
  }
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true(stats.requests > 1000);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set([version]));
  integrity(t, fleet);
}

test('coordinator SIGKILLed before the side effect of every step: each rollout completes, each host swaps once, no request fails', (t) =>
  killAtEveryBoundary(t, 'before'));

test('coordinator SIGKILLed after the side effect of every step, before its journal entry: the same', (t) => killAtEveryBoundary(t, 'after'));

test('coordinator SIGKILLed at random instants of rollouts under load: each completes exactly once', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet, 200, 12);
  let version = 'v1';
  for (const delay of [150, 400, 700, 1000, 250]) {
    version = version === 'v1' ? 'v2' : 'v1';
    await interruptedRollout(t, fleet, version, delay);
  }
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  integrity(t, fleet);
});

test('an agent SIGKILLed after starting the new instance and before the old one was drained: the rollout completes with no failed request', async (t) => {
  // an agent restart, not a host loss: on a busy machine the new agent may need more than the
  // default host grace to come back, and past it the host would be left out of the rollout
  const fleet = await fleetFor(t, { coordinatorArgs: ['--host-grace', '2m'] });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  // a slow health gate gives the test a window while host-2's new instance is being gated
  const spec = fleet.spec({ health: { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, minHealthy: '1500ms', deadline: '20s' } });
  await deploy(t, fleet, 'v1', spec);
  const gen = load(fleet, 200, 12);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--detach']);
  t.is(r.code, 0, r.stderr);
  await until('host-2 to start v2', async () => fleet.instances().some((i) => i.agent === 2 && i.version === 'v2'));
  await fleet.stopAgent(2, 'SIGKILL');
  const orphan = fleet.instances().find((i) => i.agent === 2 && i.version === 'v2')!;
  await sleep(1000);
  fleet.startAgent(2);
  const s = await settled(fleet, 'web-2');
  const stats = await gen.stop();
  t.is(s.state, 'succeeded', s.error);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const now = fleet.instances().filter((i) => i.agent === 2);
  t.deepEqual(now.map((i) => [i.version, i.pid]), [['v2', orphan.pid]], 'the new agent adopted the instance it found and gated it; nothing started twice');
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
});

test('a coordinator restarted while a rollout is paused keeps it paused until resumed', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  // a batch pause long enough that the pause below lands inside it on a slow, busy machine
  t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--pause', '30s', '--detach'])).code, 0);
  await until('batch 1 to finish', async () => (await status(fleet, 'web-2')).steps.some((s: any) => s.kind === 'pause' && s.state === 'running'));
  const p = await fleet.zddctl(['pause', 'web-2']);
  t.is(p.code, 0, p.stderr);
  const pauseStep = (await status(fleet, 'web-2')).steps.find((s: any) => s.kind === 'pause');
  await fleet.stopCoordinator('SIGKILL');
  await fleet.startCoordinator();
  // past the end of the 30 s batch pause: batch 2 would have begun by now had the rollout resumed
  await sleep(Math.max(0, pauseStep.started_at_ms + 31_000 - Date.now()));
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'paused');
  t.is(s.pause_reason, 'paused by admin');
  t.true(s.steps.filter((x: any) => x.batch >= 2).every((x: any) => x.state === 'pending'), 'nothing after the pause ran');
  const r = await fleet.zddctl(['resume', 'web-2']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /rollout web-2 succeeded/);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
});

test('resume of a finished or unknown rollout, and pause of one that is not running, are clear errors', async (t) => {
  const fleet = await fleetFor(t, { agents: 2 });
  fleet.writeRelease('v1');
  await deploy(t, fleet, 'v1');
  let r = await fleet.zddctl(['resume', 'web-1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /rollout web-1 is succeeded; only a paused rollout can be resumed/);
  r = await fleet.zddctl(['resume', 'web-7']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no rollout "web-7"/);
  r = await fleet.zddctl(['pause', 'web-1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /only a running rollout can be paused/);
});

test('an agent that vanishes mid-rollout pauses it at the deadline with the reason; resume continues once it is back', async (t) => {
  const fleet = await fleetFor(t, { coordinatorArgs: ['--agent-grace-ms', '1500'] });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet, 150, 8);
  t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--pause', '5s', '--detach'])).code, 0);
  await until('batch 1 to be done', async () => (await rolloutNow(fleet, 'web-2'))?.steps.some((s: any) => s.kind === 'pause' && s.state !== 'pending'));
  await fleet.stopAgent(3, 'SIGKILL');
  const w = await fleet.zddctl(['watch', 'web-2']);
  t.is(w.code, 1, 'the rollout stops, paused');
  t.regex(w.stdout, /rollout web-2 paused: agent host-3 (is not connected|disconnected).*zddctl resume web-2/);
  let s = await status(fleet, 'web-2');
  t.is(s.state, 'paused');
  t.is(s.steps.find((x: any) => x.agent_id === 'host-3' && x.kind === 'start').state, 'running', 'the step waits to be sent again');
  fleet.startAgent(3);
  await fleet.waitForAgents(3);
  const resumed = await fleet.zddctl(['resume', 'web-2']);
  t.is(resumed.code, 0, resumed.stdout + resumed.stderr);
  s = await status(fleet, 'web-2');
  t.is(s.state, 'succeeded');
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
});

test('a coordinator stopped gracefully (SIGTERM) mid-rollout resumes it by itself when started again', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  // a slow health gate keeps a start under way long enough to be seen, even on a busy machine
  await deploy(t, fleet, 'v1', fleet.spec({ health: { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, minHealthy: '4s', deadline: '20s' } }));
  t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--detach'])).code, 0);
  await until('a batch to be starting', async () => (await rolloutNow(fleet, 'web-2'))?.steps.some((s: any) => s.kind === 'start' && s.state === 'running'), 30_000);
  await fleet.stopCoordinator('SIGTERM');
  await fleet.startCoordinator();
  const s = await settled(fleet, 'web-2');
  t.is(s.state, 'succeeded', s.pause_reason || s.error);
  t.is(s.resumed_at_ms.length, 1);
  t.deepEqual([1, 2, 3].map((i) => fleet.executed(i, 'start_instance')), [2, 2, 2]);
});
