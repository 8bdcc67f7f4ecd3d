// zddctl install / uninstall: puts zdd-agent or zdd-coordinator on a host as a systemd service.
// planInstall and planUninstall are pure: settings and what is on the host (observeHost) in, an
// ordered list of actions and the systemctl commands out. describePlan prints a plan (--dry-run),
// applyPlan performs it. The unit written is the package's systemd/<unit> file, byte for byte; a
// record of its hash beside the env file tells an upgrade (a unit install wrote) from a unit changed
// by someone else, which is replaced only with --force.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { type Command, Option } from 'commander';
import { ZddError } from '../lib/errors.js';
import { isLoopback } from '../lib/grpc.js';
import { processStartTicks } from '../lib/proc.js';
import { agentStateLayout, nginxMasterPid } from '../agent/state-layout.js';

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
/** systemd's PATH for services when the unit sets none: where `#!/usr/bin/env node` looks. */
export const SYSTEMD_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin'];
/** package.json's engines.node */
const NODE_MIN: [number, number] = [20, 19];
const WANTS_DIR = '/etc/systemd/system/multi-user.target.wants';
const DB_DIR = '/var/lib/zdd-coordinator';

export interface AgentOptions {
  coordinator?: string;
  id?: string;
  labels?: string;
  advertise?: string;
  edge?: boolean;
  edgeMode?: string;
  join?: string;
  caSha256?: string;
  releasesRoot?: string;
  plaintext?: boolean;
}
export interface CoordinatorOptions {
  listen?: string;
  db?: string;
  insecure?: boolean;
  tlsSan?: string;
  store?: string;
  advertise?: string;
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
    for (const a of o.coordinator.split(',')) checkAddress('--coordinator', a.trim());
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
    if (o.releasesRoot !== undefined) {
      for (const d of o.releasesRoot.split(',')) if (!path.isAbsolute(d.trim())) throw invalid(`--releases-root: "${d}" is not an absolute path`, 'for example --releases-root /srv/releases');
      vars.push(['ZDD_RELEASES_ROOT', o.releasesRoot]);
    }
    if (o.plaintext) {
      if (!isLoopback(o.coordinator)) throw invalid(`--plaintext to ${o.coordinator}: plaintext is for a coordinator on loopback only`, 'join over TLS with --join TOKEN --ca-sha256 FINGERPRINT (zddctl token create --agent ID)');
      vars.push(['ZDD_PLAINTEXT', 'true']);
    } else {
      if (!o.join || !o.caSha256) {
        throw invalid('the agent joins the fleet over mutual TLS: --join TOKEN and --ca-sha256 FINGERPRINT are required', 'an admin prints both with zddctl token create --agent ID');
      }
      if (!/^zdd1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/.test(o.join)) throw invalid('--join is not a zdd join token (zdd1.…)', 'copy it whole from zddctl token create');
      if (!/^[0-9a-f]{64}$/.test(o.caSha256.replace(/:/g, '').toLowerCase())) throw invalid('--ca-sha256 is not a sha256 fingerprint (64 hex digits)');
      // spent at the first start; the agent ignores it from then on
      vars.push(['ZDD_JOIN', o.join], ['ZDD_CA_SHA256', o.caSha256]);
    }
  } else {
    if (o.listen !== undefined) {
      checkAddress('--listen', o.listen);
      if (!isLoopback(o.listen) && o.insecure) {
        // allowed, and loud: the coordinator warns at every start too
        process.stderr.write(`warning: --insecure: the coordinator will serve plaintext with no authentication on ${o.listen}; anyone who reaches it can run commands on every host\n`);
      }
      vars.push(['ZDD_LISTEN', o.listen]);
    }
    if (o.tlsSan !== undefined) vars.push(['ZDD_TLS_SAN', o.tlsSan]);
    if (o.db !== undefined) {
      if (!path.isAbsolute(o.db) || path.dirname(path.normalize(o.db)) !== DB_DIR) {
        throw invalid(`--db ${o.db} is not a file in ${DB_DIR}`, `the unit lets the coordinator write only there (ProtectSystem=strict); for another place, add ReadWritePaths= in a drop-in (systemctl edit zdd-coordinator) and edit ZDD_DB in ${LAYOUT.coordinator.envFile}`);
      }
      vars.push(['ZDD_DB', path.normalize(o.db)]);
    }
    if (o.store !== undefined) {
      if (!/^postgres(ql)?:\/\/\S+$/.test(o.store)) throw invalid(`--store is not a PostgreSQL URL`, 'for example --store postgres://zdd:PASSWORD@db.internal:5432/zdd');
      vars.push(['ZDD_STORE', o.store]);
    }
    if (o.advertise !== undefined) {
      checkAddress('--advertise', o.advertise);
      vars.push(['ZDD_ADVERTISE', o.advertise]);
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

/** What is at the bin path (/usr/local/bin/zdd-agent), which the unit's ExecStart runs. */
export type BinLink =
  | { kind: 'absent' }
  | { kind: 'ours' }
  | { kind: 'dangling'; target: string }
  /** a link into another zdd package (pkg: its root) */
  | { kind: 'other-zdd'; target: string; pkg: string }
  /** a file, or a link to something that is not a zdd package: someone put it there on purpose */
  | { kind: 'other'; target?: string };

/** A process recorded in the agent's state dir that still runs from it. */
export interface Recorded {
  kind: 'app' | 'nginx';
  what: string;
  pid: number;
}

/** What is on the host already, read by observeHost. */
export interface HostState {
  envFile?: string;
  unitFile?: string;
  /** the sha256 of the unit zddctl install last wrote, from its record */
  unitWritten?: string;
  /** the files of the unit's drop-in directory (<unit>.service.d/); undefined when there is none */
  dropIns?: string[];
  userExists: boolean;
  bin: BinLink;
  stateDirs: string[];
  /** agent: its apps and private nginx that still run (from instances.json and nginx.pid) */
  running: Recorded[];
  /** where `node` is on SYSTEMD_PATH (below the root), with its version when it ran (on the host) */
  node?: { path: string; version?: string };
  /** the node running zddctl now */
  nodeHere: string;
  /** files that exist but could not be read (permission denied): the plan assumes them absent */
  unreadable: string[];
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
  /** creates or replaces a link */
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'copy'; path: string; to: string }
  | { kind: 'remove'; path: string; recursive?: boolean }
  /** a command run at this point of the plan (under --root: printed, not run) */
  | { kind: 'run'; argv: string[] }
  /** fails unless the unit stays active for ACTIVE_CHECK_MS after it started */
  | { kind: 'check-active'; unit: string };

export interface Plan {
  actions: Action[];
  /** commands for the operator to run afterwards */
  next: string[][];
  notes: string[];
}

const under = (t: Target, p: string) => path.join(t.root, p);
const onHost = (t: Target) => path.resolve(t.root) === '/';

export interface InstallSettings {
  /** the env file from the flags; called only when it is to be written or compared */
  envText: () => string;
  unitText: string;
  /** replace an env file with other settings, a unit someone else wrote, a link to another zdd package */
  force: boolean;
  /** leave an existing env file as it is (upgrades) */
  keepEnv: boolean;
}

const unitPathOf = (role: Role) => path.join(UNIT_DIR, `${LAYOUT[role].unit}.service`);
/** The hash of the unit install wrote, beside the env file: `sha256sum -c` reads it. */
const unitRecordOf = (role: Role) => path.join(path.dirname(LAYOUT[role].envFile), `${LAYOUT[role].unit}.service.sha256`);
const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const unitRecordText = (role: Role, unitText: string) => `${sha256(unitText)}  ${unitPathOf(role)}\n`;

function versionBelow(version: string, min: [number, number]): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  return !!m && (Number(m[1]) < min[0] || (Number(m[1]) === min[0] && Number(m[2]) < min[1]));
}

/**
 * The install plan. Throws INVALID_ARGUMENT, before anything is done, when node is not where the
 * unit finds it, or without `force` when an env file with other settings, a unit someone else
 * wrote or a link into another zdd package is in the way.
 */
export function planInstall(role: Role, s: InstallSettings, host: HostState, t: Target): Plan {
  const L = LAYOUT[role];
  const actions: Action[] = [];
  const notes: string[] = [];
  checkNode(role, host, t, notes);

  const envPath = under(t, L.envFile);
  // an env file --dry-run cannot read (not root) is kept all the same
  const keepEnv = s.keepEnv && (host.envFile !== undefined || host.unreadable.includes(L.envFile));
  const envText = keepEnv ? (host.envFile ?? '') : s.envText();
  if (!keepEnv && host.envFile !== undefined && host.envFile !== envText && !s.force) {
    throw new ZddError('INVALID_ARGUMENT', `${envPath} exists with other settings`, {
      hint: `pass --keep-env to keep it as it is (upgrades), --force to replace it, or edit it and run systemctl restart ${L.unit}`,
    });
  }
  const unitPath = under(t, unitPathOf(role));
  const unitOurs = host.unitFile !== undefined && host.unitWritten === sha256(host.unitFile);
  if (host.unitFile !== undefined && host.unitFile !== s.unitText && !unitOurs && !s.force) {
    throw new ZddError('INVALID_ARGUMENT', `${unitPath} differs from the packaged unit, and zddctl install did not write it (edited by hand, or from another package)`, {
      hint: `pass --force to replace it (the old one is kept as ${unitPath}.bak); change the unit with a drop-in (systemctl edit ${L.unit}), which install leaves alone`,
    });
  }
  const script = path.join(t.pkgRoot, L.script);
  if (host.bin.kind === 'other-zdd' && !s.force) {
    throw new ZddError('INVALID_ARGUMENT', `${under(t, L.bin)} links to another zdd package (${host.bin.target})`, {
      hint: `pass --force to link it to this one (${script}), or run zddctl install from ${host.bin.pkg}`,
    });
  }

  if (L.user && !host.userExists) {
    actions.push({ kind: 'run', argv: ['useradd', '--system', '--user-group', '--home-dir', L.stateDirs[0], '--no-create-home', '--shell', '/usr/sbin/nologin', L.user] });
  }
  actions.push({ kind: 'dir', path: path.dirname(envPath), mode: 0o755 });
  if (keepEnv) notes.push(`kept ${envPath} as it is (--keep-env); settings given as flags are not applied`);
  else if (host.envFile !== envText) actions.push({ kind: 'file', path: envPath, mode: 0o640, content: envText });
  else notes.push(`${envPath} unchanged`);
  actions.push({ kind: 'dir', path: path.dirname(unitPath), mode: 0o755 });
  if (host.unitFile !== s.unitText) {
    if (host.unitFile !== undefined && !unitOurs) {
      actions.push({ kind: 'copy', path: unitPath, to: `${unitPath}.bak` });
      notes.push(`kept the unit that was there as ${unitPath}.bak`);
    }
    actions.push({ kind: 'file', path: unitPath, mode: 0o644, content: s.unitText });
  } else notes.push(`${unitPath} unchanged`);
  if (host.unitWritten !== sha256(s.unitText)) {
    actions.push({ kind: 'file', path: under(t, unitRecordOf(role)), mode: 0o644, content: unitRecordText(role, s.unitText) });
  }
  if (host.dropIns?.length) notes.push(`the drop-ins in ${unitPath}.d/ (${host.dropIns.join(', ')}) apply to the unit too`);

  const bin = under(t, L.bin);
  if (host.bin.kind === 'absent') {
    actions.push({ kind: 'dir', path: path.dirname(bin), mode: 0o755 });
    actions.push({ kind: 'symlink', path: bin, target: script });
  } else if (host.bin.kind === 'dangling' || host.bin.kind === 'other-zdd') {
    actions.push({ kind: 'symlink', path: bin, target: script });
    notes.push(`${bin} linked to ${host.bin.target}${host.bin.kind === 'dangling' ? ', which does not exist' : ''}: replaced`);
  } else if (host.bin.kind === 'other') {
    notes.push(`${bin} exists${host.bin.target ? ` (→ ${host.bin.target})` : ''}; left as it is: the unit runs it`);
  }
  if (s.keepEnv && !keepEnv) notes.push(`no ${envPath} to keep: written from the flags`);
  if (role === 'agent' && (!keepEnv || host.envFile !== undefined) && !envText.includes('ZDD_ADVERTISE=') && !envText.includes('ZDD_EDGE=true')) {
    notes.push("no --advertise: nginx reaches this host's apps at 127.0.0.1, which is right only on the edge host itself");
  }
  const systemctl = [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', L.unit]];
  // enable --now leaves a running service alone: restart it when what it runs with changed
  if ((host.envFile !== undefined && host.envFile !== envText) || (host.unitFile !== undefined && host.unitFile !== s.unitText)) {
    systemctl.push(['systemctl', 'try-restart', L.unit]);
    if (role === 'agent') notes.push('the agent restarts; the apps it started keep running (KillMode=process)');
  }
  const run = t.now && onHost(t);
  if (run) {
    actions.push(...systemctl.map((argv): Action => ({ kind: 'run', argv })));
    actions.push({ kind: 'check-active', unit: L.unit });
  }
  return { actions, next: run ? [] : systemctl, notes };
}

/**
 * ExecStart runs a `#!/usr/bin/env node` script, and systemd looks for node on SYSTEMD_PATH only:
 * without it there, the unit fails at every start while `systemctl enable --now` succeeds.
 */
function checkNode(role: Role, host: HostState, t: Target, notes: string[]): void {
  const where = SYSTEMD_PATH.join(':');
  if (!host.node) {
    if (!onHost(t)) {
      notes.push(`no node on systemd's default PATH (${where}) below ${t.root}: the host that runs ${LAYOUT[role].unit} needs it there`);
      return;
    }
    throw new ZddError('INVALID_ARGUMENT', `node is not on systemd's default PATH (${where}): ${LAYOUT[role].unit} (#!/usr/bin/env node) could not start`, {
      hint: `node is at ${host.nodeHere}; link it there: sudo ln -s ${host.nodeHere} /usr/local/bin/node`,
    });
  }
  if (onHost(t) && host.node.version && versionBelow(host.node.version, NODE_MIN)) {
    throw new ZddError('INVALID_ARGUMENT', `${host.node.path}, the node ${LAYOUT[role].unit} would run, is ${host.node.version}; zdd needs ${NODE_MIN.join('.')} or later`, {
      hint: `install a newer node there, or link one into /usr/local/bin (it comes first): sudo ln -s ${host.nodeHere} /usr/local/bin/node`,
    });
  }
}

/**
 * The uninstall plan: stop and disable, remove unit, env file and our bin link; state and drop-ins
 * only with `purge`, which throws while apps or a private nginx recorded in the agent's state run.
 */
export function planUninstall(role: Role, host: HostState, t: Target, purge: boolean): Plan {
  const L = LAYOUT[role];
  if (purge && host.running.length) {
    const pids = (kind: Recorded['kind']) => host.running.filter((r) => r.kind === kind).map((r) => r.pid).join(' ');
    const apps = pids('app');
    const nginx = pids('nginx');
    throw new ZddError('INVALID_ARGUMENT', `--purge would remove ${under(t, L.stateDirs[0])} while these still run from it: ${host.running.map((r) => `${r.what} (pid ${r.pid})`).join(', ')}`, {
      hint: [
        apps && `the apps: roll their services away from this host (change its labels, then zddctl rollout), or stop them: kill -TERM ${apps}`,
        nginx && `the private nginx, left serving when the agent stopped: kill -TERM ${nginx}`,
        'then run uninstall --purge again; nothing was changed',
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  const actions: Action[] = [];
  const next: string[][] = [];
  const notes: string[] = [];
  const unitPath = under(t, unitPathOf(role));
  const installed = host.unitFile !== undefined;
  const run = t.now && onHost(t) && installed;
  if (!installed) notes.push(`${L.unit} is not installed here (no ${unitPath})`);
  if (run) actions.push({ kind: 'run', argv: ['systemctl', 'disable', '--now', L.unit] });
  // what `systemctl disable` does, so that the files can go before the operator runs systemctl
  else if (installed) actions.push({ kind: 'remove', path: under(t, path.join(WANTS_DIR, `${L.unit}.service`)) });
  if (installed) actions.push({ kind: 'remove', path: unitPath });
  if (host.unitWritten !== undefined) actions.push({ kind: 'remove', path: under(t, unitRecordOf(role)) });
  if (host.envFile !== undefined || host.unreadable.includes(L.envFile)) actions.push({ kind: 'remove', path: under(t, L.envFile) });
  if (host.bin.kind === 'ours') actions.push({ kind: 'remove', path: under(t, L.bin) });
  else if (host.bin.kind !== 'absent') {
    notes.push(`left ${under(t, L.bin)}${host.bin.target ? ` (→ ${host.bin.target})` : ''}: it is not a link to this package (${path.join(t.pkgRoot, L.script)})`);
  }
  if (host.dropIns !== undefined) {
    if (purge) actions.push({ kind: 'remove', path: `${unitPath}.d`, recursive: true });
    else notes.push(`left ${unitPath}.d/ (${host.dropIns.join(', ') || 'empty'}): changes made to the unit; --purge removes it`);
  }
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
    else if (a.kind === 'symlink') out.push(`ln -sf ${a.target} ${a.path}`);
    else if (a.kind === 'copy') out.push(`cp -p ${a.path} ${a.to}`);
    else if (a.kind === 'remove') out.push(`rm ${a.recursive ? '-rf' : '-f'} ${a.path}`);
    else if (a.kind === 'check-active') out.push(`check: systemctl is-active ${a.unit} stays "active" for ${ACTIVE_CHECK_MS / 1000} s`);
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
  const unreadable: string[] = [];
  const read = (p: string) => {
    try {
      return fs.readFileSync(under(t, p), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'EACCES' || code === 'EPERM') {
        unreadable.push(p);
        return undefined;
      }
      throw err;
    }
  };
  let userExists = false;
  if (L.user) {
    userExists = onHost(t)
      ? spawnSync('getent', ['passwd', L.user]).status === 0
      : (read('/etc/passwd') ?? '').split('\n').some((l) => l.startsWith(`${L.user}:`));
  }
  const unitPath = unitPathOf(role);
  let dropIns: string[] | undefined;
  try {
    dropIns = fs.readdirSync(under(t, `${unitPath}.d`)).sort();
  } catch {
    dropIns = undefined;
  }
  const unitWritten = /^([0-9a-f]{64})\s/.exec(read(unitRecordOf(role)) ?? '')?.[1];
  const host: HostState = {
    envFile: read(L.envFile),
    unitFile: read(unitPath),
    unitWritten,
    dropIns,
    userExists,
    bin: observeBin(role, t),
    stateDirs: L.stateDirs.filter((d) => fs.existsSync(under(t, d))),
    running: role === 'agent' ? observeRecorded(t, read) : [],
    node: observeNode(t),
    nodeHere: process.execPath,
    unreadable,
  };
  return host;
}

function observeBin(role: Role, t: Target): BinLink {
  const L = LAYOUT[role];
  const bin = under(t, L.bin);
  let target: string;
  try {
    if (!fs.lstatSync(bin).isSymbolicLink()) return { kind: 'other' };
    target = fs.readlinkSync(bin);
  } catch {
    return { kind: 'absent' };
  }
  // the link was written with a path on this machine (the package's), not one below the root
  const resolved = path.resolve(path.dirname(bin), target);
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    return { kind: 'dangling', target };
  }
  const pkg = path.dirname(path.dirname(real));
  if (real === fs.realpathSync(path.join(t.pkgRoot, L.script))) return { kind: 'ours' };
  try {
    if ((JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { name?: string }).name === 'zdd') return { kind: 'other-zdd', target, pkg };
  } catch {
    /* not a package */
  }
  return { kind: 'other', target };
}

/** The agent's apps (instances.json) and private nginx (its pid file) that still run. */
function observeRecorded(t: Target, read: (p: string) => string | undefined): Recorded[] {
  const layout = agentStateLayout(LAYOUT.agent.stateDirs[0]);
  const running: Recorded[] = [];
  let recs: unknown;
  try {
    recs = JSON.parse(read(layout.instances) ?? '[]');
  } catch {
    recs = []; // torn or foreign: nothing to learn from it
  }
  for (const r of Array.isArray(recs) ? (recs as Record<string, unknown>[]) : []) {
    // the start time tells the app from a process that got its pid later
    if (typeof r.pid === 'number' && typeof r.startTicks === 'number' && processStartTicks(r.pid) === r.startTicks) {
      running.push({ kind: 'app', what: `${String(r.service)} ${String(r.slot)} ${String(r.version)}`, pid: r.pid });
    }
  }
  // under --root the pid file is read below the root, and the prefix is not the host's
  const pid = nginxMasterPid(under(t, layout.nginxPidFile), onHost(t) ? layout.nginxPrefix : undefined);
  if (pid) running.push({ kind: 'nginx', what: 'the private nginx master', pid });
  return running;
}

/** node on SYSTEMD_PATH below the root; on the host, with the version it reports. */
function observeNode(t: Target): HostState['node'] {
  for (const dir of SYSTEMD_PATH) {
    const p = path.join(dir, 'node');
    try {
      const st = fs.statSync(under(t, p));
      if (!st.isFile() || !(st.mode & 0o111)) continue;
    } catch {
      continue;
    }
    if (!onHost(t)) return { path: p };
    const r = spawnSync(p, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    return { path: p, version: r.status === 0 ? r.stdout.trim() : undefined };
  }
  return undefined;
}

/** The unit file shipped in the package's systemd/ folder. */
export const unitText = (role: Role, pkgRoot: string) => fs.readFileSync(path.join(pkgRoot, 'systemd', `${LAYOUT[role].unit}.service`), 'utf8');

function writeAtomic(file: string, content: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode); // the umask may have narrowed it
  fs.renameSync(tmp, file);
}

/** How long a unit must stay active after `systemctl enable --now` (Type=simple is active once forked). */
export const ACTIVE_CHECK_MS = 3000;

/** Fails unless the unit stays active for ACTIVE_CHECK_MS: a unit whose program cannot start is active for an instant only. */
function checkActive(unit: string, log: (line: string) => void): void {
  log(`checking: systemctl is-active ${unit} (for ${ACTIVE_CHECK_MS / 1000} s)`);
  const deadline = Date.now() + ACTIVE_CHECK_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const r = spawnSync('systemctl', ['is-active', unit], { encoding: 'utf8' });
    const state = (r.stdout ?? '').trim() || (r.error ? r.error.message : `exit code ${r.status}`);
    if (state !== 'active') {
      throw new ZddError('START_FAILED', `${unit} did not stay running after it started (systemctl is-active: ${state})`, {
        hint: `see why: journalctl -u ${unit} -n 50 (and systemctl status ${unit})`,
      });
    }
    if (Date.now() >= deadline) break;
    Atomics.wait(pause, 0, 0, 250);
  }
  log(`${unit} is active`);
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
      // a new link renamed over the path: replaces a stale one in one step
      const tmp = path.join(path.dirname(a.path), `.${path.basename(a.path)}.${process.pid}.tmp`);
      fs.rmSync(tmp, { force: true });
      fs.symlinkSync(a.target, tmp);
      fs.renameSync(tmp, a.path);
      log(`linked ${a.path} → ${a.target}`);
    } else if (a.kind === 'copy') {
      fs.copyFileSync(a.path, a.to);
      log(`copied ${a.path} to ${a.to}`);
    } else if (a.kind === 'check-active') {
      checkActive(a.unit, log);
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
        hint: 'install the zdd package where other users can read it: npm install -g puts it in /usr/local/lib/node_modules (see the README)',
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
    const host = observeHost(role, t);
    const files = host.unreadable.map((f) => under(t, f)).join(', ');
    if (files && !o.dryRun) throw new ZddError('PERMISSION_DENIED', `cannot read ${files}`, { hint: 'run it as root (sudo)' });
    const p = plan(t, host);
    if (files) p.notes.push(`could not read ${files} (permission denied), so this plan takes ${host.unreadable.length > 1 ? 'them' : 'it'} for absent: run it with sudo to compare against the installed files`);
    if (o.dryRun) print(describePlan(p, t));
    else applyPlan(p, t, print);
  };
  const common = (cmd: Command) =>
    cmd
      .option('--dry-run', 'print every file and command, with their content, and change nothing')
      .option('--now', 'also run the systemctl commands (otherwise they are printed)')
      .option('--root <dir>', 'write below DIR instead of / (tests, packaging); creates no user, runs no systemctl');
  const FORCE = 'replace an env file with other settings, a unit that zddctl install did not write (kept as .bak), or a link to another zdd package';
  const KEEP_ENV = 'keep an existing env file as it is (upgrades): update only the unit and the link';
  const install = program.command('install').description('install zdd-agent or zdd-coordinator as a systemd service on this host (as root)');
  common(install.command('agent').description('write /etc/zdd/agent.env and the zdd-agent unit, create the user zdd'))
    .option('--coordinator <addr>', 'coordinator address, host:port (required)')
    .option('--id <id>', 'agent id (default: the host name)')
    .option('--labels <k=v,...>', 'labels that service specs select hosts by')
    .option('--advertise <ip>', "address at which nginx reaches this host's apps")
    .option('--edge', 'this host runs nginx: the agent drives it')
    .addOption(new Option('--edge-mode <mode>', 'dynamic or reload').choices(['dynamic', 'reload']))
    .option('--join <token>', 'one-time join token (zddctl token create --agent ID prints it with the fingerprint)')
    .option('--ca-sha256 <fingerprint>', "the fleet CA's sha256, pinned when the agent joins")
    .option('--releases-root <dirs>', 'directories apps and hooks may run in besides staged releases, comma-separated (e.g. /srv/releases)')
    .option('--plaintext', 'no TLS, for a coordinator on loopback that serves plaintext')
    .option('--force', FORCE)
    .option('--keep-env', KEEP_ENV)
    .action((o) => {
      // zddctl's own --coordinator and --plaintext take these flags when they come before the subcommand's
      const coordinator = o.coordinator ?? (program.getOptionValueSource('coordinator') === 'cli' ? program.opts().coordinator : undefined);
      const plaintext = o.plaintext ?? (program.getOptionValueSource('plaintext') === 'cli' ? program.opts().plaintext : undefined);
      const envText = () => envFileText('agent', { ...o, coordinator, plaintext });
      run('agent', o, 'install', (t, host) => planInstall('agent', { envText, unitText: unitText('agent', pkgRoot), force: !!o.force, keepEnv: !!o.keepEnv }, host, t));
    });
  common(install.command('coordinator').description('write /etc/zdd/coordinator.env and the zdd-coordinator unit'))
    .option('--listen <addr>', 'gRPC address for agents and zddctl (default 127.0.0.1:7700)')
    .option('--db <file>', 'SQLite database file (default /var/lib/zdd-coordinator/zdd.db)')
    .option('--tls-san <names>', 'more DNS names or addresses for the server certificate, comma-separated')
    .option('--store <url>', 'the journal on PostgreSQL (postgres://USER:PASSWORD@HOST/DB): two or three coordinators on one database, one leads')
    .option('--advertise <addr>', 'host:port at which agents and zddctl reach this coordinator (standbys name the leader by it)')
    .option('--insecure', 'serve plaintext gRPC with no authentication (loud; for a network you fully control)')
    .option('--force', FORCE)
    .option('--keep-env', KEEP_ENV)
    .action((o) => {
      const envText = () => envFileText('coordinator', o);
      run('coordinator', o, 'install', (t, host) => planInstall('coordinator', { envText, unitText: unitText('coordinator', pkgRoot), force: !!o.force, keepEnv: !!o.keepEnv }, host, t));
    });
  common(
    program
      .command('uninstall')
      .argument('<service>', 'agent or coordinator')
      .description('stop and remove the service installed by zddctl install; its state stays unless --purge'),
  )
    .option('--purge', "also remove the state directory (agent: state, logs, releases; coordinator: the database) and the unit's drop-ins")
    .action((service: string, o) => {
      if (service !== 'agent' && service !== 'coordinator') throw invalid(`uninstall: "${service}" is neither agent nor coordinator`);
      run(service, o, 'uninstall', (t, host) => planUninstall(service, host, t, !!o.purge));
    });
}
