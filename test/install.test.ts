// zddctl install / uninstall run as real processes: the dry run shows the exact unit and env file,
// --root writes them below a scratch dir, a non-root user is refused, bad input is named. And the
// daemons take their settings from the environment, as the units run them.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Option } from 'commander';
import { ROOT } from '../lib/paths.js';
import { EnvCommand } from '../lib/env-options.js';

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

test('install agent --dry-run prints the packaged unit byte for byte, the env file, and every command', (t) => {
  const r = zddctl(['install', 'agent', '--dry-run', '--coordinator', '10.0.0.1:7700', '--id', 'web-1', '--labels', 'role=web,zone=a', '--advertise', '10.0.0.11', '--edge']);
  t.is(r.code, 0, r.stderr);
  t.is(written(r.stdout, '/etc/systemd/system/zdd-agent.service', '0644'), unit('zdd-agent'));
  const env = written(r.stdout, '/etc/zdd/agent.env', '0640') ?? '';
  t.deepEqual(
    env.split('\n').filter((l) => l && !l.startsWith('#')),
    ['ZDD_COORDINATOR=10.0.0.1:7700', 'ZDD_AGENT_ID=web-1', 'ZDD_LABELS=role=web,zone=a', 'ZDD_ADVERTISE=10.0.0.11', 'ZDD_EDGE=true'],
  );
  t.regex(r.stdout, /ln -s .*\/bin\/zdd-agent\.js \/usr\/local\/bin\/zdd-agent|note: \/usr\/local\/bin\/zdd-agent exists/);
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
  let r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.1:7700', '--labels', 'role=web', '--advertise', '10.0.0.12']);
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
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.1:7700', '--labels', 'role=web', '--advertise', '10.0.0.12']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /agent\.env unchanged/);
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.2:7700']);
  t.is(r.code, 1);
  t.regex(r.stderr, /agent\.env exists with other settings\n {2}pass --force to replace it/);
  t.regex(fs.readFileSync(envFile, 'utf8'), /10\.0\.0\.1:7700/, 'left as it was');
  r = zddctl(['install', 'agent', '--root', root, '--coordinator', '10.0.0.2:7700', '--force']);
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

// setpriv needs root; a user that cannot read the repository cannot run zddctl at all.
const asNobody = process.getuid?.() === 0;
const nobodyCanRun = !asNobody || spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ZDDCTL, '-V']).status === 0;
(nobodyCanRun ? test : test.skip)(
  nobodyCanRun ? 'install without root fails, naming sudo, and writes nothing' : 'install without root fails (skipped: user 65534 cannot read this repository)',
  (t) => {
    const paths = ['/etc/zdd/agent.env', '/etc/systemd/system/zdd-agent.service', '/usr/local/bin/zdd-agent'];
    const before = paths.map((p) => fs.existsSync(p));
    const r = zddctl(['install', 'agent', '--coordinator', '10.0.0.1:7700', '--now'], { asNobody });
    t.is(r.code, 1);
    t.regex(r.stderr, /zddctl install agent changes \/etc and systemd units: it must run as root\n {2}run it with sudo \(sudo zddctl install agent \.\.\.\)/);
    t.is(r.stdout, '');
    t.deepEqual(paths.map((p) => fs.existsSync(p)), before);
    const u = zddctl(['uninstall', 'agent'], { asNobody });
    t.is(u.code, 1);
    t.regex(u.stderr, /sudo zddctl uninstall agent/);
  },
);

test('bad install input gets a clear error naming the flag', (t) => {
  const cases: [string[], RegExp][] = [
    [['install', 'agent', '--coordinator', '10.0.0.1'], /--coordinator "10\.0\.0\.1" is not host:port\n {2}for example --coordinator 10\.0\.0\.1:7700/],
    [['install', 'agent'], /--coordinator ADDR is required/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--labels', 'role:web'], /--labels: "role:web" is not key=value\n {2}for example --labels role=web,zone=a/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--labels', 'role=web,'], /--labels: "" is not key=value/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--advertise', 'web-2.internal'], /--advertise "web-2\.internal" is not an IP address/],
    [['install', 'agent', '--coordinator', '10.0.0.1:7700', '--edge-mode', 'fast'], /argument 'fast' is invalid\. Allowed choices are dynamic, reload/],
    [['install', 'coordinator', '--listen', '10.0.0.1:7700'], /not a loopback address.*only with --insecure/],
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
    answered = spawnSync(process.execPath, [ZDDCTL, '--coordinator', `127.0.0.1:${port}`, 'agents'], { encoding: 'utf8' }).status === 0;
    if (!answered) await new Promise((res) => setTimeout(res, 100));
  }
  t.true(answered, `the coordinator answers on 127.0.0.1:${port}, from ZDD_LISTEN`);
  t.true(fs.existsSync(db), 'and keeps its database at ZDD_DB');
});
