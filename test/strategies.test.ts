// Blue/green and canary rollouts, analysis, abort and rollback, through real nginx, real agents and
// a real coordinator, under live load.
import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { deploy, fleetFor, load, parseJson, settled, status, until, versionsServed } from './support/fleet.js';
import type { LocalFleet } from '../testkit/local-fleet.js';

/** GET / with headers; the version that answered. */
function getWith(port: number, headers: Record<string, string>): Promise<{ status: number; version: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 3000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? '') }));
      })
      .on('error', () => resolve({ status: 0, version: '' }));
  });
}

async function versionsWith(port: number, headers: Record<string, string>, n = 12): Promise<string[]> {
  const out = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await getWith(port, headers);
    // an app's own error answer still names the version that gave it
    out.add(r.version || `HTTP ${r.status}`);
  }
  return [...out].sort();
}

const trafficEvents = (r: any) => r.events.filter((e: any) => /^traffic generation/.test(e.message));

async function rolloutWaiting(fleet: LocalFleet, id: string, waiting: string) {
  return until(`${id} waiting for ${waiting}`, async () => {
    const r = await status(fleet, id);
    return r.waiting === waiting ? r : undefined;
  }, 30_000);
}

test('blue-green: the preview listener serves the new colour before the switch, the switch is one generation, and only the new version is left (0 failed under load)', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  const seen = path.join(fleet.dir, 'seen-at-verify.json');
  // the verification command looks at both listeners while the new colour is only in preview
  const probe = `const g=(u)=>fetch(u).then(r=>r.headers.get('x-app-version'));Promise.all([g(process.env.ZDD_PREVIEW_URL+'/'),g('http://127.0.0.1:${fleet.nginxPort}/')]).then(([p,l])=>{require('fs').writeFileSync(${JSON.stringify(seen)},JSON.stringify({preview:p,live:l}));process.exit(p==='v2'&&l==='v1'?0:1)})`;
  const spec = fleet.spec({
    nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', preview: `127.0.0.1:${fleet.previewPort}` },
    verify: { checks: [{ path: '/healthz', expectStatus: 200, bodyContains: 'v2' }], command: [process.execPath, '-e', probe], timeout: '10s' },
  });
  await deploy(t, fleet, 'v1', spec);
  t.deepEqual(await versionsServed(fleet.previewPort, 5), new Set(['v1']), 'with no new colour the preview listener serves the live one');
  const gen = load(fleet);
  await new Promise((r) => setTimeout(r, 500));
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green', '--bake', '1s', '--min-requests', '20']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(JSON.parse(fs.readFileSync(seen, 'utf8')), { preview: 'v2', live: 'v1' });
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true(stats.requests > 300, `only ${stats.requests} requests`);
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'succeeded');
  t.true(s.events.some((e: any) => /verification against the preview listener passed/.test(e.message)));
  t.true(s.events.some((e: any) => /bake of blue passed/.test(e.message)), 'the bake judged the new colour');
  // new colour in (preview), the switch, the old colour out
  t.is(trafficEvents(s).length, 3);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  const inst = fleet.instances();
  t.is(inst.length, 3);
  t.true(inst.every((i) => i.version === 'v2'));
  t.is(JSON.parse(s.traffic_json).primary, 'blue');
});

test('blue-green rollback inside the keep-old window is one traffic change and fails no request', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const v1Pids = fleet.instances().map((i) => i.pid).sort();
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green', '--keep-old', '2m']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stderr, /zddctl rollback web switches back/);
  const waiting = await status(fleet, 'web-2');
  t.is(waiting.waiting, 'keep-old window');
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));
  const before = trafficEvents(waiting).length;
  const rb = await fleet.zddctl(['rollback', 'web']);
  const stats = await gen.stop();
  t.is(rb.code, 0, rb.stdout + rb.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'rolled_back');
  t.is(trafficEvents(s).length - before, 1, 'the rollback is a single traffic change');
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  const inst = fleet.instances();
  t.deepEqual(inst.map((i) => i.pid).sort(), v1Pids, 'the warm v1 instances serve again; nothing was restarted');
  t.true(inst.every((i) => i.version === 'v1'));
  const hist = parseJson(await fleet.zddctl(['history', 'web', '--json']));
  t.is(hist[0].state, 'rolled_back');
});

test('canary, manual: dark at weight 0 but reachable by header and cookie, sticky clients as the share grows, stable reachable at 100, 0 failed under load', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '50,100', '--min-requests', '1']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stderr, /zddctl promote web-2/);
  const port = fleet.nginxPort;
  // weight 0
  t.deepEqual(await versionsWith(port, { 'X-Zdd-Track': 'canary' }), ['v2']);
  t.deepEqual(await versionsWith(port, { Cookie: 'zdd_track=canary' }), ['v2']);
  t.deepEqual(await versionsWith(port, { Cookie: 'zdd_key=someone' }), ['v1']);
  const keys = [...Array(40)].map((_, i) => `user-${i}`);
  const at = async () => {
    const out: Record<string, string[]> = {};
    for (const k of keys) out[k] = await versionsWith(port, { Cookie: `zdd_key=${k}` }, 4);
    return out;
  };
  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  const s50 = await rolloutWaiting(fleet, 'web-2', 'promote');
  t.regex(s50.analysis_json, /canary at 50%/);
  const half = await at();
  for (const k of keys) t.is(half[k].length, 1, `${k} sees one version at 50%: ${half[k]}`);
  const onCanary = keys.filter((k) => half[k][0] === 'v2');
  t.true(onCanary.length >= 8 && onCanary.length <= 32, `about half the clients on the canary: ${onCanary.length}/40`);
  t.regex((await fleet.zddctl(['status', 'web-2'])).stdout, /serving\s+v1 50% \(stable\), v2 50% \(canary\)/);
  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  await until('step 100', async () => {
    const s = await status(fleet, 'web-2');
    return s.waiting === 'promote' && /canary at 100%/.test(s.analysis_json) ? s : undefined;
  }, 30_000);
  const full = await at();
  for (const k of keys) t.deepEqual(full[k], ['v2'], `${k} at 100%`);
  t.deepEqual(await versionsWith(port, { 'X-Zdd-Track': 'stable' }), ['v1'], 'the stable track is still reachable by header at 100');
  const done = await fleet.zddctl(['promote', 'web-2']);
  t.is(done.code, 0);
  const final = await settled(fleet, 'web-2', 30_000);
  const stats = await gen.stop();
  t.is(final.state, 'succeeded', final.error);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true((stats.versions.v1 ?? 0) > 0 && (stats.versions.v2 ?? 0) > 0);
  t.deepEqual(await versionsServed(port), new Set(['v2']));
  t.true(fleet.instances().every((i) => i.version === 'v2'));
  t.is(fleet.instances().length, 3);
});

test('canary, timed: each step passes its analysis after its pause, and the rollout ends with only the new version (0 failed under load)', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '30,100', '--step-pause', '1s', '--min-requests', '20', '--canary-hosts', '2']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const s = await status(fleet, 'web-2');
  t.is(s.events.filter((e: any) => /canary at \d+% passed/.test(e.message)).length, 2, 'both steps were judged');
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  t.true(fleet.instances().every((i) => i.version === 'v2'));
  // with no rollout active, rollback is a rollout of its own back to the previous version
  const gen2 = load(fleet);
  const rb = await fleet.zddctl(['rollback', 'web']);
  const stats2 = await gen2.stop();
  t.is(rb.code, 0, rb.stdout + rb.stderr);
  t.is(stats2.failed, 0, JSON.stringify(stats2.failures));
  const back = await status(fleet, 'web-3');
  t.is(back.strategy, 'rollback');
  t.is(back.state, 'succeeded');
  t.is(back.version, 'v1');
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.true(fleet.instances().every((i) => i.version === 'v1'));
  t.is(fleet.instances().length, 3);
});

test('blue-green: a failing verification removes the new colour before any user sees it, and a colour that errors during its bake is switched back automatically', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  fleet.writeRelease('v3', { errorRate: 0.3 });
  // the preview listener exists before the load starts: adding a listener is the one change that
  // reloads nginx, and a reload under keep-alive load can reset a connection (see bench/RESULTS.md)
  const listeners = { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', preview: `127.0.0.1:${fleet.previewPort}` };
  const strict = fleet.spec({ nginx: listeners, verify: { checks: [{ path: '/healthz', bodyContains: 'nothing-like-this' }] } });
  await deploy(t, fleet, 'v1', strict);
  const gen = load(fleet);
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green']);
  t.is(r.code, 1);
  let s = await status(fleet, 'web-2');
  t.is(s.state, 'rolled_back');
  t.regex(s.error, /verification against the preview listener failed: GET \/healthz on the preview listener answered without "nothing-like-this"/);
  t.is(gen.stats.failed, 0, JSON.stringify(gen.stats.failures));
  t.is(gen.stats.versions.v2 ?? 0, 0, 'no user saw v2');
  t.true(fleet.instances().every((i) => i.version === 'v1'));
  t.is((await fleet.apply(fleet.spec({ nginx: listeners }))).code, 0);
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--strategy', 'blue-green', '--bake', '30s', '--min-requests', '50', '--max-error-rate', '5%']);
  const stats = await gen.stop();
  t.is(r.code, 1);
  s = await status(fleet, 'web-3');
  t.is(s.state, 'rolled_back');
  t.regex(s.error, /bake of blue failed analysis: error rate/);
  for (const k of Object.keys(stats.failures)) t.is(k, 'HTTP 500 from v3', JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.true(fleet.instances().every((i) => i.version === 'v1'));
  t.is(fleet.instances().length, 3);
});

test('a canary that answers 500 to a fifth of its requests is rolled back automatically; the stable version serves throughout', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2', { errorRate: 0.2 });
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '25,50,100', '--step-pause', '20s', '--min-requests', '30', '--max-error-rate', '5%']);
  const stats = await gen.stop();
  t.is(r.code, 1, 'a rolled-back rollout is not a success');
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'rolled_back');
  t.regex(s.error, /canary at 25% failed analysis: error rate/);
  t.regex(s.analysis_json, /FAILED/);
  // every failure the clients saw came from the canary's own 500s, none from the switch
  for (const k of Object.keys(stats.failures)) t.is(k, 'HTTP 500 from v2', JSON.stringify(stats.failures));
  t.true((stats.failures['HTTP 500 from v2'] ?? 0) > 0);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  const inst = fleet.instances();
  t.true(inst.every((i) => i.version === 'v1'), JSON.stringify(inst));
  t.is(inst.length, 3);
  t.is(JSON.parse(s.traffic_json).split, undefined, 'no canary share is left');
});

test('abort returns a rolling rollout to the old version, host by host', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--pause', '1m', '--detach']);
  t.is(r.code, 0, r.stderr);
  await rolloutWaiting(fleet, 'web-2', 'pause');
  const a = await fleet.zddctl(['abort', 'web-2', '--reason', 'testing abort']);
  const stats = await gen.stop();
  t.is(a.code, 0, a.stdout + a.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const s = await status(fleet, 'web-2');
  t.is(s.state, 'aborted');
  t.regex(s.error, /testing abort/);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.true(fleet.instances().every((i) => i.version === 'v1'));
  t.is(fleet.instances().length, 3);
});

test('bad input: canary steps, canary size, promote, abort, rollback and preview ports get clear errors and change nothing', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  // nothing to roll back before anything was deployed
  t.is((await fleet.apply(fleet.spec())).code, 0);
  let r = await fleet.zddctl(['rollback', 'web']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no previous version to return to/);
  await deploy(t, fleet, 'v1');
  const trafficBefore = JSON.stringify(JSON.parse((await status(fleet, 'web-1')).traffic_json));
  // a dry run shows each traffic change and changes nothing
  const plan = await fleet.zddctl(['plan', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '10,50']);
  t.is(plan.code, 0, plan.stderr);
  t.regex(plan.stdout, /generation 3: live → stable, 10% of clients → canary \(v1 90%, v2 10%\)/);
  t.regex(plan.stdout, /analyze {2}canary at 50%: until zddctl promote/);
  const cases: [string[], RegExp][] = [
    [['--strategy', 'canary', '--steps', '50,25,100'], /canary steps must increase/],
    [['--strategy', 'canary', '--steps', '0,50'], /not a whole percentage from 1 to 100/],
    [['--strategy', 'canary', '--steps', '10,150'], /not a whole percentage from 1 to 100/],
    [['--strategy', 'canary', '--canary-hosts', '4'], /canary on 4 hosts does not fit: web has 3 target host/],
    [['--strategy', 'blue-green', '--steps', '10'], /belong to --strategy canary/],
    [['--strategy', 'sideways'], /unknown strategy/],
  ];
  for (const [args, want] of cases) {
    r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', ...args]);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, want, args.join(' '));
  }
  r = await fleet.zddctl(['promote', 'web-1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /not waiting at a step that can be promoted/);
  r = await fleet.zddctl(['abort', 'web-1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /only a running or paused rollout can be aborted/);
  r = await fleet.zddctl(['rollback', 'web']);
  t.is(r.code, 1, 'v1 is the first version: nothing before it');
  t.regex(r.stderr, /no previous version/);
  // the preview listener on the live listener's port: refused by the spec
  r = await fleet.apply(fleet.spec({ nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, preview: `127.0.0.1:${fleet.nginxPort}` } }));
  t.is(r.code, 1);
  t.regex(r.stderr, /preview listener needs a port of its own/);
  // on a port another process listens on (the coordinator's): refused by the edge, nothing changes
  const coordPort = fleet.coordinatorAddr.split(':')[1];
  t.is((await fleet.apply(fleet.spec({ nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', preview: `127.0.0.1:${coordPort}` } }))).code, 0);
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green']);
  t.is(r.code, 1);
  t.regex(r.stdout + r.stderr, new RegExp(`preview listener of web \\(127.0.0.1:${coordPort}\\): port ${coordPort} is already in use`));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.is(JSON.stringify(JSON.parse((await status(fleet)).traffic_json)), trafficBefore, 'the traffic document is unchanged');
  t.true(fleet.instances().every((i) => i.version === 'v1'));
  t.is(parseJson(await fleet.zddctl(['history', 'web', '--json'])).length, 2, 'only the refused-at-the-edge rollout was recorded');
});

test('reload mode (plain nginx): blue-green through the preview listener, then a failing canary reached by header at weight 0 and rolled back from the access log counts', async (t) => {
  const fleet = await fleetFor(t, { edgeMode: 'reload' });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  fleet.writeRelease('v3', { errorRate: 0.3 });
  const spec = fleet.spec({
    nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', preview: `127.0.0.1:${fleet.previewPort}` },
    verify: { checks: [{ path: '/healthz', bodyContains: 'v2' }] },
  });
  await deploy(t, fleet, 'v1', spec);
  // a bake with no traffic waits (too little to judge): the load runs throughout
  const gen = load(fleet);
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green', '--bake', '500ms', '--min-requests', '20']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  t.true(fleet.instances().every((i) => i.version === 'v2'));
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--strategy', 'canary', '--steps', '50,100', '--min-requests', '30', '--max-error-rate', '5%']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(await versionsWith(fleet.nginxPort, { 'X-Zdd-Track': 'canary' }, 20), ['v3'], 'the header reaches the canary at weight 0');
  t.deepEqual(await versionsWith(fleet.nginxPort, { Cookie: 'zdd_key=someone' }), ['v2']);
  t.is((await fleet.zddctl(['promote', 'web-3'])).code, 0);
  const end = await settled(fleet, 'web-3', 30_000);
  const stats = await gen.stop();
  t.is(end.state, 'rolled_back', end.error);
  t.regex(end.error, /canary at 50% failed analysis: error rate/);
  t.log(`reload mode: ${stats.requests} requests, failures ${JSON.stringify(stats.failures)}`);
  for (const k of Object.keys(stats.failures)) t.true(k === 'HTTP 500 from v3' || k === 'ECONNRESET', `unexpected failure kind ${k}`);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
  t.true(fleet.instances().every((i) => i.version === 'v2'));
});

test('crash safety: a coordinator killed while a canary waits resumes the same wait, and killed just as a failed analysis ends, still rolls the canary back', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  fleet.writeRelease('v3', { errorRate: 0.3 });
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  // 1. manual canary waiting for promote: SIGKILL, restart, still waiting at the same step
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '50,100', '--min-requests', '10']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  const before = await until('the 50% step', async () => {
    const s = await status(fleet, 'web-2');
    return s.waiting === 'promote' && /canary at 50%/.test(s.analysis_json) ? s : undefined;
  });
  const step = before.steps.find((s: any) => s.kind === 'analyze' && s.state === 'running');
  await fleet.stopCoordinator('SIGKILL');
  await fleet.startCoordinator();
  const after = await rolloutWaiting(fleet, 'web-2', 'promote');
  const again = after.steps.find((s: any) => s.kind === 'analyze' && s.state === 'running');
  t.is(again.seq, step.seq, 'the same step waits');
  t.is(JSON.stringify(JSON.parse(again.result_json).baseline), JSON.stringify(JSON.parse(step.result_json).baseline), 'with the journalled baseline');
  t.is(JSON.parse(after.traffic_json).split.percent, 50);
  // abort after the restart returns to v1
  r = await fleet.zddctl(['abort', 'web-2']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is((await status(fleet, 'web-2')).state, 'aborted');
  // 2. a failing canary, the coordinator killed right after its analysis failed but before that was recorded
  const plan = parseJson(await fleet.zddctl(['plan', 'web', '--version', 'v3', '--strategy', 'canary', '--steps', '50,100', '--step-pause', '30s', '--json']));
  const analyze = plan.steps.find((s: any) => s.kind === 'analyze');
  await fleet.stopCoordinator('SIGTERM');
  await fleet.startCoordinator({ ZDD_CRASH_AT: `${analyze.seq}:after` });
  await fleet.waitForAgents(3);
  const exited = fleet.coordinatorExited();
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--strategy', 'canary', '--steps', '50,100', '--step-pause', '30s', '--min-requests', '30', '--max-error-rate', '5%', '--detach']);
  t.is(r.code, 0, r.stderr);
  await exited;
  await fleet.startCoordinator();
  const end = await settled(fleet, 'web-3', 60_000);
  const stats = await gen.stop();
  t.is(end.state, 'rolled_back', end.error);
  t.true(end.resumed_at_ms.length >= 1);
  for (const k of Object.keys(stats.failures)) t.is(k, 'HTTP 500 from v3', JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  t.true(fleet.instances().every((i) => i.version === 'v1'));
});
