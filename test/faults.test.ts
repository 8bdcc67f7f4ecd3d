// What goes wrong in a deploy, with real processes: a version that never becomes healthy, nginx
// settings that do not validate, an app that ignores SIGTERM, a second rollout, an agent restart.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { deploy, fleetFor, get, load, running, status, until, versionsServed } from './support/fleet.js';

test('a version that never becomes healthy fails at the deadline; its instances stop and the old ones keep serving without a failed request', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2-broken', { healthStatus: 503 });
  // v1 starts under the default deadline; only the broken version gets the short one, and it is
  // still long enough for a busy machine to start the app, so that the app's own 503 is what the
  // deadline reports (on CI, a 1.5 s deadline was shorter than v1's start)
  await deploy(t, fleet, 'v1');
  t.is((await fleet.apply(fleet.spec({ health: { path: '/healthz', interval: '50ms', timeout: '500ms', healthyThreshold: 2, deadline: '6s' } }))).code, 0);
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2-broken']);
  const stats = await gen.stop();
  t.is(r.code, 1);
  t.regex(r.stdout, /rollout web-2 failed/);
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'failed');
  t.regex(s.error, /not healthy within 6000ms: GET \/healthz on port \d+ last answered 503/);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  const inst = fleet.instances();
  t.deepEqual(inst.map((i) => i.version), ['v1', 'v1', 'v1'], 'no instance of the broken version is left');
  const svc = JSON.parse((await fleet.zddctl(['history', 'web', '--json'])).stdout);
  t.deepEqual(svc.map((x: any) => x.state), ['failed', 'succeeded']);
});

test('nginx settings that fail `nginx -t` leave the live config and traffic untouched; the rollout fails with nginx\'s message', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const confFile = path.join(fleet.agentDir(1), 'edge/nginx/conf/zdd/svc-web.conf');
  const before = fs.readFileSync(confFile, 'utf8');
  const bad = fleet.spec();
  (bad.nginx as any).directives = ['proxy_read_timeout banana;'];
  t.is((await fleet.apply(bad)).code, 0, 'the directive is well-formed; only nginx can judge it');
  const gen = load(fleet, 200, 8);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2']);
  const stats = await gen.stop();
  t.is(r.code, 1);
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'failed');
  t.regex(s.error, /nginx rejected the configuration: .*"proxy_read_timeout" directive invalid value/);
  t.is(fs.readFileSync(confFile, 'utf8'), before, 'the live service config is unchanged');
  t.is(stats.failed, 0);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.false(s.steps.some((x: any) => x.kind === 'start' && x.state !== 'skipped'), 'no instance was started');
});

test('an app that ignores SIGTERM is killed at the drain timeout and the forced kill is reported', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1', { ignoreSigterm: true });
  fleet.writeRelease('v2');
  const spec = fleet.spec({ stop: { signal: 'SIGTERM', drainTimeout: '700ms' } });
  await deploy(t, fleet, 'v1', spec);
  const pids = fleet.instances().map((i) => i.pid);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '100%']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /ignored SIGTERM for 700ms: forced kill/);
  const s = await status(fleet, 'web-2');
  t.is(s.forced_kills, 3);
  for (const pid of pids) t.false(running(pid), `pid ${pid} is gone`);
});

test('a second rollout of a service while one runs is refused and changes nothing', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  // the first rollout waits between its batches for longer than the test: it is running, however
  // slowly the machine starts zddctl
  const first = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--pause', '10m', '--detach']);
  t.is(first.code, 0, first.stderr);
  const second = await fleet.zddctl(['rollout', 'web', '--version', 'v3']);
  t.is(second.code, 1);
  t.regex(second.stderr, /rollout web-2 of web is still running/);
  t.regex(second.stderr, /zddctl watch web-2/);
  t.is((await status(fleet, 'web-2')).state, 'running', 'the first rollout goes on');
  const hist = JSON.parse((await fleet.zddctl(['history', 'web', '--json'])).stdout);
  t.is(hist.length, 2, 'the refused rollout was not stored');
  t.false(fleet.instances().some((i) => i.version === 'v3'), 'nothing of v3 started');
  const aborted = await fleet.zddctl(['abort', 'web-2']);
  t.is(aborted.code, 0, aborted.stdout + aborted.stderr);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
});

test('an agent restarted while idle leaves its app serving, re-adopts it, and can swap it later', async (t) => {
  // an agent restart, not a host loss (see the membership tests for that): the host stays in the pool
  const fleet = await fleetFor(t, { coordinatorArgs: ['--host-grace', '2m'] });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const before = fleet.instances().find((i) => i.agent === 2)!;
  await fleet.stopAgent(2, 'SIGKILL');
  t.is((await get(before.port)).version, 'v1', 'the app still answers with its agent gone');
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  fleet.startAgent(2);
  await fleet.waitForAgents(3);
  const agents = await until('host-2 reports its instance', async () => {
    const list = JSON.parse((await fleet.zddctl(['agents', '--json'])).stdout);
    const a = list.find((x: any) => x.id === 'host-2');
    return a?.connected && JSON.parse(a.instances_json).length ? list : undefined;
  });
  const inst = JSON.parse(agents.find((x: any) => x.id === 'host-2').instances_json);
  t.is(inst[0].pid, before.pid, 'the same process was adopted, not restarted');
  t.regex(fleet.log('host-2'), /instance adopted/);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.false(running(before.pid), 'the adopted instance was drained and stopped by the new agent');
});
