// Hosts with real addresses on one machine, for end-to-end runs: a Linux bridge on a private /24,
// one network namespace per host with a veth into the bridge, and processes started inside them.
// Everything is named per run (namespaces `PREFIX-ID-HOST`, bridge `zddID`, veths `zID<n>`), so
// parallel runs never meet, and `destroy()` removes it all: the processes in each namespace, the
// namespaces, the veths and the bridge. An 'exit' hook does the same synchronously when the program
// ends without it, and a run whose process died outright (SIGKILL) is swept by the next `create()`
// from the record it left in the state directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processStartTicks } from '../lib/proc.js';

export interface TopologyOptions {
  /** the start of every namespace name of this run (letters, digits, dashes) */
  prefix: string;
  /** host names (letters, digits, dashes); each becomes a namespace with its own address */
  hosts: string[];
  /** how long processes get between SIGTERM and SIGKILL in destroy() (default 5 s) */
  graceMs?: number;
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

export type NetnsErrorCode = 'NOT_ROOT' | 'INVALID_ARGUMENT' | 'IP_FAILED' | 'NO_SUBNET' | 'UNKNOWN_HOST';

export class NetnsError extends Error {
  constructor(readonly code: NetnsErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'NetnsError';
  }
}

/** Where each live run records what it created, for the sweep of runs whose process died. */
const STATE_DIR = path.join(os.tmpdir(), 'zdd-netns');

interface RunRecord {
  id: string;
  owner: number;
  ownerTicks: number | undefined;
  subnet: string;
  bridge: string;
  namespaces: string[];
  veths: string[];
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

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of every process in a namespace (none when the namespace is gone). */
export function nsPids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').map(Number).filter((n) => n > 0 && n !== process.pid);
}

function signalAll(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** Synchronous teardown from a record: SIGKILL, wait for the namespaces to empty, delete. */
function teardownSync(rec: RunRecord): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = rec.namespaces.flatMap(nsPids);
    if (!pids.length || Date.now() > deadline) break;
    signalAll(pids, 'SIGKILL');
    sleepSync(50);
  }
  removeLinks(rec);
}

function removeLinks(rec: RunRecord): void {
  for (const ns of rec.namespaces) ipQuiet(['netns', 'delete', ns]);
  // deleting a namespace destroys its veth end, and the kernel then removes the peer, but not
  // always before we look: delete the peers too, and the bridge last
  for (const v of rec.veths) ipQuiet(['link', 'delete', v]);
  ipQuiet(['link', 'delete', rec.bridge]);
  fs.rmSync(path.join(STATE_DIR, `${rec.id}.json`), { force: true });
}

/** Removes what runs whose process is gone left behind (a SIGKILL runs no exit hook). */
function sweepDeadRuns(): void {
  let files: string[] = [];
  try {
    files = fs.readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    let rec: RunRecord;
    try {
      rec = JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8'));
    } catch {
      continue; // being written by a run starting now
    }
    if (!rec.id || !Array.isArray(rec.namespaces)) continue;
    const ticks = processStartTicks(rec.owner);
    const alive = ticks !== undefined && ticks === rec.ownerTicks;
    if (!alive) teardownSync(rec);
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
  try {
    for (const f of fs.readdirSync(STATE_DIR)) {
      const m = /"subnet":"(10\.231\.\d+\.0)\/24"/.exec(fs.readFileSync(path.join(STATE_DIR, f), 'utf8'));
      if (m) prefixes.push({ net: m[1], len: 24 });
    }
  } catch {
    /* no other run */
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
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(o.prefix)) throw new NetnsError('INVALID_ARGUMENT', `prefix "${o.prefix}": expected lower-case letters, digits, dashes`);
    if (o.hosts.length < 1 || o.hosts.length > 200 || new Set(o.hosts).size !== o.hosts.length) {
      throw new NetnsError('INVALID_ARGUMENT', 'expected 1 to 200 distinct host names');
    }
    for (const h of o.hosts) if (!/^[a-z][a-z0-9-]{0,30}$/.test(h)) throw new NetnsError('INVALID_ARGUMENT', `host name "${h}": expected lower-case letters, digits, dashes`);
    fs.mkdirSync(STATE_DIR, { recursive: true });
    sweepDeadRuns();

    const existingLinks = ip(['-o', 'link']);
    const existingNs = ip(['netns', 'list']);
    let id = '';
    for (let i = 0; i < 50 && !id; i++) {
      const c = crypto.randomBytes(3).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 4);
      // the record file is claimed exclusively, so two runs starting together never share an id
      if (c.length === 4 && !existingLinks.includes(`zdd${c}`) && !existingNs.includes(`-${c}-`) && claim(c)) id = c;
    }
    if (!id) throw new NetnsError('IP_FAILED', 'no free run id');
    const free = freeOctets();
    if (!free.length) {
      fs.rmSync(path.join(STATE_DIR, `${id}.json`), { force: true });
      throw new NetnsError('NO_SUBNET', 'no 10.231.X.0/24 is free of this machine\'s addresses and routes');
    }
    const x = free[crypto.randomInt(free.length)];

    const rec: RunRecord = {
      id,
      owner: process.pid,
      ownerTicks: processStartTicks(process.pid),
      subnet: `10.231.${x}.0/24`,
      bridge: `zdd${id}`,
      namespaces: o.hosts.map((h) => `${o.prefix}-${id}-${h}`),
      veths: o.hosts.map((_, i) => `z${id}${i}`),
    };
    // recorded before anything exists, so that a crash half-way is swept like a whole run
    writeRecord(rec);
    const t = new Topology(rec, o.graceMs ?? 5000);
    live.add(t);
    try {
      ip(['link', 'add', rec.bridge, 'type', 'bridge']);
      ip(['link', 'set', rec.bridge, 'up']);
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
      let pids = this.pids();
      signalAll(pids, 'SIGTERM');
      const deadline = Date.now() + this.graceMs;
      while (pids.length && Date.now() < deadline) {
        await sleep(100);
        pids = this.pids();
      }
      this.destroySync();
    })();
    return this.destroying;
  }

  /** Synchronous teardown (SIGKILL at once), for the exit hook; idempotent. */
  destroySync(): void {
    if (this.state === 'destroyed') return;
    this.state = 'destroying';
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
    return out;
  }
}

/** Claims a run id by creating its record exclusively (nothing of the run exists yet). */
function claim(id: string): boolean {
  const rec: RunRecord = { id, owner: process.pid, ownerTicks: processStartTicks(process.pid), subnet: '', bridge: `zdd${id}`, namespaces: [], veths: [] };
  try {
    fs.writeFileSync(path.join(STATE_DIR, `${id}.json`), JSON.stringify(rec), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

function writeRecord(rec: RunRecord): void {
  const file = path.join(STATE_DIR, `${rec.id}.json`);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(rec));
  fs.renameSync(`${file}.tmp`, file);
}
