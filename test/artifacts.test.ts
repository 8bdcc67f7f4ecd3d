// Release artifacts, lifecycle hooks and in-place rollouts through real agents, nginx and a
// coordinator, under load: what a rollout from a build system looks like, and what a bad artifact,
// a failing hook or a taken port leave behind (the old version serving, nothing else).
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { portFree } from '../lib/proc.js';
import { deploy, fleetFor, load, parseJson, running, status, until, versionsServed } from './support/fleet.js';
import type { LocalFleet } from '../testkit/local-fleet.js';
import { writeTarGz } from './support/tar.js';

/** Serves the fleet's directory over HTTP (the build system's artifact store); closed in teardown. */
async function artifactServer(t: { teardown(fn: () => void): void }, fleet: LocalFleet): Promise<{ url: (f: string) => string; close: () => void; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const file = path.join(fleet.dir, path.basename(req.url ?? ''));
    if (!fs.existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  t.teardown(close);
  const port = (server.address() as { port: number }).port;
  return { url: (f) => `http://127.0.0.1:${port}/${path.basename(f)}`, close, hits };
}

/** A spec that runs the app from staged releases (no workdir) and logs every hook it runs. */
function releaseSpec(fleet: LocalFleet, extra: Record<string, unknown> = {}) {
  const log = path.join(fleet.dir, 'hooks.log');
  const hooks = Object.fromEntries(
    ['pre', 'beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop', 'post'].map((h) => [h, `echo "$ZDD_AGENT_ID $ZDD_HOOK $ZDD_VERSION $(basename "$PWD")" >> ${log}; echo "$ZDD_HOOK ran"`]),
  );
  const spec = fleet.spec({ hooks, release: { keep: 2 }, ...extra });
  delete spec.workdir;
  return { spec, log };
}

const releasesOn = (fleet: LocalFleet, i: number) => {
  try {
    return fs.readdirSync(path.join(fleet.agentDir(i), 'releases/web')).filter((f) => !f.startsWith('.')).sort();
  } catch {
    return [];
  }
};

test('artifacts over HTTP are staged on every host before the first batch; hooks run in order with their output in the events; 0 failed under load; old releases are pruned and a rollback needs no download', async (t) => {
  const fleet = await fleetFor(t);
  const store = await artifactServer(t, fleet);
  const [a1, a2, a3] = ['v1', 'v2', 'v3'].map((v) => fleet.packRelease(v));
  const { spec, log } = releaseSpec(fleet);
  t.is((await fleet.apply(spec)).code, 0);
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%', '--artifact', store.url(a1.file), '--sha256', a1.sha256]);
  t.is(r.code, 0, r.stdout + r.stderr);
  fs.writeFileSync(log, '');

  const gen = load(fleet);
  await new Promise((res) => setTimeout(res, 300));
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--artifact', store.url(a2.file), '--sha256', a2.sha256, '--stage-concurrency', '2']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true(stats.requests > 300);
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));

  const s = await status(fleet);
  const messages: string[] = s.events.map((e: any) => `${e.agent_id} ${e.message}`);
  const staged = messages.filter((m) => / staged v2 \(/.test(m));
  t.is(staged.length, 3);
  const firstStart = messages.findIndex((m) => /batch 1: starting v2/.test(m));
  t.true(messages.every((m, i) => !/ staged v2/.test(m) || i < firstStart), 'every host staged before the first start');
  t.true(messages.some((m) => /staging v2 from http:.* on 3 host\(s\), 2 at a time/.test(m)));
  t.true(messages.some((m) => /^host-1 hook pre passed in \d+ms: pre ran$/.test(m)), messages.join('\n'));
  // every hook in its place, in the new release's directory
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  t.is(lines[0], 'host-1 pre v2 v2');
  t.is(lines.at(-1), 'host-1 post v2 v2');
  t.deepEqual(lines.filter((l) => l.startsWith('host-2 ')), ['host-2 beforeStart v2 v2', 'host-2 afterHealthy v2 v2', 'host-2 beforeDrain v2 v2', 'host-2 afterStop v2 v2']);
  // batches in order: host-1's swap ends before host-2's starts
  t.true(lines.indexOf('host-1 afterStop v2 v2') < lines.indexOf('host-2 beforeStart v2 v2'));

  r = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--batch', '100%', '--artifact', store.url(a3.file), '--sha256', a3.sha256]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(releasesOn(fleet, 2), ['v2', 'v3'], 'release.keep 2: v1 was removed');
  // the artifact store goes away: going back to v2 needs nothing from it
  store.close();
  const fetched = store.hits.length;
  r = await fleet.zddctl(['rollback', 'web']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));
  t.is(store.hits.length, fetched);
});

const asRoot = process.getuid?.() === 0;

test(`bad artifacts (checksum mismatch, unreachable URL, a member escaping the release${asRoot ? ', a full disk' : '; the full disk case skipped: a small tmpfs needs root'}) fail before anything starts; traffic and the running version are unchanged`, async (t) => {
  // host-3 keeps its releases on a 2 MB file system
  const small = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-small-'));
  t.teardown(() => {
    if (asRoot) spawnSync('umount', ['-l', small]);
    fs.rmSync(small, { recursive: true, force: true });
  });
  if (asRoot) t.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]).status, 0);
  const fleet = await fleetFor(t, { agentArgs: (i) => (i === 3 ? ['--releases-dir', small] : []) });
  const store = await artifactServer(t, fleet);
  const a1 = fleet.packRelease('v1');
  const a2 = fleet.packRelease('v2');
  const { spec } = releaseSpec(fleet, { hooks: {} });
  t.is((await fleet.apply(spec)).code, 0);
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%', '--artifact', store.url(a1.file), '--sha256', a1.sha256]);
  t.is(r.code, 0, r.stdout + r.stderr);
  const before = fleet.instances().map((i) => `${i.agent}:${i.version}:${i.pid}`).sort();
  const escaping = writeTarGz(path.join(fleet.dir, 'web-v3.tar.gz'), [
    { name: 'server.js', data: fs.readFileSync(path.join(fleet.releases, 'v1/server.js')) },
    { name: '../../../../escaped.txt', data: 'out' },
  ]);
  const cases: [string, string[], RegExp][] = [
    ['checksum mismatch', ['--version', 'v2', '--artifact', store.url(a2.file), '--sha256', 'f'.repeat(64)], /has sha256 [0-9a-f]{64}, not the expected f{64}; nothing was staged/],
    ['unreachable URL', ['--version', 'v2', '--artifact', 'http://127.0.0.1:1/web-v2.tar.gz', '--sha256', a2.sha256], /cannot fetch the artifact http:\/\/127\.0\.0\.1:1\/web-v2\.tar\.gz: ECONNREFUSED/],
    ['escaping member', ['--version', 'v3', '--artifact', store.url(escaping.file), '--sha256', escaping.sha256], /artifact member "\.\.\/\.\.\/\.\.\/\.\.\/escaped\.txt" would land outside the release directory/],
  ];
  for (const [what, args, message] of cases) {
    const gen = load(fleet, 100, 4);
    r = await fleet.zddctl(['rollout', 'web', ...args]);
    const stats = await gen.stop();
    t.not(r.code, 0, what);
    const s = await status(fleet);
    t.is(s.state, 'failed', what);
    t.regex(s.error, /staging the release failed on 3 host\(s\)/, what);
    t.regex(s.error, message, what);
    t.regex(s.error, /Nothing was started and traffic is unchanged/, what);
    t.false(s.steps.some((x: any) => x.kind === 'start' && x.state !== 'skipped'), what);
    t.is(stats.failed, 0, what);
    t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v1']), what);
    t.deepEqual(fleet.instances().map((i) => `${i.agent}:${i.version}:${i.pid}`).sort(), before, `${what}: the same v1 processes run`);
    for (const i of [1, 2]) t.deepEqual(releasesOn(fleet, i), ['v1'], `${what}: nothing staged on host-${i}`);
    t.deepEqual(fs.readdirSync(path.join(small, 'web')).filter((f) => !f.startsWith('.')), ['v1'], `${what}: nothing staged on host-3`);
  }
  if (asRoot) {
    // a release too big for host-3's disk: the others stage it, and still nothing starts
    const big = writeTarGz(path.join(fleet.dir, 'web-v4.tar.gz'), [
      { name: 'server.js', data: fs.readFileSync(path.join(fleet.releases, 'v1/server.js')) },
      { name: 'assets.bin', data: crypto.randomBytes(3 << 20) },
    ]);
    r = await fleet.zddctl(['rollout', 'web', '--version', 'v4', '--artifact', store.url(big.file), '--sha256', big.sha256]);
    t.not(r.code, 0);
    const s = await status(fleet);
    t.regex(s.error, /staging the release failed on 1 host\(s\): host-3: not enough disk space on .* to stage web v4: the 3\.\d MB artifact needs about [\d.]+ MB, [\d.]+ MB free; nothing was staged/);
    t.false(s.steps.some((x: any) => x.kind === 'start' && x.state !== 'skipped'));
    t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v1']));
    t.deepEqual(fleet.instances().map((i) => `${i.agent}:${i.version}:${i.pid}`).sort(), before);
    t.deepEqual(fs.readdirSync(path.join(small, 'web')).filter((f) => !f.startsWith('.pruned')), ['v1'], 'no partial download left on the full disk');
  }
  t.false(fs.existsSync(path.join(fleet.dir, 'escaped.txt')));
  // a bad --sha256 or a relative URL never reaches the hosts
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--artifact', store.url(a2.file), '--sha256', 'xyz']);
  t.not(r.code, 0);
  t.regex(r.stderr, /--artifact needs --sha256 with the artifact's 64-hex-digit sha256, not "xyz"/);
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--artifact', 'ftp://x/y.tgz', '--sha256', a2.sha256]);
  t.regex(r.stderr, /neither an absolute path nor a file:\/\/, http:\/\/ or https:\/\/ URL/);
});

test('a failing hook and a hook that times out stop the rollout before traffic moves; a port already taken is a clear error; the old version keeps serving', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const v1 = fleet.instances().map((i) => `${i.agent}:${i.pid}`).sort();
  const check = async (what: string, args: string[], message: RegExp) => {
    const gen = load(fleet, 100, 4);
    const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', ...args]);
    const stats = await gen.stop();
    t.not(r.code, 0, what);
    const s = await status(fleet);
    t.is(s.state, 'failed', what);
    t.regex(s.error, message, what);
    t.is(stats.failed, 0, what);
    t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v1']), what);
    await until(`${what}: new instances stopped`, () => fleet.instances().every((i) => i.version === 'v1'));
    t.deepEqual(fleet.instances().map((i) => `${i.agent}:${i.pid}`).sort(), v1, `${what}: the same v1 processes serve`);
    return s;
  };

  t.is((await fleet.apply(fleet.spec({ hooks: { afterHealthy: 'echo "smoke test: /orders answered 500"; exit 3' } }))).code, 0);
  let s = await check('failing hook', [], /hook afterHealthy failed on host-1: hook afterHealthy .* failed on host-1: exit status 3; output: smoke test: \/orders answered 500\. Traffic did not move for batch 1/);
  t.true(s.events.some((e: any) => e.level === 'error' && /smoke test/.test(e.message)));

  const pidFile = path.join(fleet.dir, 'hook.pid');
  t.is((await fleet.apply(fleet.spec({ hooks: { beforeStart: { command: `echo $$ > ${pidFile}; exec sleep 30`, timeout: '1s' } } }))).code, 0);
  s = await check('hook timeout', ['--batch', '100%'], /hook beforeStart .* failed on host-\d: killed after 1000ms/);
  t.false(s.steps.some((x: any) => x.kind === 'start' && x.state !== 'skipped'), 'nothing started');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  t.false(running(pid), 'the timed-out hook was killed, with its process group');

  // host-2's slot b (the new version's) is taken by something else
  t.is((await fleet.apply(fleet.spec())).code, 0);
  const squatter = net.createServer();
  const port = fleet.appPortBase + 2 + 1;
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  await check('port taken', ['--batch', '100%'], new RegExp(`host-2: port ${port} \\(slot b of web\\) is already taken on this host`));
});

test('in place: each batch leaves the pool, swaps with one instance per host, and comes back; 0 failed under load', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet);
  await new Promise((res) => setTimeout(res, 300));
  // (--max-load is left to the planner's tests: every agent here reports the same machine's load)
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--in-place', '--batch', '2']);
  const stats = await gen.stop();
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));
  const s = await status(fleet);
  const traffic = s.events.filter((e: any) => /^traffic generation/.test(e.message)).map((e: any) => e.message.replace(/ applied in \d+ms/, ''));
  // out: the batch's hosts leave; back: they return with v2; never more than one instance per host
  t.regex(traffic[0], /^traffic generation \d+: host-3=v1$/);
  t.regex(traffic[1], /host-1=v2 host-2=v2 host-3=v1/);
  t.is(traffic.length, 4);
  // the agents report their load, which --max-load plans with
  const agents = parseJson(await fleet.zddctl(['agents', '--json']));
  t.true(agents.every((a: any) => a.cores > 0 && a.load_pct >= 0), JSON.stringify(agents[0]));
});

test('in place: a version that fails its health gate returns the batch to the old version, which starts again and rejoins the pool (0 failed under load)', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2', { healthStatus: 503 });
  // the deadline also applies to v1 starting again on the way back: long enough for a busy machine
  await deploy(t, fleet, 'v1', fleet.spec({ health: { path: '/healthz', interval: '50ms', timeout: '1s', healthyThreshold: 2, deadline: '8s' } }));
  const gen = load(fleet);
  await new Promise((res) => setTimeout(res, 300));
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--in-place', '--batch', '2']);
  const stats = await gen.stop();
  t.not(r.code, 0);
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const s = await status(fleet);
  t.is(s.state, 'rolled_back', s.error);
  t.regex(s.error, /batch 1 failed/);
  const traffic = s.events.filter((e: any) => /^traffic generation/.test(e.message)).map((e: any) => e.message.replace(/ applied in \d+ms/, ''));
  t.regex(traffic.at(-1), /host-1=v1 host-2=v1 host-3=v1$/, traffic.join('\n'));
  t.deepEqual(await versionsServed(fleet.nginxPort, 12), new Set(['v1']));
  t.deepEqual(fleet.instances().map((i) => `${i.agent}:${i.version}:${i.slot}`).sort(), ['1:v1:a', '2:v1:a', '3:v1:a']);
  const r2 = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--in-place', '--failure-limit', '1']);
  t.regex(r2.stderr, /--failure-limit does not apply to --in-place/);
});

test('a hook under way when its agent restarts is never run again: its outcome is unknown, and the rollout stops before traffic moves', async (t) => {
  const fleet = await fleetFor(t, { coordinatorArgs: ['--agent-grace-ms', '20000'] });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const ran = path.join(fleet.dir, 'migrations.log');
  const pidFile = path.join(fleet.dir, 'migration.pid');
  // long enough that the agent is surely killed while it runs, however loaded the machine
  t.is((await fleet.apply(fleet.spec({ hooks: { pre: { command: `echo "$ZDD_AGENT_ID" >> ${ran}; echo $$ > ${pidFile}; exec sleep 20`, timeout: '60s' } } }))).code, 0);
  t.teardown(() => {
    try {
      process.kill(-Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL'); // the hook this test started, by its process group
    } catch {
      /* gone */
    }
  });
  const done = fleet.zddctl(['rollout', 'web', '--version', 'v2']);
  await until('the pre hook to start', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim(), 15_000);
  await fleet.stopAgent(1, 'SIGKILL');
  fleet.startAgent(1);
  const r = await done;
  t.not(r.code, 0);
  const s = await status(fleet);
  t.is(s.state, 'failed');
  // the agent may be killed before it wrote the hook's pid down (the hook can run first)
  t.regex(s.error, new RegExp(`hook pre was running when the agent on host-1 restarted \\((it still runs as pid ${fs.readFileSync(pidFile, 'utf8').trim()}|its pid was not recorded)\\); its outcome is unknown, so it is not run again`));
  t.deepEqual(fs.readFileSync(ran, 'utf8').trim().split('\n'), ['host-1'], 'the hook ran once');
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v1']));
});


test('an instance left unrecorded in a slot (its agent was killed between starting it and writing it down) is stopped by the next start, which goes on', async (t) => {
  const fleet = await fleetFor(t);
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  // what such an agent leaves: host-2's slot b port held by an instance with the environment zdd gives
  const port = fleet.appPortBase + 2 + 1;
  const orphan = spawn(process.execPath, ['server.js'], {
    cwd: path.join(fleet.releases, 'v2'),
    env: { ...process.env, PORT: String(port), ZDD_SERVICE: 'web', ZDD_SLOT: 'b', ZDD_VERSION: 'v2', ZDD_AGENT_ID: fleet.agentId(2) },
    detached: true,
    stdio: 'ignore',
  });
  t.teardown(() => {
    try {
      process.kill(-orphan.pid!, 'SIGKILL');
    } catch {
      /* stopped by the agent, as it should be */
    }
  });
  await until('the orphan to listen', async () => !(await portFree(port)));
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '100%']);
  t.is(r.code, 0, r.stdout + r.stderr);
  await until('the orphan to be gone', () => orphan.exitCode !== null || orphan.signalCode !== null);
  t.is(orphan.signalCode, 'SIGKILL');
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));
  t.true(fleet.instances().some((i) => i.agent === 2 && i.slot === 'b' && i.version === 'v2' && i.pid !== orphan.pid));
});
