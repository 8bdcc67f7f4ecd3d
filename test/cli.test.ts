// Bad input through zddctl: each gives a clear error, a non-zero exit, and changes nothing.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { deploy, fleetFor, versionsServed } from './support/fleet.js';

test('bad input to zddctl gets a clear error and changes nothing', async (t) => {
  const fleet = await fleetFor(t, { agents: 2 });
  fleet.writeRelease('v1');

  // A spec that fails validation: the field and the reason, nothing stored.
  const badSpec = path.join(fleet.dir, 'bad.yaml');
  fs.writeFileSync(badSpec, 'name: web\ncommand: node server.js\nports: {a: 8001, b: 8001}\nhealth: {interval: soon}\nnginx: {listen: "80"}\n');
  let r = await fleet.zddctl(['apply', '-f', badSpec]);
  t.is(r.code, 1);
  t.regex(r.stderr, /ports: slot a and slot b need different ports/);
  t.regex(r.stderr, /health\.interval: expected a duration/);
  r = await fleet.zddctl(['history', 'web']);
  t.regex(r.stderr, /no service named "web"/, 'nothing was stored');

  // A rollout of a service nobody applied.
  r = await fleet.zddctl(['rollout', 'nosuch', '--version', 'v1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no service named "nosuch"/);
  t.regex(r.stderr, /zddctl apply -f SPEC/);

  // A service whose hosts match no agent.
  t.is((await fleet.apply(fleet.spec({ name: 'db', hosts: { selector: { role: 'db' } } }))).code, 0);
  r = await fleet.zddctl(['rollout', 'db', '--version', 'v1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no connected agent matches the hosts of db \(selector role=db\)/);

  // A bad version and a bad batch.
  await deploy(t, fleet, 'v1');
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2;rm -rf']);
  t.regex(r.stderr, /version "v2;rm -rf" is not valid/);
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '150%']);
  t.regex(r.stderr, /batch "150%" is neither/);

  // The version already live.
  r = await fleet.zddctl(['rollout', 'web', '--version', 'v1']);
  t.is(r.code, 1);
  t.regex(r.stderr, /web v1 is already live on every host/);

  // None of it changed what serves, nor the history.
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  const hist = JSON.parse((await fleet.zddctl(['history', 'web', '--json'])).stdout);
  t.is(hist.length, 1);

  // An unknown rollout id.
  r = await fleet.zddctl(['status', 'web-99']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no rollout "web-99"/);
});

test('zddctl says what to do when the coordinator cannot be reached, or when it has no credentials', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { ROOT } = await import('../lib/paths.js');
  const zddctl = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin/zddctl.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  let r = zddctl(['--coordinator', '127.0.0.1:1', '--plaintext', 'agents']);
  t.is(r.status, 1);
  t.regex(r.stderr, /cannot reach the coordinator/);
  t.regex(r.stderr, /check that zdd-coordinator is running/);

  // no config anywhere: over TLS there is nobody to be
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-home-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  if (!fs.existsSync('/var/lib/zdd-coordinator/pki/admin.json')) {
    r = zddctl(['--coordinator', '127.0.0.1:1', 'agents'], { HOME: home, XDG_CONFIG_HOME: '', ZDD_CONFIG: '' });
    t.is(r.status, 1);
    t.regex(r.stderr, /no zddctl config/);
    t.regex(r.stderr, /zddctl operator create/);
  }
});
