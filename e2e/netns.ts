// Hosts with real addresses on one machine, for end-to-end runs: a Linux bridge on a private /24,
// one network namespace per host with a veth into the bridge, and processes started inside them.
// Everything is named per run (namespaces `PREFIX-ID-HOST`, bridge `zddID`, veths `zID<n>`), so
// parallel runs never meet, and `destroy()` removes it all: the processes in each namespace, the
// namespaces, the veths and the bridge. An 'exit' hook does the same synchronously when the program
// ends without it, and a run whose process died outright (SIGKILL) is swept by the next `create()`
// from the record it left in the state directory (root's own, under /run; see netns-record.ts for
// what a record may name). Processes are signalled only after checking that they are in the
// namespace, so a pid reused since it was listed is left alone.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processStartTicks } from '../lib/proc.js';
import { acceptRule, planForward } from './bridge-forward.js';
import { bridgeName, isRunDir, NAME, nsName, parseRecord, RecordInvalid, recordFile, RUN_ID, vethName, type RunRecord } from './netns-record.js';

export interface TopologyOptions {
  /** the start of every namespace name of this run (letters, digits, dashes) */
  prefix: string;
  /** host names (letters, digits, dashes); each becomes a namespace with its own address */
  hosts: string[];
  /** how long processes get between SIGTERM and SIGKILL in destroy() (default 5 s) */
  graceMs?: number;
  /**
   * The run's directory (made by mkdtemp in the temporary directory, named `zdd-…`): recorded, so
   * that a sweep removes it when the run's process died. A live run removes it itself, or keeps it.
   */
  runDir?: string;
}

export interface Host {
  readonly name: string;
  /** the network namespace (`ip netns exec NS ...`) */
  readonly ns: string;
  /** the host's address on the run's subnet */
  readonly addr: string;
  /** the veth end in the root namespace, enslaved to the bridge; the other end is `eth0` in ns */
  readonly veth: string;
}

export interface SpawnOptions {
  /** file that gets the process's stdout and stderr; without one they are piped */
  log?: string;
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type NetnsErrorCode = 'NOT_ROOT' | 'INVALID_ARGUMENT' | 'IP_FAILED' | 'NO_SUBNET' | 'UNKNOWN_HOST' | 'UNSAFE_STATE_DIR' | 'FORWARD_BLOCKED';

export class NetnsError extends Error {
  constructor(readonly code: NetnsErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'NetnsError';
  }
}

/**
 * Where each live run records what it created, for the sweep of runs whose process died. Root's
 * own: the sweep kills and deletes what the records name, so no one else may write one.
 */
const STATE_DIR = '/run/zdd-netns';

/** Creates the state directory (0700), or checks that the one there is root's and writable by root alone. */
function ensureStateDir(): void {
  try {
    fs.mkdirSync(STATE_DIR, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new NetnsError('UNSAFE_STATE_DIR', `${STATE_DIR}: ${(err as Error).message}`, { cause: err });
  }
  const st = fs.lstatSync(STATE_DIR);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new NetnsError(
      'UNSAFE_STATE_DIR',
      `${STATE_DIR} is not a directory of root's that only root can write (uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}); remove it and run again`,
    );
  }
}

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new NetnsError('IP_FAILED', `ip ${args.join(' ')}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) throw new NetnsError('IP_FAILED', `ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `ip` for removal: a thing already gone is what we wanted. */
function ipQuiet(args: string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' });
}

/** `iptables -w ARGS`: undefined when there is no iptables, else its exit status and output. */
function iptables(args: string[]): { status: number; out: string } | undefined {
  const r = spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
  return { status: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

function bridgeNfCallIptables(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8');
  } catch {
    return undefined; // br_netfilter not loaded
  }
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type NsIdentity = { dev: number; ino: number };

/** The namespace's identity (device and inode of its nsfs file), undefined when it is gone. */
function nsIdentity(ns: string): NsIdentity | undefined {
  try {
    const st = fs.statSync(`/run/netns/${ns}`);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** True when process `pid` is in the namespace now (false when it is gone or elsewhere). */
function inNamespace(pid: number, id: NsIdentity): boolean {
  try {
    const st = fs.statSync(`/proc/${pid}/ns/net`);
    return st.dev === id.dev && st.ino === id.ino;
  } catch {
    return false;
  }
}

/** Pids of every process in a namespace, each checked to be in it (none when the namespace is gone). */
export function nsPids(ns: string): number[] {
  const id = nsIdentity(ns);
  if (!id) return [];
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map(Number)
    .filter((n) => n > 0 && n !== process.pid && inNamespace(n, id));
}

/**
 * Signals every process in the namespaces; returns how many it signalled. Each pid is checked
 * against the namespace again just before its signal, so one that ended and was reused since
 * `ip netns pids` listed it is skipped.
 */
function signalNamespaces(namespaces: readonly string[], sig: NodeJS.Signals): number {
  let n = 0;
  for (const ns of namespaces) {
    const id = nsIdentity(ns);
    if (!id) continue;
    for (const pid of nsPids(ns)) {
      if (!inNamespace(pid, id)) continue;
      try {
        process.kill(pid, sig);
        n++;
      } catch {
        /* gone */
      }
    }
  }
  return n;
}

/** Synchronous teardown from a record: SIGKILL, wait for the namespaces to empty, delete. */
function teardownSync(rec: RunRecord, opts: { removeRunDir?: boolean } = {}): void {
  const deadline = Date.now() + 5000;
  while (signalNamespaces(rec.namespaces, 'SIGKILL') && Date.now() < deadline) sleepSync(50);
  removeLinks(rec);
  if (opts.removeRunDir && rec.runDir) removeRunDir(rec.runDir);
  fs.rmSync(path.join(STATE_DIR, recordFile(rec.id)), { force: true });
}

function removeLinks(rec: RunRecord): void {
  for (const ns of rec.namespaces) ipQuiet(['netns', 'delete', ns]);
  // deleting a namespace destroys its veth end, and the kernel then removes the peer, but not
  // always before we look: delete the peers too, and the bridge last
  for (const v of rec.veths) ipQuiet(['link', 'delete', v]);
  if (rec.forwardRule) iptables(['-D', ...acceptRule(rec.bridge)]);
  ipQuiet(['link', 'delete', rec.bridge]);
}

/**
 * Removes a dead run's directory, if it is still the one the run made: a directory of root's that
 * no one else can write. /tmp is everyone's, and a directory someone else made under the recorded
 * name (after a cleaner removed the run's) is left alone.
 */
function removeRunDir(dir: string): void {
  if (!isRunDir(dir)) return;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return; // gone already
  }
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    process.stderr.write(`netns: left ${dir} of a dead run: not a directory only root can write\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Removes what runs whose process is gone left behind (a SIGKILL runs no exit hook). */
function sweepDeadRuns(): void {
  const files = fs.readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(STATE_DIR, f), 'utf8');
    } catch {
      continue; // removed by its run just now
    }
    let rec: RunRecord;
    try {
      rec = parseRecord(f, text);
    } catch (err) {
      // records are written whole (exclusively, or by rename), so this is no record half-written
      process.stderr.write(`netns: ignored record ${(err as RecordInvalid).message}\n`);
      continue;
    }
    const ticks = processStartTicks(rec.owner);
    const alive = ticks !== undefined && ticks === rec.ownerTicks;
    if (!alive) teardownSync(rec, { removeRunDir: true });
  }
}

const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;

/** True when two IPv4 prefixes share an address. */
function overlaps(a: string, alen: number, b: string, blen: number): boolean {
  const len = Math.min(alen, blen);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((toInt(a) & mask) >>> 0) === ((toInt(b) & mask) >>> 0);
}

/** Third octets X free for 10.231.X.0/24: no address or route of this machine, nor another live run, in it. */
function freeOctets(): number[] {
  // `default` routes are written as the word, so every prefix listed here is a specific one
  const text = ip(['-4', 'addr']) + ip(['-4', 'route', 'show', 'table', 'all']);
  const prefixes = [...text.matchAll(/\b(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?/g)].map((m) => ({ net: m[1], len: Number(m[2] ?? 32) }));
  for (const f of fs.readdirSync(STATE_DIR)) {
    try {
      const m = /"subnet":"(10\.231\.\d+\.0)\/24"/.exec(fs.readFileSync(path.join(STATE_DIR, f), 'utf8'));
      if (m) prefixes.push({ net: m[1], len: 24 });
    } catch {
      /* removed by its run just now */
    }
  }
  return [...Array(254).keys()]
    .map((i) => i + 1)
    .filter((x) => !prefixes.some((p) => p.len > 0 && overlaps(`10.231.${x}.0`, 24, p.net, p.len)));
}

const live = new Set<Topology>();
process.on('exit', () => {
  for (const t of live) t.destroySync();
});
// A process stopped by a signal runs no 'exit' handler: unless the program handles the signal
// itself (and then calls destroy()), exit, which runs the hook above.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (process.listenerCount(sig) > 1) return;
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  });
}

export class Topology {
  private readonly byName = new Map<string, Host>();
  private readonly procs = new Set<ChildProcess>();
  private state: 'creating' | 'up' | 'destroying' | 'destroyed' = 'creating';
  private destroying: Promise<void> | undefined;

  private constructor(
    private readonly rec: RunRecord,
    private readonly graceMs: number,
  ) {}

  get id(): string {
    return this.rec.id;
  }
  get bridge(): string {
    return this.rec.bridge;
  }
  get subnet(): string {
    return this.rec.subnet;
  }
  get namespaces(): readonly string[] {
    return this.rec.namespaces;
  }
  get hosts(): readonly Host[] {
    return [...this.byName.values()];
  }

  /** Creates the bridge, the namespaces and their links; on any failure removes what it made. */
  static create(o: TopologyOptions): Topology {
    if (process.getuid?.() !== 0) throw new NetnsError('NOT_ROOT', 'network namespaces need root');
    if (!NAME.test(o.prefix)) throw new NetnsError('INVALID_ARGUMENT', `prefix "${o.prefix}": expected lower-case letters, digits, dashes`);
    if (o.hosts.length < 1 || o.hosts.length > 200 || new Set(o.hosts).size !== o.hosts.length) {
      throw new NetnsError('INVALID_ARGUMENT', 'expected 1 to 200 distinct host names');
    }
    for (const h of o.hosts) if (!NAME.test(h)) throw new NetnsError('INVALID_ARGUMENT', `host name "${h}": expected lower-case letters, digits, dashes`);
    if (o.runDir !== undefined && !isRunDir(o.runDir)) throw new NetnsError('INVALID_ARGUMENT', `run directory "${o.runDir}": expected a zdd-… directory made by mkdtemp in ${os.tmpdir()}`);
    ensureStateDir();
    sweepDeadRuns();

    const existingLinks = ip(['-o', 'link']);
    const existingNs = ip(['netns', 'list']);
    let id = '';
    for (let i = 0; i < 50 && !id; i++) {
      const c = crypto.randomBytes(3).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 4);
      // the record file is claimed exclusively, so two runs starting together never share an id
      if (RUN_ID.test(c) && !existingLinks.includes(bridgeName(c)) && !existingNs.includes(`-${c}-`) && claim(c)) id = c;
    }
    if (!id) throw new NetnsError('IP_FAILED', 'no free run id');
    const free = freeOctets();
    if (!free.length) {
      fs.rmSync(path.join(STATE_DIR, recordFile(id)), { force: true });
      throw new NetnsError('NO_SUBNET', 'no 10.231.X.0/24 is free of this machine\'s addresses and routes');
    }
    const x = free[crypto.randomInt(free.length)];

    const rec: RunRecord = {
      id,
      owner: process.pid,
      ownerTicks: processStartTicks(process.pid),
      subnet: `10.231.${x}.0/24`,
      bridge: bridgeName(id),
      namespaces: o.hosts.map((h) => nsName(o.prefix, id, h)),
      veths: o.hosts.map((_, i) => vethName(id, i)),
      runDir: o.runDir,
    };
    // recorded before anything exists, so that a crash half-way is swept like a whole run
    writeRecord(rec);
    const t = new Topology(rec, o.graceMs ?? 5000);
    live.add(t);
    try {
      ip(['link', 'add', rec.bridge, 'type', 'bridge']);
      ip(['link', 'set', rec.bridge, 'up']);
      t.letBridgedTrafficThrough();
      o.hosts.forEach((name, i) => {
        const ns = rec.namespaces[i];
        const veth = rec.veths[i];
        const addr = `10.231.${x}.${i + 2}`;
        ip(['netns', 'add', ns]);
        ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        ip(['link', 'set', veth, 'master', rec.bridge, 'up']);
        ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        // the address brings this route already; stated so that the namespace's routing is explicit
        ip(['-n', ns, 'route', 'replace', rec.subnet, 'dev', 'eth0', 'src', addr]);
        t.byName.set(name, Object.freeze({ name, ns, addr, veth }));
      });
      t.state = 'up';
      return t;
    } catch (err) {
      t.destroySync();
      throw err;
    }
  }

  /**
   * Adds an iptables ACCEPT for traffic within the bridge when bridged traffic passes a FORWARD
   * chain that may drop it; recorded first, so that teardown and the sweep delete it.
   */
  private letBridgedTrafficThrough(): void {
    const chain = iptables(['-S', 'FORWARD']);
    if (chain && chain.status !== 0) {
      process.stderr.write(`netns: could not read iptables FORWARD (${chain.out.trim()}); bridged traffic may be dropped\n`);
      return;
    }
    const plan = planForward(bridgeNfCallIptables(), chain?.out);
    if (plan.kind === 'none') return;
    this.rec.forwardRule = true;
    writeRecord(this.rec);
    const r = iptables(['-I', ...acceptRule(this.rec.bridge)]);
    if (r?.status !== 0) {
      throw new NetnsError(
        'FORWARD_BLOCKED',
        `${plan.why}, and adding \`iptables -I ${acceptRule(this.rec.bridge).join(' ')}\` failed: ${r?.out.trim()}. ` +
          'Set net.bridge.bridge-nf-call-iptables=0 or let bridged traffic through FORWARD, and run again',
      );
    }
  }

  host(name: string): Host {
    const h = this.byName.get(name);
    if (!h) throw new NetnsError('UNKNOWN_HOST', `no host "${name}" in this topology`);
    return h;
  }

  addr(name: string): string {
    return this.host(name).addr;
  }

  /**
   * Starts `argv` in host `name`'s namespace. `ip netns exec` execs the command, so the child's pid
   * is the process itself.
   */
  spawnIn(name: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.state !== 'up') throw new NetnsError('UNKNOWN_HOST', `topology ${this.id} is ${this.state}`);
    const ns = this.host(name).ns;
    let out: number | undefined;
    if (opts.log) {
      fs.mkdirSync(path.dirname(opts.log), { recursive: true });
      out = fs.openSync(opts.log, 'a');
    }
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', out ?? 'pipe', out ?? 'pipe'],
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
    });
    if (out !== undefined) fs.closeSync(out);
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    return child;
  }

  /** Runs `argv` in host `name`'s namespace to its end, or to SIGKILL after `timeoutMs` (code 124). */
  run(name: string, argv: string[], opts: Omit<SpawnOptions, 'log'> & { inherit?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = this.spawnIn(name, argv, opts);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? 120_000);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c) => {
        if (opts.inherit) process.stdout.write(c);
        stdout += c;
      });
      child.stderr?.on('data', (c) => {
        if (opts.inherit) process.stderr.write(c);
        stderr += c;
      });
      child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
      // 'close', not 'exit': only then has everything the process printed been read
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve(timedOut ? { code: 124, stdout, stderr: `${stderr}\n(killed after ${opts.timeoutMs ?? 120_000}ms)` } : { code: code ?? 1, stdout, stderr });
      });
    });
  }

  /** Pids of every process in this run's namespaces. */
  pids(): number[] {
    return this.rec.namespaces.flatMap(nsPids);
  }

  /**
   * Stops every process in the run's namespaces (SIGTERM, SIGKILL after the grace), then deletes
   * the namespaces, veths and bridge. Idempotent; concurrent calls share one teardown.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.state = 'destroying';
      const deadline = Date.now() + this.graceMs;
      let left = signalNamespaces(this.rec.namespaces, 'SIGTERM');
      while (left && Date.now() < deadline) {
        await sleep(100);
        left = this.pids().length;
      }
      this.destroySync();
    })();
    return this.destroying;
  }

  /** Synchronous teardown (SIGKILL at once), for the exit hook; idempotent. */
  destroySync(): void {
    if (this.state === 'destroyed') return;
    this.state = 'destroying';
    // our own children: a pid is not reused before we reap it, so these need no namespace check
    for (const p of this.procs) p.kill('SIGKILL');
    teardownSync(this.rec);
    this.state = 'destroyed';
    live.delete(this);
    const left = this.leftovers();
    if (left.length) process.stderr.write(`netns: topology ${this.id} left behind: ${left.join(', ')}\n`);
  }

  /** What of this run still exists: namespaces, links, processes (empty after a clean destroy). */
  leftovers(): string[] {
    const out: string[] = [];
    const nsList = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const ns of this.rec.namespaces) if (new RegExp(`^${ns}(?:\\s|$)`, 'm').test(nsList)) out.push(`namespace ${ns}`);
    const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout ?? '';
    for (const l of [this.rec.bridge, ...this.rec.veths]) if (new RegExp(`: ${l}[@:]`).test(links)) out.push(`link ${l}`);
    if (this.rec.forwardRule && iptables(['-C', ...acceptRule(this.rec.bridge)])?.status === 0) out.push(`iptables rule ${acceptRule(this.rec.bridge).join(' ')}`);
    return out;
  }
}

/** Claims a run id by creating its record exclusively (nothing of the run exists yet). */
function claim(id: string): boolean {
  const rec: RunRecord = { id, owner: process.pid, ownerTicks: processStartTicks(process.pid), subnet: '', bridge: bridgeName(id), namespaces: [], veths: [] };
  try {
    fs.writeFileSync(path.join(STATE_DIR, recordFile(id)), JSON.stringify(rec), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

function writeRecord(rec: RunRecord): void {
  const file = path.join(STATE_DIR, recordFile(rec.id));
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(rec));
  fs.renameSync(`${file}.tmp`, file);
}
