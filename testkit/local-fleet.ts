// A whole zdd fleet on loopback: a coordinator, N agents (the first one the edge, with its own
// nginx), and releases of the sample app. The demo, the integration tests and the benchmarks run
// real processes through it. It stops everything it started, by pid and process group, also when
// the caller fails (an exit hook kills what is left).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../lib/paths.js';
import { portFree, processStartTicks } from '../lib/proc.js';
import { Client, type Credentials } from '../cli/client.js';
import { readClientConfig } from '../lib/client-config.js';
import { AgentIdentity, type AgentCredentials } from '../agent/identity.js';
import { agentStateLayout, nginxMasterPid } from '../agent/state-layout.js';

export interface FleetOptions {
  agents: number;
  edgeMode?: 'dynamic' | 'reload';
  dir?: string;
  logLevel?: string;
  /** keep the fleet's directory after stop (logs for a failed test) */
  keepDir?: boolean;
  /** where the coordinator's database lives (default: the fleet's directory) */
  dbDir?: string;
  /** extra coordinator flags */
  coordinatorArgs?: string[];
  /** how long a started coordinator may take to answer (a minute: on two busy cores, beside another fleet, a restart took over 15 s) */
  coordinatorReadyMs?: number;
  /** extra flags of agent i (1-based) */
  agentArgs?: (i: number) => string[];
  /** plaintext gRPC with no identities instead of mutual TLS (the default, as in production) */
  plaintext?: boolean;
  /** the journal on this PostgreSQL (postgres://…) instead of SQLite */
  postgres?: string;
  /** coordinators on that PostgreSQL (1 by default): one leads, the others stand by */
  coordinators?: number;
  /** the coordinator serves Prometheus metrics on metricsPort (loopback; TLS unless plaintext) */
  metrics?: boolean;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const CLAIMS = path.join(os.tmpdir(), 'zdd-port-claims');
const BLOCK = 100;

/** The sample app (examples/app) as a release directory: its files and its one dependency (ws), as `npm install` would leave them. */
export function writeSampleApp(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['server.js', 'package.json']) fs.copyFileSync(path.join(ROOT, 'examples/app', f), path.join(dir, f));
  fs.cpSync(path.join(ROOT, 'node_modules/ws'), path.join(dir, 'node_modules/ws'), { recursive: true });
}

/**
 * A block of `n` consecutive free ports (n ≤ 100), claimed for this fleet. Fleets started at the
 * same time (tests run side by side, in one process or several) check ports before any of them is
 * bound, so the check alone cannot keep two fleets apart: each 100-port block is also claimed by
 * creating a file exclusively, and a claim whose process is gone is taken over.
 */
export async function claimBlock(n: number): Promise<{ base: number; file: string }> {
  fs.mkdirSync(CLAIMS, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    // below the kernel's ephemeral range (32768+), so client sockets and port-0 listeners never land here
    const base = 12_000 + BLOCK * Math.floor(Math.random() * ((30_000 - 12_000) / BLOCK));
    const file = path.join(CLAIMS, String(base));
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      const owner = Number(fs.readFileSync(file, 'utf8').trim() || 0);
      if (owner && processStartTicks(owner) !== undefined) continue;
      fs.rmSync(file, { force: true }); // left by a process that is gone
      continue;
    }
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
    if (ok) return { base, file };
    fs.rmSync(file, { force: true });
  }
  throw new Error('no block of free ports found');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const live = new Set<LocalFleet>();
process.on('exit', () => {
  for (const f of live) {
    f.killAllSync();
    if (!f.o.keepDir) fs.rmSync(f.dir, { recursive: true, force: true });
  }
});
// A process stopped by a signal runs no 'exit' handler: unless the program handles the signal
// itself (the demo does), the fleets it started are killed before it goes.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  const onSignal = () => {
    if (process.listenerCount(sig) > 1) return;
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  };
  process.on(sig, onSignal);
}

export class LocalFleet {
  readonly dir: string;
  readonly releases: string;
  /** every coordinator's address, comma-separated (agents and zddctl take the list) */
  coordinatorAddr = '';
  /** coordinator n's address (1-based) */
  readonly coordinatorAddrs: string[] = [];
  nginxPort = 0;
  adminAddr = '';
  appPortBase = 0;
  /** free for a spec's preview listener */
  previewPort = 0;
  /** with the metrics option: where the coordinator serves /metrics */
  metricsPort = 0;
  /** the file that claims this fleet's port block, removed when it stops */
  private portClaim = '';
  private readonly procs = new Map<string, ChildProcess>();
  private dbFile: string;
  /** one-time join tokens of agents that have not joined yet, by agent number */
  private readonly joinTokens = new Map<number, string>();
  /** the fleet CA's sha256, known once the coordinator has started over TLS */
  caSha256 = '';

  private constructor(readonly o: FleetOptions) {
    this.dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-fleet-'));
    this.releases = path.join(this.dir, 'releases');
    this.dbFile = path.join(o.dbDir ?? this.dir, 'coordinator.db');
    for (const d of ['logs', 'agents', 'releases']) fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    live.add(this);
  }

  static async start(o: FleetOptions): Promise<LocalFleet> {
    const f = new LocalFleet(o);
    try {
      // Every listening port from one block below the ephemeral range: a port-0 probe there could
      // be taken by a client socket (a load generator opens thousands) before nginx binds it.
      const coordinators = o.coordinators ?? 1;
      const claim = await claimBlock(2 * o.agents + 4 + coordinators);
      f.portClaim = claim.file;
      const base = claim.base;
      f.coordinatorAddrs.push(`127.0.0.1:${base}`);
      for (let n = 2; n <= coordinators; n++) f.coordinatorAddrs.push(`127.0.0.1:${base + 2 * o.agents + 4 + n - 2}`);
      f.coordinatorAddr = f.coordinatorAddrs.join(',');
      f.nginxPort = base + 1;
      f.adminAddr = `127.0.0.1:${base + 2}`;
      f.appPortBase = base + 3;
      f.previewPort = base + 3 + 2 * o.agents;
      f.metricsPort = base + 2 * o.agents + 4 + coordinators - 1;
      await f.startCoordinator();
      for (let n = 2; n <= coordinators; n++) await f.startCoordinator(undefined, n);
      await f.enrol([...Array(o.agents)].map((_, i) => i + 1));
      for (let i = 1; i <= o.agents; i++) f.startAgent(i);
      await f.waitForAgents(o.agents);
      return f;
    } catch (err) {
      await f.stop();
      throw err;
    }
  }

  agentId(i: number) {
    return `host-${i}`;
  }
  agentDir(i: number) {
    return path.join(this.dir, 'agents', this.agentId(i));
  }

  private spawnLogged(name: string, args: string[], env?: Record<string, string>): ChildProcess {
    const out = fs.openSync(path.join(this.dir, 'logs', `${name}.log`), 'a');
    // a crash point is injected by a module preloaded into the process (testkit/crash-at.ts)
    const preload = env?.ZDD_CRASH_AT || env?.ZDD_CRASH_AT_FILE ? ['--import', pathToFileURL(path.join(ROOT, 'dist/testkit/crash-at.js')).href] : [];
    const child = spawn(process.execPath, [...preload, ...args], { stdio: ['ignore', out, out], cwd: this.dir, env: { ...process.env, ...env } });
    fs.closeSync(out);
    this.procs.set(name, child);
    child.once('exit', () => {
      if (this.procs.get(name) === child) this.procs.delete(name);
    });
    return child;
  }

  /** The coordinator's pid while it runs. */
  get coordinatorPid(): number | undefined {
    return this.procs.get('coordinator')?.pid;
  }

  /** Coordinator n's process name: its log is logs/NAME.log. */
  coordinatorName(n = 1): string {
    return n === 1 ? 'coordinator' : `coordinator-${n}`;
  }

  /** Coordinator n's pid while it runs. */
  pidOf(n: number): number | undefined {
    return this.procs.get(this.coordinatorName(n))?.pid;
  }

  /** Coordinator n's PKI directory: the fleet CA is the first's, copied (as an operator does for a second coordinator). */
  pkiDirOf(n: number): string {
    return n === 1 ? this.pkiDir : path.join(this.dir, `pki-${n}`);
  }

  get db(): string {
    return this.dbFile;
  }

  /** The coordinator's fleet CA and certificates; admin.json there is the local admin's zddctl config. */
  get pkiDir(): string {
    return path.join(this.dir, 'pki');
  }

  get adminConfig(): string {
    return path.join(this.pkiDir, 'admin.json');
  }

  private adminCredentials: Credentials | undefined;
  /** The admin's credentials (or plaintext) for an in-process control client; read once, tests poll with them. */
  credentials(): Credentials {
    this.adminCredentials ??= this.o.plaintext ? 'plaintext' : readClientConfig(this.adminConfig);
    return this.adminCredentials;
  }

  /** Agent i's TLS credentials as it keeps them (the pinned CA, its key and certificate). */
  agentCredentials(i: number): AgentCredentials {
    const id = AgentIdentity.load(this.agentDir(i));
    if (!id) throw new Error(`agent ${i} has not joined`);
    return id.credentials;
  }

  /** A control client as the fleet's admin; close it after use. */
  client(): Client {
    return new Client(this.coordinatorAddr, this.credentials());
  }

  /** GET /metrics from the coordinator, with the admin's certificate (or none, for a plaintext fleet, or the given one). */
  scrape(creds?: { caPem: string; keyPem: string; certPem: string } | 'none'): Promise<{ status: number; text: string }> {
    const own = this.credentials();
    const c = creds ?? (own === 'plaintext' ? 'none' : own);
    return new Promise((resolve, reject) => {
      const done = (res: http.IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      };
      const where = { host: '127.0.0.1', port: this.metricsPort, path: '/metrics', agent: false, timeout: 10_000 };
      const req = this.o.plaintext
        ? http.get(where, done)
        : https.get({ ...where, ca: own === 'plaintext' ? undefined : own.caPem, ...(c === 'none' ? {} : { key: c.keyPem, cert: c.certPem }) }, done);
      req.on('error', reject);
    });
  }

  /** The flags that make zddctl talk to this fleet's coordinator as its admin. */
  zddctlTarget(coordinator = this.coordinatorAddr): string[] {
    return ['--coordinator', coordinator, ...(this.o.plaintext ? ['--plaintext'] : ['--config', this.adminConfig])];
  }

  /** Makes join tokens for agents that start for the first time (over TLS); startAgent passes them. */
  async enrol(agents: number[]): Promise<void> {
    if (this.o.plaintext) return;
    const c = this.client();
    try {
      for (const i of agents) {
        const t = await c.call('CreateJoinToken', { kind: 'agent', name: this.agentId(i), role: '', ttl_ms: 3_600_000 });
        this.joinTokens.set(i, t.token);
        this.caSha256 = t.ca_sha256;
      }
    } finally {
      c.close();
    }
  }

  /**
   * Starts coordinator n (the first by default) and waits until it answers (a standby answers
   * through the leader); `env` can carry ZDD_CRASH_AT=SEQ:before|after, a step boundary to SIGKILL it at.
   */
  async startCoordinator(env?: Record<string, string>, n = 1): Promise<void> {
    const name = this.coordinatorName(n);
    const pki = this.pkiDirOf(n);
    if (n > 1 && !this.o.plaintext && !fs.existsSync(path.join(pki, 'ca.crt'))) {
      fs.mkdirSync(pki, { recursive: true, mode: 0o700 });
      for (const f of ['ca.key', 'ca.crt']) fs.copyFileSync(path.join(this.pkiDir, f), path.join(pki, f));
    }
    this.spawnLogged(
      name,
      [
        path.join(ROOT, 'bin/zdd-coordinator.js'),
        '--listen', this.coordinatorAddrs[n - 1],
        ...(this.o.postgres ? ['--store', this.o.postgres, '--db', path.join(this.dir, 'unused.db')] : ['--db', this.dbFile]),
        '--heartbeat-ms', '1000',
        '--log-level', this.o.logLevel ?? 'info',
        ...(this.o.plaintext ? ['--plaintext'] : ['--pki-dir', pki]),
        ...(this.o.metrics ? ['--metrics-listen', `127.0.0.1:${this.metricsPort}`] : []),
        ...(this.o.coordinatorArgs ?? []),
      ],
      env,
    );
    const deadline = Date.now() + (this.o.coordinatorReadyMs ?? 60_000);
    // first until it accepts a connection (cheap, in this process), then until it answers: a
    // zddctl started every 100 ms meanwhile would take the CPU the starting coordinator needs
    const [host, port] = this.coordinatorAddrs[n - 1].split(':');
    while (Date.now() < deadline && this.procs.has(name) && !(await accepts(host, Number(port)))) await sleep(100);
    while (Date.now() < deadline) {
      // the admin's config appears once the (first) coordinator has made its certificates
      const r = this.o.plaintext || fs.existsSync(this.adminConfig) ? await this.zddctl(['whoami'], { coordinator: this.coordinatorAddrs[n - 1] }) : { code: 1 };
      if (r.code === 0) return;
      if (!this.procs.has(name)) break;
      await sleep(100);
    }
    throw new Error(`${name} did not come up: ${this.log(name).slice(-800)}`);
  }

  /** Resolves when the coordinator process has exited (for instance at an injected crash point). */
  coordinatorExited(timeoutMs = 30_000, n = 1): Promise<void> {
    const p = this.procs.get(this.coordinatorName(n));
    if (!p) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the coordinator did not exit within ${timeoutMs}ms`)), timeoutMs);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Signals the coordinator and waits for it to exit. */
  async stopCoordinator(signal: NodeJS.Signals = 'SIGKILL', n = 1): Promise<void> {
    const p = this.procs.get(this.coordinatorName(n));
    if (!p) return;
    const exited = this.coordinatorExited(30_000, n);
    p.kill(signal);
    await exited;
  }

  /** Starts agent i (1-based); agent 1 is the edge. Apps of agent i use ports base+2(i-1) and +1. */
  startAgent(i: number): ChildProcess {
    const args = [
      path.join(ROOT, 'bin/zdd-agent.js'),
      '--coordinator', this.coordinatorAddr,
      '--id', this.agentId(i),
      '--state-dir', this.agentDir(i),
      '--labels', `role=web,n=${i}`,
      '--port-offset', String(2 * (i - 1)),
      '--releases-root', this.releases,
      '--log-level', this.o.logLevel ?? 'info',
    ];
    if (this.o.plaintext) args.push('--plaintext');
    else if (!fs.existsSync(path.join(this.agentDir(i), 'tls', 'agent.pem'))) {
      const token = this.joinTokens.get(i);
      if (!token) throw new Error(`agent ${i} has not joined: call fleet.enrol([${i}]) before its first start`);
      this.joinTokens.delete(i);
      args.push('--join', token, '--ca-sha256', this.caSha256);
    }
    if (i === 1) {
      args.push('--edge', '--nginx-admin', this.adminAddr, '--nginx-workers', '2');
      if (this.o.edgeMode) args.push('--edge-mode', this.o.edgeMode);
    }
    args.push(...(this.o.agentArgs?.(i) ?? []));
    return this.spawnLogged(this.agentId(i), args);
  }

  /** Signals an agent process and waits for it to exit. */
  async stopAgent(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.procs.get(this.agentId(i));
    if (!p) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  /**
   * Kills agent i and every app instance it runs at once (SIGKILL), as a host that loses power.
   * Returns the instant of the kill and the apps it killed.
   */
  async killHost(i: number): Promise<{ at: number; apps: ReturnType<LocalFleet['instances']> }> {
    const apps = this.instances().filter((x) => x.agent === i && processStartTicks(x.pid) === x.startTicks);
    const agent = this.stopAgent(i, 'SIGKILL');
    const at = Date.now();
    for (const a of apps) {
      try {
        process.kill(-a.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await agent;
    return { at, apps };
  }

  log(name: string): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'logs', `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Waits until n agents are connected. A minute by default: two fleets starting side by side on
   * two busy cores (with TLS, PostgreSQL and nginx) took longer than 20 s to connect their agents.
   */
  async waitForAgents(n: number, timeoutMs = 60_000): Promise<void> {
    const c = this.client();
    try {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const r = await c.call('ListAgents', {}).catch(() => ({ agents: [] }));
        if (r.agents.filter((a: { connected: boolean }) => a.connected).length >= n) return;
        await sleep(100);
      }
      // the fleet's directory goes when a start fails: what explains it is in the error
      const names = [...[...Array(this.o.coordinators ?? 1)].map((_, k) => this.coordinatorName(k + 1)), ...[...Array(this.o.agents)].map((_, i) => this.agentId(i + 1))];
      const logs = names.map((name) => `--- ${name} ---\n${this.log(name).slice(-1200)}`).join('\n');
      throw new Error(`only some of ${n} agents connected within ${timeoutMs}ms\n${logs}`);
    } finally {
      c.close();
    }
  }

  /** Writes a release of the sample app, optionally with an app-config.json that misbehaves. */
  writeRelease(version: string, config?: Record<string, unknown>): string {
    const dir = path.join(this.releases, version);
    fs.mkdirSync(dir, { recursive: true });
    writeSampleApp(dir);
    if (config) fs.writeFileSync(path.join(dir, 'app-config.json'), JSON.stringify(config));
    return dir;
  }

  /** The sample app's release packed as a .tar.gz artifact (in the fleet's directory), with its sha256. */
  packRelease(version: string, config?: Record<string, unknown>): { file: string; sha256: string } {
    const dir = this.writeRelease(version, config);
    const file = path.join(this.dir, `web-${version}.tar.gz`);
    const r = spawnSync('tar', ['-czf', file, '-C', dir, '.']);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    return { file, sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') };
  }

  /** A spec for the sample app on this fleet; `patch` overrides top-level fields. */
  spec(patch: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name: 'web',
      command: `${process.execPath} server.js`,
      workdir: path.join(this.releases, '{version}'),
      ports: { a: this.appPortBase, b: this.appPortBase + 1 },
      health: { path: '/healthz', interval: '50ms', timeout: '1s', healthyThreshold: 2, deadline: '15s' },
      stop: { signal: 'SIGTERM', drainTimeout: '10s' },
      hosts: { selector: { role: 'web' } },
      nginx: { listen: `127.0.0.1:${this.nginxPort}`, retry: 'off', upstreamKeepaliveTimeout: '4s' },
      // every process of this fleet shares one machine's cores: a just-started instance's latency
      // says more about the neighbours than about the version, so only a gross p95 gap counts
      analysis: { maxP95Ratio: 20 },
      ...patch,
    };
  }

  async apply(spec: Record<string, unknown>): Promise<CliResult> {
    const file = path.join(this.dir, `spec-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.json`);
    fs.writeFileSync(file, JSON.stringify(spec, null, 2));
    return this.zddctl(['apply', '-f', file]);
  }

  /** Runs zddctl against this fleet's coordinator. */
  zddctl(args: string[], opts: { inherit?: boolean; coordinator?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/zddctl.js'), ...this.zddctlTarget(opts.coordinator), ...args], {
        stdio: opts.inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c) => (stdout += c));
      child.stderr?.on('data', (c) => (stderr += c));
      // 'close', not 'exit': only then has everything the process printed been read
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  /** The app instances the agents supervise, from their state files. */
  instances(): { agent: number; service: string; slot: string; version: string; pid: number; port: number; state: string; startTicks: number }[] {
    const out = [];
    for (let i = 1; i <= this.o.agents; i++) {
      try {
        const recs = JSON.parse(fs.readFileSync(agentStateLayout(this.agentDir(i)).instances, 'utf8'));
        for (const r of recs) out.push({ agent: i, ...r });
      } catch {
        /* none */
      }
    }
    return out;
  }

  /**
   * Executed (not replayed) commands of a kind on agent i, of one rollout when given (the agent
   * keeps its latest 500 results: counts across many rollouts need the rollout id).
   */
  executed(i: number, kind: string, rolloutId?: string): number {
    try {
      const log = JSON.parse(fs.readFileSync(agentStateLayout(this.agentDir(i)).commands, 'utf8')) as [string, { kind: string }][];
      return log.filter(([id, r]) => r.kind === kind && (!rolloutId || id.includes(`:${rolloutId}/`))).length;
    } catch {
      return 0;
    }
  }

  /** The private nginx's master, only if the pid file still names our nginx (not a reused pid). */
  private nginxPid(): number | undefined {
    const layout = agentStateLayout(this.agentDir(1));
    return nginxMasterPid(layout.nginxPidFile, layout.nginxPrefix);
  }

  /**
   * Last resort, synchronous: SIGKILL every process this fleet started, and nothing else: an app
   * instance only while its pid still has the start time the agent recorded.
   */
  killAllSync(): void {
    for (const p of this.procs.values()) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    const killGroup = (pid: number) => {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    };
    for (const inst of this.instances()) if (processStartTicks(inst.pid) === inst.startTicks) killGroup(inst.pid);
    const nginx = this.nginxPid();
    if (nginx) killGroup(nginx);
    // an app an agent spawned but never recorded (the agent was killed in that instant) runs in
    // one of this fleet's release directories: found by its working directory
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const cwd = fs.readlinkSync(`/proc/${p}/cwd`).replace(/ \(deleted\)$/, '');
        if (cwd.startsWith(`${this.dir}/`) && fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').some((e) => e.startsWith('ZDD_SERVICE='))) killGroup(Number(p));
      } catch {
        /* gone, or not ours */
      }
    }
    // nothing of this fleet listens any more: its port block is free for the next one
    if (this.portClaim) fs.rmSync(this.portClaim, { force: true });
  }

  /** Stops agents (which stop their nginx), the coordinator and every app instance, then removes the directory. */
  async stop(): Promise<void> {
    const names = [...this.procs.keys()];
    await Promise.all(
      names.map(async (n) => {
        const p = this.procs.get(n);
        if (!p) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }),
    );
    this.killAllSync();
    live.delete(this);
    if (!this.o.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether something accepts a TCP connection on host:port (within a second). */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
