// The traps a new user hit, each as that user met it, against a real fleet: env templating, a bare
// number as a duration, holding a blue/green at its preview listener, track names that stay the
// same across strategies, a coordinator whose database directory does not exist yet, a plan for a
// release some hosts lack, a rollback that does not repeat the whole history, and the error of an
// unreachable coordinator.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { deploy, fleetFor, load, settled, status, until, versionsServed } from './support/fleet.js';
import { ROOT } from '../lib/paths.js';

function versionFor(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 3000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-app-version'] ?? `HTTP ${res.statusCode}`)));
      })
      .on('error', (e) => resolve(e.message));
  });
}

const environOf = (pid: number) => Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

test('a new user\'s day: the database directory is made, env values are templated, a bare-number duration is refused, a plan names the hosts without the release, blue/green holds at the preview until promote, "stable" names the live track after it, and a rollback prints only what it does', async (t) => {
  // the coordinator's database goes into a directory that does not exist yet
  const dbDir = path.join(os.tmpdir(), `zdd-newdb-${crypto.randomBytes(4).toString('hex')}`, 'var', 'lib');
  t.teardown(() => fs.rmSync(path.dirname(path.dirname(dbDir)), { recursive: true, force: true }));
  const fleet = await fleetFor(t, { dbDir });
  t.true(fs.existsSync(path.join(dbDir, 'coordinator.db')), 'the coordinator made its database directory');

  // a bare number as a duration: refused, saying what to write; nothing applied
  const bare = fleet.spec({ health: { path: '/healthz', interval: '50ms', deadline: 30 } });
  const refused = await fleet.apply(bare);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /health\.deadline: 30 what\? write 30s/);

  // env values name the instance's own version, port and slot
  const spec = fleet.spec({
    env: { APP_VERSION: '{version}', APP_PORT: '{port}', APP_SLOT: '{slot}', PLAIN: 'x{y}' },
    nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', upstreamKeepaliveTimeout: '4s', preview: `127.0.0.1:${fleet.previewPort}` },
  });
  fleet.writeRelease('v1');
  await deploy(t, fleet, 'v1', spec);
  for (const i of fleet.instances()) {
    const env = environOf(i.pid);
    t.deepEqual([env.APP_VERSION, env.APP_PORT, env.APP_SLOT, env.PLAIN], ['v1', String(i.port), i.slot, 'x{y}']);
  }

  // a plan for a release that is on no host says which hosts lack it, and where it looked
  const plan = await fleet.zddctl(['plan', 'web', '--version', 'v2']);
  t.is(plan.code, 1, plan.stdout + plan.stderr);
  t.regex(plan.stdout, /MISSING: v2 is not on 3 host\(s\): host-1 \([^)]*releases\/v2\), host-2 .*, host-3 /);
  fleet.writeRelease('v2');
  const ok = await fleet.zddctl(['plan', 'web', '--version', 'v2']);
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.notRegex(ok.stdout, /MISSING/);

  // blue/green held at the preview listener until promote
  const gen = load(fleet, 100, 4);
  const held = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'blue-green', '--verify', 'manual', '--keep-old', '2m']);
  t.is(held.code, 0, held.stdout + held.stderr);
  t.regex(held.stderr, new RegExp(`v2 waits on the preview listener \\(v2 is on the preview listener, 127\\.0\\.0\\.1:${fleet.previewPort} on host-1\\): try it, then zddctl promote web-2`));
  t.is((await status(fleet, 'web-2')).waiting, 'preview');
  t.regex((await fleet.zddctl(['status', 'web-2'])).stdout, /waiting\s+v2 is on the preview listener only: zddctl promote web-2 switches to it/);
  t.deepEqual(await versionsServed(fleet.previewPort, 5), new Set(['v2']), 'the preview listener serves the new colour');
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v1']), 'the live listener still serves the old one');
  const promoted = await fleet.zddctl(['promote', 'web-2']);
  t.is(promoted.code, 0, promoted.stderr);
  const st = await until('the switch', async () => {
    const x = await status(fleet, 'web-2');
    return x.waiting === 'keep-old window' ? x : undefined;
  }, 30_000);
  t.deepEqual(await versionsServed(fleet.nginxPort, 10), new Set(['v2']));
  t.is(JSON.parse(st.traffic_json).primary, 'blue');

  // after a blue/green the live track is still "stable" to a client that asks for it; a name that
  // is no track is ignored
  t.is(await versionFor(fleet.nginxPort, { 'X-Zdd-Track': 'stable' }), 'v2');
  t.is(await versionFor(fleet.nginxPort, { Cookie: 'zdd_track=stable' }), 'v2');
  t.is(await versionFor(fleet.nginxPort, { 'X-Zdd-Track': 'no-such-track' }), 'v2');

  // a rollback inside the keep-old window prints what it does, not the rollout's history again
  const rb = await fleet.zddctl(['rollback', 'web']);
  t.is(rb.code, 0, rb.stdout + rb.stderr);
  t.regex(rb.stdout, /traffic generation \d+ applied/);
  t.notRegex(rb.stdout, /started by|batch 1: starting v2|waits on the preview listener/, 'nothing from before the rollback');
  const s = await settled(fleet, 'web-2');
  t.is(s.state, 'rolled_back');
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
});

test('an unreachable coordinator\'s error says what failed, without an empty "Resolution note:"', (t) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/zddctl.js'), 'status', '--coordinator', '127.0.0.1:1', '--plaintext'], { encoding: 'utf8', timeout: 30_000 });
  t.not(r.status, 0);
  t.regex(r.stderr, /cannot reach the coordinator: .*(ECONNREFUSED|connect)/);
  t.notRegex(r.stderr, /Resolution note:\s*$/m);
});
