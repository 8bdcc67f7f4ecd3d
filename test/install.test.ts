// zddctl install / uninstall run as real processes: the dry run shows the exact unit and env file,
// --root writes them below a scratch dir, a non-root user is refused, bad input is named. And the
// daemons take their settings from the environment, as the units run them.
import test from 'ava';
import fs from 'node:fs';
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Option } from 'commander';
import { ROOT } from '../lib/paths.js';
import { EnvCommand } from '../lib/env-options.js';
import { processStartTicks } from '../lib/proc.js';
import { describePlan, planInstall, type HostState, type Target } from '../cli/install.js';

const ZDDCTL = path.join(ROOT, 'bin', 'zddctl.js');
const unit = (name: string) => fs.readFileSync(path.join(ROOT, 'systemd', `${name}.service`), 'utf8');

function zddctl(args: string[], opts: { asNobody?: boolean } = {}) {
  const [cmd, argv] = opts.asNobody
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ZDDCTL, ...args]]
    : [process.execPath, [ZDDCTL, ...args]];
  const r = spawnSync(cmd as string, argv as string[], { encoding: 'utf8', env: { ...process.env, ZDD_COORDINATOR: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The block --dry-run prints for one file: its content, exactly. */
function written(stdout: string, file: string, mode: string): string | undefined {
  const head = `--- write ${file} (mode ${mode})\n`;
  const start = stdout.indexOf(head);
  const end = stdout.indexOf(`--- end of ${file}`);
  return start < 0 || end < 0 ? undefined : stdout.slice(start + head.length, end);
}

/** what zddctl token create --agent prints: the agent joins the fleet with them at its first start */
const TOKEN = `zdd1.0123456789abcdef.${'A'.repeat(43)}`;
const CA_SHA256 = 'ab'.repeat(32);
const JOIN = ['--join', TOKEN, '--ca-sha256', CA_SHA256];

test('install agent --dry-run prints the packaged unit byte for byte, the env file, and every command', (t) => {
  const r = zddctl(['install', 'agent', '--dry-run', '--coordinator', '10.0.0.1:7700', '--id', 'web-1', '--labels', 'role=web,zone=a', '--advertise', '10.0.0.11', '--edge', ...JOIN]);
  t.is(r.code, 0, r.stderr);
  t.is(written(r.stdout, '/etc/systemd/system/zdd-agent.service', '0644'), unit('zdd-agent'));
  const env = written(r.stdout, '/etc/zdd/agent.env', '0640') ?? '';
  t.deepEqual(
    env.split('\n').filter((l) => l && !l.startsWith('#')),
    ['ZDD_COORDINATOR=10.0.0.1:7700', 'ZDD_AGENT_ID=web-1', 'ZDD_LABELS=role=web,zone=a', 'ZDD_ADVERTISE=10.0.0.11', 'ZDD_EDGE=true', `ZDD_JOIN=${TOKEN}`, `ZDD_CA_SHA256=${CA_SHA256}`],
  );
  t.regex(r.stdout, /ln -sf .*\/bin\/zdd-agent\.js \/usr\/local\/bin\/zdd-agent|note: \/usr\/local\/bin\/zdd-agent exists/);
  t.regex(r.stdout, /then run:\n {2}systemctl daemon-reload\n {2}systemctl enable --now zdd-agent/);
  t.false(fs.existsSync('/etc/zdd/agent.env') && fs.readFileSync('/etc/zdd/agent.env', 'utf8') === env, 'nothing written');
});

test('install coordinator --dry-run prints the packaged unit byte for byte and the env file', (t) => {
  const r = zddctl(['install', 'coordinator', '--dry-run', '--listen', '10.0.0.1:7700', '--insecure']);
  t.is(r.code, 0, r.stderr);
  t.is(written(r.stdout, '/etc/systemd/system/zdd-coordinator.service', '0644'), unit('zdd-coordinator'));
  const env = written(r.stdout, '/etc/zdd/coordinator.env', '0640') ?? '';
  t.deepEqual(env.split('\n').filter((l) => l && !l.startsWith('#')), ['ZDD_LISTEN=10.0.0.1:7700', 'ZDD_INSECURE=true']);
  t.notRegex(r.stdout, /useradd/, 'the coordinator runs as a DynamicUser');
  t.regex(r.stdout, /systemctl enable --now zdd-coordinator/);
});

test('install --root writes the unit and a 0640 env file; uninstall removes them and keeps the state unless --purge', (t) => {
  const root = scratch(t);
  let r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.1:7700', '--labels', 'role=web', '--advertise', '10.0.0.12', ...JOIN]);
  t.is(r.code, 0, r.stderr);
  const unitFile = path.join(root, 'etc/systemd/system/zdd-agent.service');
  const envFile = path.join(root, 'etc/zdd/agent.env');
  const bin = path.join(root, 'usr/local/bin/zdd-agent');
  t.true(fs.readFileSync(unitFile).equals(fs.readFileSync(path.join(ROOT, 'systemd/zdd-agent.service'))));
  t.is(fs.statSync(envFile).mode & 0o777, 0o640);
  t.regex(fs.readFileSync(envFile, 'utf8'), /^ZDD_COORDINATOR=10\.0\.0\.1:7700$/m);
  t.is(fs.readlinkSync(bin), path.join(ROOT, 'bin/zdd-agent.js'));
  t.regex(r.stdout, /not run \(--root\): useradd --system .* zdd/);
  t.regex(r.stdout, /then run:\n {2}systemctl daemon-reload/);

  // The same settings again change nothing; other settings are refused unless --force.
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.1:7700', '--labels', 'role=web', '--advertise', '10.0.0.12', ...JOIN]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /agent\.env unchanged/);
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.2:7700', ...JOIN]);
  t.is(r.code, 1);
  t.regex(r.stderr, /agent\.env exists with other settings\n {2}pass --keep-env to keep it as it is \(upgrades\), --force to replace it/);
  t.regex(fs.readFileSync(envFile, 'utf8'), /10\.0\.0\.1:7700/, 'left as it was');
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.2:7700', ...JOIN, '--force']);
  t.is(r.code, 0, r.stderr);
  t.regex(fs.readFileSync(envFile, 'utf8'), /^ZDD_COORDINATOR=10\.0\.0\.2:7700$/m);
  t.regex(r.stdout, /systemctl try-restart zdd-agent/);

  // The agent ran: state and releases exist. Uninstall keeps them and says so.
  const state = path.join(root, 'var/lib/zdd-agent');
  fs.mkdirSync(path.join(state, 'releases/web/v1'), { recursive: true });
  r = zddctl(['uninstall', 'agent', '--root', root]);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(unitFile));
  t.false(fs.existsSync(envFile));
  t.false(fs.existsSync(bin));
  t.true(fs.existsSync(path.join(state, 'releases/web/v1')));
  t.regex(r.stdout, new RegExp(`left ${state} \\(state, logs and releases\\); --purge removes it`));
  t.regex(r.stdout, /then run:\n {2}systemctl stop zdd-agent\n {2}systemctl daemon-reload/);

  r = zddctl(['uninstall', 'agent', '--root', root, '--purge']);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(state));
});

test('install --root of the coordinator, then uninstall --purge removes its database directory', (t) => {
  const root = scratch(t);
  let r = zddctl(['install', 'coordinator', '--root', root, '--db', '/var/lib/zdd-coordinator/fleet.db']);
  t.is(r.code, 0, r.stderr);
  t.true(fs.readFileSync(path.join(root, 'etc/systemd/system/zdd-coordinator.service')).equals(fs.readFileSync(path.join(ROOT, 'systemd/zdd-coordinator.service'))));
  t.regex(fs.readFileSync(path.join(root, 'etc/zdd/coordinator.env'), 'utf8'), /^ZDD_DB=\/var\/lib\/zdd-coordinator\/fleet\.db$/m);
  fs.mkdirSync(path.join(root, 'var/lib/private/zdd-coordinator'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/private/zdd-coordinator/fleet.db'), '');
  r = zddctl(['uninstall', 'coordinator', '--root', root]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /left .*zdd-coordinator \(the database\)/);
  t.true(fs.existsSync(path.join(root, 'var/lib/private/zdd-coordinator/fleet.db')));
  r = zddctl(['uninstall', 'coordinator', '--root', root, '--purge']);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(path.join(root, 'var/lib/private/zdd-coordinator')));
});

const AGENT_FLAGS = ['--coordinator', '10.0.0.1:7700', '--advertise', '10.0.0.12', ...JOIN];

test('an upgrade with --keep-env updates the unit install wrote and keeps the edited env file', (t) => {
  const root = scratch(t);
  let r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /note: no node on systemd's default PATH \(\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin\) below /);
  const unitFile = path.join(root, 'etc/systemd/system/zdd-agent.service');
  const envFile = path.join(root, 'etc/zdd/agent.env');
  // the operator tuned the env file; the unit is an older release's, which install wrote
  fs.appendFileSync(envFile, 'ZDD_LOG_LEVEL=debug\n');
  const older = unit('zdd-agent').replace('TimeoutStopSec=120s', 'TimeoutStopSec=60s');
  fs.writeFileSync(unitFile, older);
  const record = path.join(root, 'etc/zdd/zdd-agent.service.sha256');
  fs.writeFileSync(record, fs.readFileSync(record, 'utf8').replace(/^[0-9a-f]{64}/, crypto.createHash('sha256').update(older).digest('hex')));

  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 1, 'without --keep-env the edited env file is in the way');
  t.regex(r.stderr, /agent\.env exists with other settings\n {2}pass --keep-env/);

  r = zddctl(['install', 'agent', '--root', root, '--keep-env']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readFileSync(unitFile, 'utf8'), unit('zdd-agent'), 'the unit is the packaged one');
  t.false(fs.existsSync(`${unitFile}.bak`), 'a unit install wrote needs no backup');
  t.regex(fs.readFileSync(envFile, 'utf8'), /^ZDD_LOG_LEVEL=debug$/m);
  t.regex(r.stdout, /note: kept .*agent\.env as it is \(--keep-env\)/);
  t.regex(r.stdout, /systemctl try-restart zdd-agent/);
});

test('a unit changed by hand is replaced only with --force, and kept as .bak', (t) => {
  const root = scratch(t);
  let r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 0, r.stderr);
  const unitFile = path.join(root, 'etc/systemd/system/zdd-agent.service');
  const edited = `${unit('zdd-agent')}# by hand\n`;
  fs.writeFileSync(unitFile, edited);

  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 1);
  t.regex(r.stderr, /zdd-agent\.service differs from the packaged unit, and zddctl install did not write it.*\n {2}pass --force to replace it \(the old one is kept as .*zdd-agent\.service\.bak\)/);
  t.is(fs.readFileSync(unitFile, 'utf8'), edited, 'left as it was');

  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS, '--force']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readFileSync(unitFile, 'utf8'), unit('zdd-agent'));
  t.is(fs.readFileSync(`${unitFile}.bak`, 'utf8'), edited);
  t.regex(r.stdout, /systemctl try-restart zdd-agent/);
});

test("uninstall leaves the unit's drop-ins and says so; --purge removes them", (t) => {
  const root = scratch(t);
  const dropIns = path.join(root, 'etc/systemd/system/zdd-agent.service.d');
  fs.mkdirSync(dropIns, { recursive: true });
  fs.writeFileSync(path.join(dropIns, 'data.conf'), '[Service]\nReadWritePaths=/srv/data\n');
  let r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /note: the drop-ins in .*zdd-agent\.service\.d\/ \(data\.conf\) apply to the unit too/);
  r = zddctl(['uninstall', 'agent', '--root', root]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /note: left .*zdd-agent\.service\.d\/ \(data\.conf\): changes made to the unit; --purge removes it/);
  t.true(fs.existsSync(path.join(dropIns, 'data.conf')));
  t.false(fs.existsSync(path.join(root, 'etc/zdd/zdd-agent.service.sha256')), 'the record of the unit goes with it');
  r = zddctl(['uninstall', 'agent', '--root', root, '--purge']);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(dropIns));
});

async function gone(pid: number, ticks: number | undefined): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (processStartTicks(pid) === ticks && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  return processStartTicks(pid) !== ticks;
}

test('uninstall --purge refuses while an app or the private nginx recorded in the state dir still runs', async (t) => {
  const root = scratch(t);
  const state = path.join(root, 'var/lib/zdd-agent');
  fs.mkdirSync(path.join(state, 'edge/nginx'), { recursive: true });
  const app = spawn('sleep', ['60'], { stdio: 'ignore' });
  // a private nginx's master, as far as its pid file and command line tell
  const nginx = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'nginx', '-p', '/var/lib/zdd-agent/edge/nginx'], { stdio: 'ignore' });
  t.teardown(() => {
    app.kill('SIGKILL');
    nginx.kill('SIGKILL');
  });
  const appTicks = processStartTicks(app.pid!);
  const nginxTicks = processStartTicks(nginx.pid!);
  const rec = (service: string, pid: number, startTicks: number | undefined) => ({ service, slot: 'blue', version: 'v1', port: 3000, pid, startTicks, state: 'healthy' });
  // the second record's pid now belongs to another process (this one): it does not count
  fs.writeFileSync(path.join(state, 'instances.json'), JSON.stringify([rec('web', app.pid!, appTicks), rec('api', process.pid, 1)]));
  fs.writeFileSync(path.join(state, 'edge/nginx/nginx.pid'), `${nginx.pid}\n`);

  let r = zddctl(['uninstall', 'agent', '--root', root, '--purge']);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`--purge would remove ${state} while these still run from it: web blue v1 \\(pid ${app.pid}\\), the private nginx master \\(pid ${nginx.pid}\\)`));
  t.regex(r.stderr, new RegExp(`or stop them: kill -TERM ${app.pid}; the private nginx, left serving when the agent stopped: kill -TERM ${nginx.pid}; then run uninstall --purge again`));
  t.notRegex(r.stderr, new RegExp(`pid ${process.pid}\\b`));
  t.true(fs.existsSync(path.join(state, 'instances.json')), 'nothing removed');

  app.kill('SIGTERM');
  t.true(await gone(app.pid!, appTicks));
  r = zddctl(['uninstall', 'agent', '--root', root, '--purge']);
  t.is(r.code, 1, 'the nginx still runs');
  t.regex(r.stderr, /still run from it: the private nginx master/);

  nginx.kill('SIGTERM');
  t.true(await gone(nginx.pid!, nginxTicks));
  r = zddctl(['uninstall', 'agent', '--root', root, '--purge']);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(state));
});

test('a dangling bin link is replaced, a link into another zdd package only with --force, and uninstall leaves links that are not ours', (t) => {
  const root = scratch(t);
  const bin = path.join(root, 'usr/local/bin/zdd-agent');
  const ours = path.join(ROOT, 'bin/zdd-agent.js');
  fs.mkdirSync(path.dirname(bin), { recursive: true });
  fs.symlinkSync(path.join(root, 'gone/bin/zdd-agent.js'), bin);
  let r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readlinkSync(bin), ours);
  t.regex(r.stdout, /zdd-agent linked to .*gone\/bin\/zdd-agent\.js, which does not exist: replaced/);

  const other = path.join(root, 'opt/zdd-old');
  fs.mkdirSync(path.join(other, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(other, 'package.json'), '{"name": "zdd"}\n');
  fs.writeFileSync(path.join(other, 'bin/zdd-agent.js'), '');
  fs.rmSync(bin);
  fs.symlinkSync(path.join(other, 'bin/zdd-agent.js'), bin);
  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 1);
  t.regex(r.stderr, /zdd-agent links to another zdd package \(.*zdd-old\/bin\/zdd-agent\.js\)\n {2}pass --force to link it to this one/);
  t.is(fs.readlinkSync(bin), path.join(other, 'bin/zdd-agent.js'));

  r = zddctl(['uninstall', 'agent', '--root', root]);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readlinkSync(bin), path.join(other, 'bin/zdd-agent.js'), "another package's link stays");
  t.regex(r.stdout, /note: left .*zdd-agent \(→ .*zdd-old\/bin\/zdd-agent\.js\): it is not a link to this package/);

  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS, '--force']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readlinkSync(bin), ours);
  r = zddctl(['uninstall', 'agent', '--root', root]);
  t.is(r.code, 0, r.stderr);
  t.throws(() => fs.lstatSync(bin), { code: 'ENOENT' }, 'our link goes');
});

const onHostTarget: Target = { root: '/', pkgRoot: ROOT, now: true };
const bareHost = (over: Partial<HostState> = {}): HostState => ({
  userExists: true,
  bin: { kind: 'ours' },
  stateDirs: [],
  running: [],
  node: { path: '/usr/bin/node', version: 'v20.19.0' },
  nodeHere: '/home/ops/.nvm/versions/node/v20.19.0/bin/node',
  unreadable: [],
  ...over,
});
const settings = { envText: () => 'ZDD_COORDINATOR=10.0.0.1:7700\n', unitText: unit('zdd-agent'), force: false, keepEnv: false };

test('install refuses a host whose systemd PATH has no node, or too old a node, naming where node is', (t) => {
  t.throws(() => planInstall('agent', settings, bareHost({ node: undefined }), onHostTarget), {
    message: /^node is not on systemd's default PATH \(\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin\): zdd-agent \(#!\/usr\/bin\/env node\) could not start$/,
  });
  try {
    planInstall('agent', settings, bareHost({ node: undefined }), onHostTarget);
  } catch (err) {
    t.is((err as { hint?: string }).hint, 'node is at /home/ops/.nvm/versions/node/v20.19.0/bin/node; link it there: sudo ln -s /home/ops/.nvm/versions/node/v20.19.0/bin/node /usr/local/bin/node');
  }
  t.throws(() => planInstall('agent', settings, bareHost({ node: { path: '/usr/bin/node', version: 'v18.19.1' } }), onHostTarget), {
    message: /\/usr\/bin\/node, the node zdd-agent would run, is v18\.19\.1; zdd needs 20\.19 or later/,
  });
  t.notThrows(() => planInstall('agent', settings, bareHost({ node: { path: '/usr/local/bin/node', version: 'v22.1.0' } }), onHostTarget));
});

test('install --now checks that the service stays active after it started', (t) => {
  const plan = planInstall('agent', settings, bareHost(), onHostTarget);
  t.deepEqual(plan.actions.at(-1), { kind: 'check-active', unit: 'zdd-agent' });
  t.regex(describePlan(plan, onHostTarget), /run: systemctl enable --now zdd-agent\ncheck: systemctl is-active zdd-agent stays "active" for 3 s/);
  t.deepEqual(plan.next, []);
});

// setpriv needs root; a user that cannot read the repository cannot run zddctl at all.
const asNobody = process.getuid?.() === 0;
const nobodyCanRun = !asNobody || spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ZDDCTL, '-V']).status === 0;
(nobodyCanRun ? test : test.skip)(
  nobodyCanRun ? 'install without root fails, naming sudo, and writes nothing' : 'install without root fails (skipped: user 65534 cannot read this repository)',
  (t) => {
    const paths = ['/etc/zdd/agent.env', '/etc/systemd/system/zdd-agent.service', '/usr/local/bin/zdd-agent'];
    const before = paths.map((p) => fs.existsSync(p));
    const r = zddctl(['install', 'agent', '--coordinator', '10.0.0.1:7700', ...JOIN, '--now'], { asNobody });
    t.is(r.code, 1);
    t.regex(r.stderr, /zddctl install agent changes \/etc and systemd units: it must run as root\n {2}run it with sudo \(sudo zddctl install agent \.\.\.\)/);
    t.is(r.stdout, '');
    t.deepEqual(paths.map((p) => fs.existsSync(p)), before);
    const u = zddctl(['uninstall', 'agent'], { asNobody });
    t.is(u.code, 1);
    t.regex(u.stderr, /sudo zddctl uninstall agent/);
  },
);

(nobodyCanRun ? test : test.skip)('--dry-run without root shows the plan and says to run with sudo to compare against the 0640 env file', (t) => {
  const root = scratch(t);
  fs.chmodSync(root, 0o755);
  let r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS]);
  t.is(r.code, 0, r.stderr);
  const envFile = path.join(root, 'etc/zdd/agent.env');
  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS, '--dry-run'], { asNobody });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`--- write ${envFile} \\(mode 0640\\)`));
  t.regex(r.stdout, new RegExp(`note: could not read ${envFile} \\(permission denied\\), so this plan takes it for absent: run it with sudo to compare against the installed files`));
  r = zddctl(['uninstall', 'agent', '--root', root, '--dry-run'], { asNobody });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`rm -f ${envFile}\n`), 'the env file it cannot read is still removed');
  r = zddctl(['install', 'agent', '--root', root, ...AGENT_FLAGS], { asNobody });
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`cannot read ${envFile}\n {2}run it as root \\(sudo\\)`));
  t.is(fs.statSync(envFile).mode & 0o777, 0o640, 'nothing changed');
});

test('bad install input gets a clear error naming the flag', (t) => {
  const cases: [string[], RegExp][] = [
    [['install', 'agent', '--coordinator', '10.0.0.1'], /--coordinator "10\.0\.0\.1" is not host:port\n {2}for example --coordinator 10\.0\.0\.1:7700/],
    [['install', 'agent'], /--coordinator ADDR is required/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--labels', 'role:web'], /--labels: "role:web" is not key=value\n {2}for example --labels role=web,zone=a/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--labels', 'role=web,'], /--labels: "" is not key=value/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--advertise', 'web-2.internal'], /--advertise "web-2\.internal" is not an IP address/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--edge-mode', 'fast'], /argument 'fast' is invalid\. Allowed choices are dynamic, reload/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700'], /joins the fleet over mutual TLS: --join TOKEN and --ca-sha256 FINGERPRINT are required\n {2}an admin prints both with zddctl token create --agent ID/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--join', 'secret', '--ca-sha256', CA_SHA256], /--join is not a zdd join token/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--plaintext'], /plaintext is for a coordinator on loopback only/],
    [['install', 'coordinator', '--db', '/srv/zdd.db'], /--db \/srv\/zdd\.db is not a file in \/var\/lib\/zdd-coordinator/],
    [['uninstall', 'nginx'], /"nginx" is neither agent nor coordinator/],
  ];
  for (const [args, message] of cases) {
    const r = zddctl([...args, '--dry-run']);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});

test('a boolean flag from the environment is on for true, 1, yes or on, and off when empty or false', (t) => {
  const parse = (env: NodeJS.ProcessEnv, argv: string[] = []) => {
    const cmd = new EnvCommand('x', env, { id: 'ZDD_AGENT_ID' })
      .exitOverride()
      .configureOutput({ writeErr: () => undefined })
      .option('--id <id>', 'id', 'default-id')
      .option('--edge', 'edge', false)
      .addOption(new Option('--edge-mode <mode>', 'mode').choices(['dynamic', 'reload']));
    // commander reads option variables from process.env itself; EnvCommand reads the same object
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      return cmd.parse(argv, { from: 'user' }).opts();
    } finally {
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
    }
  };
  for (const v of ['true', '1', 'yes', 'on', 'TRUE']) t.true(parse({ ZDD_EDGE: v }).edge, v);
  for (const v of ['', 'false', '0', 'no', 'off']) t.false(parse({ ZDD_EDGE: v }).edge, JSON.stringify(v));
  t.false(parse({}).edge);
  t.true(parse({ ZDD_EDGE: 'false' }, ['--edge']).edge, 'the flag wins over the variable');
  t.throws(() => parse({ ZDD_EDGE: 'maybe' }), { message: /ZDD_EDGE="maybe" is not a boolean/ });
  t.is(parse({ ZDD_AGENT_ID: 'web-3' }).id, 'web-3');
  t.is(parse({ ZDD_AGENT_ID: 'web-3' }, ['--id', 'web-4']).id, 'web-4');
  t.is(parse({ ZDD_EDGE_MODE: 'reload' }).edgeMode, 'reload');
  t.throws(() => parse({ ZDD_EDGE_MODE: 'fast' }), { message: /from env 'ZDD_EDGE_MODE' is invalid/ });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('a coordinator started with no flags takes its settings from the env file install wrote', async (t) => {
  const root = scratch(t);
  const port = await freePort();
  const r = zddctl(['install', 'coordinator', '--root', root, '--listen', `127.0.0.1:${port}`]);
  t.is(r.code, 0, r.stderr);
  // what systemd's EnvironmentFile= passes: KEY=VALUE lines, comments skipped
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(root, 'etc/zdd/coordinator.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  const db = path.join(root, 'zdd.db'); // the unit's /var/lib/zdd-coordinator is not ours to write here
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/zdd-coordinator.js')], { env: { ...process.env, ...env, ZDD_DB: db }, stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 15_000;
  let answered = false;
  while (!answered && Date.now() < deadline) {
    // over TLS, as the local admin whose credentials the coordinator wrote beside its database
    const admin = path.join(root, 'pki', 'admin.json');
    answered = fs.existsSync(admin) && spawnSync(process.execPath, [ZDDCTL, '--coordinator', `127.0.0.1:${port}`, '--config', admin, 'agents'], { encoding: 'utf8' }).status === 0;
    if (!answered) await new Promise((res) => setTimeout(res, 100));
  }
  t.true(answered, `the coordinator answers on 127.0.0.1:${port}, from ZDD_LISTEN`);
  t.true(fs.existsSync(db), 'and keeps its database at ZDD_DB');
});
