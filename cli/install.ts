// zddctl install / uninstall: puts zdd-agent or zdd-coordinator on a host as a systemd service.
// planInstall and planUninstall are pure: settings and what is on the host (observeHost) in, an
// ordered list of actions and the systemctl commands out. describePlan prints a plan (--dry-run),
// applyPlan performs it. The unit written is the package's systemd/<unit> file, byte for byte.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { type Command, Option } from 'commander';
import { ZddError } from '../lib/errors.js';
import { isLoopback } from '../lib/grpc.js';

export type Role = 'agent' | 'coordinator';

/** Where each service's files live on a host (paths from /). */
export const LAYOUT = {
  agent: {
    unit: 'zdd-agent',
    envFile: '/etc/zdd/agent.env',
    bin: '/usr/local/bin/zdd-agent',
    script: 'bin/zdd-agent.js',
    stateDirs: ['/var/lib/zdd-agent'],
    user: 'zdd' as string | undefined,
  },
  coordinator: {
    unit: 'zdd-coordinator',
    envFile: '/etc/zdd/coordinator.env',
    bin: '/usr/local/bin/zdd-coordinator',
    script: 'bin/zdd-coordinator.js',
    // DynamicUser=yes keeps the state in /var/lib/private/ and links it from /var/lib/
    stateDirs: ['/var/lib/zdd-coordinator', '/var/lib/private/zdd-coordinator'],
    user: undefined as string | undefined,
  },
} as const;

const UNIT_DIR = '/etc/systemd/system';
const WANTS_DIR = '/etc/systemd/system/multi-user.target.wants';
const DB_DIR = '/var/lib/zdd-coordinator';

export interface AgentOptions {
  coordinator?: string;
  id?: string;
  labels?: string;
  advertise?: string;
  edge?: boolean;
  edgeMode?: string;
}
export interface CoordinatorOptions {
  listen?: string;
  db?: string;
  insecure?: boolean;
}

const invalid = (message: string, hint?: string) => new ZddError('INVALID_ARGUMENT', message, { hint });

function checkAddress(flag: string, v: string): void {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw invalid(`${flag} "${v}" is not host:port`, `for example ${flag} 10.0.0.1:7700`);
  }
}

/**
 * The environment file of a service from its install flags, one ZDD_ variable per given flag;
 * throws INVALID_ARGUMENT naming the flag when one is malformed.
 */
export function envFileText(role: Role, o: AgentOptions & CoordinatorOptions): string {
  const vars: [string, string][] = [];
  if (role === 'agent') {
    if (!o.coordinator) throw invalid('--coordinator ADDR is required', 'the host:port at which agents reach the coordinator, e.g. --coordinator 10.0.0.1:7700');
    checkAddress('--coordinator', o.coordinator);
    vars.push(['ZDD_COORDINATOR', o.coordinator]);
    if (o.id !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(o.id)) throw invalid(`--id "${o.id}" is not a valid agent id`, 'letters, digits, ".", "_" and "-"');
      vars.push(['ZDD_AGENT_ID', o.id]);
    }
    if (o.labels !== undefined) {
      for (const part of o.labels.split(',')) {
        if (!/^[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*$/.test(part)) throw invalid(`--labels: "${part}" is not key=value`, 'for example --labels role=web,zone=a');
      }
      vars.push(['ZDD_LABELS', o.labels]);
    }
    if (o.advertise !== undefined) {
      if (!net.isIP(o.advertise)) throw invalid(`--advertise "${o.advertise}" is not an IP address`, "nginx's balancer connects to addresses, not names");
      vars.push(['ZDD_ADVERTISE', o.advertise]);
    }
    if (o.edge) vars.push(['ZDD_EDGE', 'true']);
    if (o.edgeMode !== undefined) vars.push(['ZDD_EDGE_MODE', o.edgeMode]);
  } else {
    if (o.listen !== undefined) {
      checkAddress('--listen', o.listen);
      if (!isLoopback(o.listen) && !o.insecure) {
        throw invalid(`--listen ${o.listen} is not a loopback address, and the coordinator serves plaintext gRPC there only with --insecure`, 'add --insecure if the network is private and you accept plaintext');
      }
      vars.push(['ZDD_LISTEN', o.listen]);
    }
    if (o.db !== undefined) {
      if (!path.isAbsolute(o.db) || path.dirname(path.normalize(o.db)) !== DB_DIR) {
        throw invalid(`--db ${o.db} is not a file in ${DB_DIR}`, `the unit lets the coordinator write only there (ProtectSystem=strict); for another place, add ReadWritePaths= in a drop-in (systemctl edit zdd-coordinator) and edit ZDD_DB in ${LAYOUT.coordinator.envFile}`);
      }
      vars.push(['ZDD_DB', path.normalize(o.db)]);
    }
    if (o.insecure) vars.push(['ZDD_INSECURE', 'true']);
  }
  const name = LAYOUT[role].unit;
  return (
    `# ${name} settings, read by ${name}.service (EnvironmentFile). Written by zddctl install ${role}.\n` +
    `# Every flag of ${name} has a variable: --log-level debug is ZDD_LOG_LEVEL=debug (${name} --help).\n` +
    `# After a change: systemctl restart ${name}${role === 'agent' ? ' (the apps keep running)' : ''}\n` +
    vars.map(([k, v]) => `${k}=${v}\n`).join('')
  );
}

/** What is on the host already, read by observeHost. */
export interface HostState {
  envFile?: string;
  unitFile?: string;
  userExists: boolean;
  /** where the bin link points, '' for a file that is not a link; undefined when absent */
  binLink?: string;
  stateDirs: string[];
}

export interface Target {
  /** every path is written below it: / on a host, a scratch dir for tests and packaging */
  root: string;
  /** the zdd package (lib/paths.ts ROOT) */
  pkgRoot: string;
  /** run systemctl (install: daemon-reload, enable --now; uninstall: disable --now, daemon-reload) */
  now: boolean;
}

export type Action =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; content: string }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'remove'; path: string; recursive?: boolean }
  /** a command run at this point of the plan (under --root: printed, not run) */
  | { kind: 'run'; argv: string[] };

export interface Plan {
  actions: Action[];
  /** commands for the operator to run afterwards */
  next: string[][];
  notes: string[];
}

const under = (t: Target, p: string) => path.join(t.root, p);
const onHost = (t: Target) => path.resolve(t.root) === '/';

/** The install plan; throws when an existing env file differs and `force` is not set. */
export function planInstall(role: Role, envText: string, unitText: string, host: HostState, t: Target, force: boolean): Plan {
  const L = LAYOUT[role];
  const envPath = under(t, L.envFile);
  if (host.envFile !== undefined && host.envFile !== envText && !force) {
    throw new ZddError('INVALID_ARGUMENT', `${envPath} exists with other settings`, {
      hint: `pass --force to replace it, or edit it and run systemctl restart ${L.unit}`,
    });
  }
  const unitPath = under(t, path.join(UNIT_DIR, `${L.unit}.service`));
  const actions: Action[] = [];
  const notes: string[] = [];
  if (L.user && !host.userExists) {
    actions.push({ kind: 'run', argv: ['useradd', '--system', '--user-group', '--home-dir', L.stateDirs[0], '--no-create-home', '--shell', '/usr/sbin/nologin', L.user] });
  }
  actions.push({ kind: 'dir', path: path.dirname(envPath), mode: 0o755 });
  if (host.envFile !== envText) actions.push({ kind: 'file', path: envPath, mode: 0o640, content: envText });
  else notes.push(`${envPath} unchanged`);
  actions.push({ kind: 'dir', path: path.dirname(unitPath), mode: 0o755 });
  if (host.unitFile !== unitText) actions.push({ kind: 'file', path: unitPath, mode: 0o644, content: unitText });
  else notes.push(`${unitPath} unchanged`);
  const script = path.join(t.pkgRoot, L.script);
  if (host.binLink === undefined) {
    actions.push({ kind: 'dir', path: path.dirname(under(t, L.bin)), mode: 0o755 });
    actions.push({ kind: 'symlink', path: under(t, L.bin), target: script });
  } else if (host.binLink !== script) {
    notes.push(`${under(t, L.bin)} exists${host.binLink ? ` (→ ${host.binLink})` : ''}; left as it is: the unit runs it`);
  }
  if (role === 'agent' && !envText.includes('ZDD_ADVERTISE=') && !envText.includes('ZDD_EDGE=true')) {
    notes.push("no --advertise: nginx reaches this host's apps at 127.0.0.1, which is right only on the edge host itself");
  }
  const systemctl = [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', L.unit]];
  // enable --now leaves a running service alone: restart it when what it runs with changed
  if ((host.envFile !== undefined && host.envFile !== envText) || (host.unitFile !== undefined && host.unitFile !== unitText)) {
    systemctl.push(['systemctl', 'try-restart', L.unit]);
    if (role === 'agent') notes.push('the agent restarts; the apps it started keep running (KillMode=process)');
  }
  if (t.now && onHost(t)) actions.push(...systemctl.map((argv): Action => ({ kind: 'run', argv })));
  return { actions, next: t.now && onHost(t) ? [] : systemctl, notes };
}

/** The uninstall plan: stop and disable, remove unit, env file and our bin link; state only with `purge`. */
export function planUninstall(role: Role, host: HostState, t: Target, purge: boolean): Plan {
  const L = LAYOUT[role];
  const actions: Action[] = [];
  const next: string[][] = [];
  const notes: string[] = [];
  const installed = host.unitFile !== undefined;
  const run = t.now && onHost(t) && installed;
  if (!installed) notes.push(`${L.unit} is not installed here (no ${under(t, path.join(UNIT_DIR, `${L.unit}.service`))})`);
  if (run) actions.push({ kind: 'run', argv: ['systemctl', 'disable', '--now', L.unit] });
  // what `systemctl disable` does, so that the files can go before the operator runs systemctl
  else if (installed) actions.push({ kind: 'remove', path: under(t, path.join(WANTS_DIR, `${L.unit}.service`)) });
  if (installed) actions.push({ kind: 'remove', path: under(t, path.join(UNIT_DIR, `${L.unit}.service`)) });
  if (host.envFile !== undefined) actions.push({ kind: 'remove', path: under(t, L.envFile) });
  if (host.binLink === path.join(t.pkgRoot, L.script)) actions.push({ kind: 'remove', path: under(t, L.bin) });
  if (run) actions.push({ kind: 'run', argv: ['systemctl', 'daemon-reload'] });
  else if (installed) next.push(['systemctl', 'stop', L.unit], ['systemctl', 'daemon-reload']);
  if (purge) for (const d of host.stateDirs) actions.push({ kind: 'remove', path: under(t, d), recursive: true });
  else if (host.stateDirs.length) notes.push(`left ${host.stateDirs.map((d) => under(t, d)).join(' and ')} (${role === 'agent' ? 'state, logs and releases' : 'the database'}); --purge removes it`);
  if (role === 'agent' && installed) {
    notes.push(`the apps the agent started keep running (KillMode=process), as user ${L.user}; if they should go too: pkill -TERM -u ${L.user}`);
    if (L.user) notes.push(`left the user ${L.user}; userdel ${L.user} removes it`);
  }
  return { actions, next, notes };
}

const octal = (m: number) => `0${m.toString(8)}`;
const shell = (argv: string[]) => argv.join(' ');

/** The plan as --dry-run prints it: every file with its mode and full content, every command. */
export function describePlan(plan: Plan, t: Target): string {
  const out: string[] = [];
  for (const a of plan.actions) {
    if (a.kind === 'dir') out.push(`mkdir -p ${a.path} (mode ${octal(a.mode)} when created)`);
    else if (a.kind === 'file') out.push(`--- write ${a.path} (mode ${octal(a.mode)})\n${a.content}--- end of ${a.path}`);
    else if (a.kind === 'symlink') out.push(`ln -s ${a.target} ${a.path}`);
    else if (a.kind === 'remove') out.push(`rm ${a.recursive ? '-rf' : '-f'} ${a.path}`);
    else out.push(onHost(t) ? `run: ${shell(a.argv)}` : `not run (--root): ${shell(a.argv)}`);
  }
  return [...out, ...describeAfter(plan)].join('\n');
}

function describeAfter(plan: Plan): string[] {
  return [...plan.notes.map((n) => `note: ${n}`), ...(plan.next.length ? ['then run:', ...plan.next.map((c) => `  ${shell(c)}`)] : [])];
}

/** Reads what planInstall and planUninstall need to know about the host (below `root`). */
export function observeHost(role: Role, t: Target): HostState {
  const L = LAYOUT[role];
  const read = (p: string) => {
    try {
      return fs.readFileSync(under(t, p), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  let binLink: string | undefined;
  try {
    binLink = fs.lstatSync(under(t, L.bin)).isSymbolicLink() ? fs.readlinkSync(under(t, L.bin)) : '';
  } catch {
    binLink = undefined;
  }
  let userExists = false;
  if (L.user) {
    userExists = onHost(t)
      ? spawnSync('getent', ['passwd', L.user]).status === 0
      : (read('/etc/passwd') ?? '').split('\n').some((l) => l.startsWith(`${L.user}:`));
  }
  return {
    envFile: read(L.envFile),
    unitFile: read(path.join(UNIT_DIR, `${L.unit}.service`)),
    userExists,
    binLink,
    stateDirs: L.stateDirs.filter((d) => fs.existsSync(under(t, d))),
  };
}

/** The unit file shipped in the package's systemd/ folder. */
export const unitText = (role: Role, pkgRoot: string) => fs.readFileSync(path.join(pkgRoot, 'systemd', `${LAYOUT[role].unit}.service`), 'utf8');

function writeAtomic(file: string, content: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode); // the umask may have narrowed it
  fs.renameSync(tmp, file);
}

/** Performs a plan in order, logging each thing done; stops at the first failure. */
export function applyPlan(plan: Plan, t: Target, log: (line: string) => void): void {
  for (const a of plan.actions) {
    if (a.kind === 'dir') {
      if (!fs.existsSync(a.path)) {
        fs.mkdirSync(a.path, { recursive: true, mode: a.mode });
        log(`created ${a.path}`);
      }
    } else if (a.kind === 'file') {
      writeAtomic(a.path, a.content, a.mode);
      log(`wrote ${a.path} (mode ${octal(a.mode)})`);
    } else if (a.kind === 'symlink') {
      fs.symlinkSync(a.target, a.path);
      log(`linked ${a.path} → ${a.target}`);
    } else if (a.kind === 'remove') {
      if (!fs.existsSync(a.path) && !isLink(a.path)) continue;
      fs.rmSync(a.path, { recursive: !!a.recursive, force: true });
      log(`removed ${a.path}`);
    } else if (!onHost(t)) {
      log(`not run (--root): ${shell(a.argv)}`);
    } else {
      log(`running: ${shell(a.argv)}`);
      const r = spawnSync(a.argv[0], a.argv.slice(1), { stdio: 'inherit' });
      if (r.status !== 0) {
        throw new ZddError('INTERNAL', `${shell(a.argv)} failed (${r.error ? r.error.message : `exit code ${r.status}`})`, { cause: r.error });
      }
    }
  }
  for (const line of describeAfter(plan)) log(line);
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The services run as users other than root: they must be able to read the package. */
export function unreadableBy(pkgRoot: string, script: string): string | undefined {
  let dir = path.dirname(path.join(pkgRoot, script));
  for (;;) {
    const st = fs.statSync(dir);
    if (!(st.mode & 0o001)) return dir;
    if (dir === path.dirname(dir)) break;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** The checks before anything is written: root (unless --dry-run or --root), a readable package. */
export function preflight(role: Role, t: Target, dryRun: boolean, uid: number, verb: 'install' | 'uninstall'): void {
  if (!dryRun && onHost(t) && uid !== 0) {
    throw new ZddError('INVALID_ARGUMENT', `zddctl ${verb} ${role} changes /etc and systemd units: it must run as root`, {
      hint: `run it with sudo (sudo zddctl ${verb} ${role} ...), or see what it would do with --dry-run`,
    });
  }
  if (verb === 'install' && onHost(t)) {
    const dir = unreadableBy(t.pkgRoot, LAYOUT[role].script);
    if (dir) {
      throw new ZddError('INVALID_ARGUMENT', `${dir} is not open to other users, and ${LAYOUT[role].unit} does not run as root: it could not start ${LAYOUT[role].script}`, {
        hint: 'install zdd in a directory other users can read, such as /opt/zdd (see the README)',
      });
    }
  }
}

/**
 * Registers `install` and `uninstall` on zddctl. zddctl's global --coordinator takes the flag
 * wherever it stands on the line, so `install agent` reads it from there, given explicitly.
 */
export function addInstallCommands(program: Command, pkgRoot: string, print: (s: string) => void): void {
  const target = (o: { root?: string; now?: boolean }): Target => ({ root: path.resolve(o.root ?? '/'), pkgRoot, now: !!o.now });
  const run = (role: Role, o: { dryRun?: boolean; root?: string }, verb: 'install' | 'uninstall', plan: (t: Target, host: HostState) => Plan) => {
    const t = target(o);
    preflight(role, t, !!o.dryRun, process.getuid?.() ?? 0, verb);
    const p = plan(t, observeHost(role, t));
    if (o.dryRun) print(describePlan(p, t));
    else applyPlan(p, t, print);
  };
  const common = (cmd: Command) =>
    cmd
      .option('--dry-run', 'print every file and command, with their content, and change nothing')
      .option('--now', 'also run the systemctl commands (otherwise they are printed)')
      .option('--root <dir>', 'write below DIR instead of / (tests, packaging); creates no user, runs no systemctl');
  const install = program.command('install').description('install zdd-agent or zdd-coordinator as a systemd service on this host (as root)');
  common(install.command('agent').description('write /etc/zdd/agent.env and the zdd-agent unit, create the user zdd'))
    .option('--coordinator <addr>', 'coordinator address, host:port (required)')
    .option('--id <id>', 'agent id (default: the host name)')
    .option('--labels <k=v,...>', 'labels that service specs select hosts by')
    .option('--advertise <ip>', "address at which nginx reaches this host's apps")
    .option('--edge', 'this host runs nginx: the agent drives it')
    .addOption(new Option('--edge-mode <mode>', 'dynamic or reload').choices(['dynamic', 'reload']))
    .option('--force', 'replace an env file with other settings')
    .action((o) => {
      const coordinator = o.coordinator ?? (program.getOptionValueSource('coordinator') === 'cli' ? program.opts().coordinator : undefined);
      const env = envFileText('agent', { ...o, coordinator });
      run('agent', o, 'install', (t, host) => planInstall('agent', env, unitText('agent', pkgRoot), host, t, !!o.force));
    });
  common(install.command('coordinator').description('write /etc/zdd/coordinator.env and the zdd-coordinator unit'))
    .option('--listen <addr>', 'gRPC address for agents and zddctl (default 127.0.0.1:7700)')
    .option('--db <file>', 'SQLite database file (default /var/lib/zdd-coordinator/zdd.db)')
    .option('--insecure', 'allow plaintext gRPC on a non-loopback address')
    .option('--force', 'replace an env file with other settings')
    .action((o) => {
      const env = envFileText('coordinator', o);
      run('coordinator', o, 'install', (t, host) => planInstall('coordinator', env, unitText('coordinator', pkgRoot), host, t, !!o.force));
    });
  common(
    program
      .command('uninstall')
      .argument('<service>', 'agent or coordinator')
      .description('stop and remove the service installed by zddctl install; its state stays unless --purge'),
  )
    .option('--purge', 'also remove the state directory (agent: state, logs, releases; coordinator: the database)')
    .action((service: string, o) => {
      if (service !== 'agent' && service !== 'coordinator') throw invalid(`uninstall: "${service}" is neither agent nor coordinator`);
      run(service, o, 'uninstall', (t, host) => planUninstall(service, host, t, !!o.purge));
    });
}
