// `npm run e2e:hosts`: zdd across hosts with real addresses, on one machine. Network namespaces on a
// private bridge (e2e/netns.ts) stand in for hosts: `edge` runs the coordinator, the edge agent with
// its nginx and a static server for release artifacts; `app1`..`app4` run one agent each; `client`
// runs the load generator against the edge's address. The scenario deploys v1 to every host, puts
// load on it, rolls out v2 one host at a time, and checks that every host serves v2 through nginx.
// It ends with the line "N requests, F failed" and exits 0 only when F is 0 and every step passed.
// The topology is destroyed at the end whatever happened (and on SIGINT/SIGTERM).
//
// Release artifacts (the default) stage tarballs served by the edge and run the spec's hooks;
// `--no-artifacts` writes each release into the host's directory and points `workdir` at it.
import { agentStateLayout } from '../agent/state-layout.js';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ROOT } from '../lib/paths.js';
import { processStartTicks } from '../lib/proc.js';
import { Topology, type RunResult } from './netns.js';
import { writeSampleApp } from '../testkit/local-fleet.js';

const APP_HOSTS = ['app1', 'app2', 'app3', 'app4'];
const COORDINATOR_PORT = 7700;
const NGINX_PORT = 8080;
const ARTIFACT_PORT = 8088;
const HOOKS = ['pre', 'beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop', 'post'] as const;

interface Config {
  readonly artifacts: boolean;
  readonly rps: number;
  readonly prefix: string;
  readonly keepDir: boolean;
  /** the whole run is abandoned (and cleaned up) after this long */
  readonly deadlineMs: number;
}

function parseConfig(): Config {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
    return n;
  };
  const o = new Command('e2e-hosts')
    .description('zdd across network namespaces: a rolling rollout over real addresses under load')
    .option('--artifacts', 'stage releases from tarballs served by the edge, with hooks (default)')
    .option('--no-artifacts', 'write releases into each host\'s directory and use the spec\'s workdir')
    .option('--rps <n>', 'load while the rollout runs, requests per second', int, 200)
    .option('--prefix <p>', 'start of the run\'s namespace names', 'zdd-e2e')
    .option('--keep-dir', 'keep the run\'s directory (logs) also when it passes', false)
    .option('--deadline-ms <n>', 'abandon the run after this long', int, 300_000)
    .parse()
    .opts();
  return Object.freeze({ artifacts: o.artifacts !== false, rps: o.rps, prefix: o.prefix, keepDir: o.keepDir, deadlineMs: o.deadlineMs });
}

const say = (s: string) => process.stdout.write(`==> ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const node = process.execPath;
const bin = (name: string) => path.join(ROOT, 'bin', name);
const script = (name: string) => path.join(ROOT, 'dist', 'e2e', name);

class StepFailed extends Error {
  constructor(readonly step: string, message: string, opts: { cause?: unknown } = {}) {
    super(`${step}: ${message}`, opts);
    this.name = 'StepFailed';
  }
}

interface LoadSummary {
  requests: number;
  failed: number;
  failures: Record<string, number>;
  versions: Record<string, number>;
  durationMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  stoppedBy: string;
}

interface Answer {
  status: number;
  version: string;
  pid: number;
}

class Scenario {
  readonly timings: { step: string; ms: number }[] = [];
  load: LoadSummary | undefined;
  private readonly edge: string;
  private readonly coordinator: string;

  constructor(
    readonly cfg: Config,
    readonly topo: Topology,
    readonly dir: string,
  ) {
    this.edge = topo.addr('edge');
    this.coordinator = `${this.edge}:${COORDINATOR_PORT}`;
  }

  private log(name: string) {
    return path.join(this.dir, 'logs', `${name}.log`);
  }
  private hostDir(host: string) {
    return path.join(this.dir, 'hosts', host);
  }

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    say(name);
    const began = Date.now();
    try {
      return await fn();
    } finally {
      this.timings.push({ step: name, ms: Date.now() - began });
    }
  }

  /** zddctl from the client namespace, as an operator's machine would run it. */
  async zddctl(args: string[], opts: { inherit?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    if (opts.inherit) process.stdout.write(`$ zddctl ${args.join(' ')}\n`);
    // as the fleet's admin, over mutual TLS: the config the coordinator wrote for its local admin
    return this.topo.run('client', [node, bin('zddctl.js'), '--coordinator', this.coordinator, '--config', path.join(this.dir, 'pki', 'admin.json'), ...args], opts);
  }

  async zddctlOk(step: string, args: string[], opts: { inherit?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.zddctl(args, opts);
    if (r.code !== 0) throw new StepFailed(step, `zddctl ${args[0]} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-600)}`);
    return r.stdout;
  }

  async until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new StepFailed(what, `not within ${timeoutMs}ms`);
      await sleep(100);
    }
  }

  async startControlPlane(): Promise<void> {
    const t = this.topo;
    fs.mkdirSync(path.join(this.dir, 'artifacts'), { recursive: true });
    t.spawnIn('edge', [node, script('serve.js'), path.join(this.dir, 'artifacts'), `${this.edge}:${ARTIFACT_PORT}`], { log: this.log('artifacts') });
    t.spawnIn(
      'edge',
      [node, bin('zdd-coordinator.js'), '--listen', this.coordinator, '--pki-dir', path.join(this.dir, 'pki'), '--db', path.join(this.dir, 'coordinator.db'), '--heartbeat-ms', '1000'],
      { log: this.log('coordinator') },
    );
    await this.until(
      'the coordinator answers from the client namespace',
      async () => (fs.existsSync(path.join(this.dir, 'pki', 'admin.json')) && (await this.zddctl(['agents', '--json'], { timeoutMs: 5000 })).code === 0 ? true : undefined),
      15_000,
    );
    const agent = async (host: string, extra: string[]) => {
      const dir = this.hostDir(host);
      fs.mkdirSync(path.join(dir, 'releases'), { recursive: true });
      // each host joins over TLS with its own one-time token, pinning the CA by its fingerprint
      const tok = JSON.parse(await this.zddctlOk(`a join token for ${host}`, ['token', 'create', '--agent', host, '--json'])) as { token: string; ca_sha256: string };
      // cwd: the host's directory, where a relative workdir (--no-artifacts) finds its releases
      t.spawnIn(
        host,
        [
          node, bin('zdd-agent.js'), '--coordinator', this.coordinator, '--id', host, '--state-dir', path.join(dir, 'state'), '--advertise', t.addr(host),
          '--join', tok.token, '--ca-sha256', tok.ca_sha256, '--releases-root', path.join(dir, 'releases'), ...extra,
        ],
        { log: this.log(host), cwd: dir },
      );
    };
    await agent('edge', ['--labels', 'role=edge', '--edge', '--nginx-admin', '127.0.0.1:9180', '--nginx-workers', '2']);
    for (const h of APP_HOSTS) await agent(h, ['--labels', 'role=web']);
    const want = APP_HOSTS.length + 1;
    await this.until(
      `${want} agents connected`,
      async () => {
        const r = await this.zddctl(['agents', '--json'], { timeoutMs: 5000 });
        if (r.code !== 0) return undefined;
        const agents = JSON.parse(r.stdout) as { id: string; connected: boolean }[];
        return agents.filter((a) => a.connected).length >= want ? true : undefined;
      },
      20_000,
    );
  }

  /** Releases v1 and v2: tarballs for the artifact server, or directories on every app host. */
  prepareReleases(): Record<string, { url: string; sha256: string }> {
    const out: Record<string, { url: string; sha256: string }> = {};
    for (const v of ['v1', 'v2']) {
      if (this.cfg.artifacts) {
        const stage = path.join(this.dir, 'build', v);
        fs.mkdirSync(stage, { recursive: true });
        writeSampleApp(stage);
        const tarball = path.join(this.dir, 'artifacts', `web-${v}.tar.gz`);
        const tar = spawnSync('tar', ['-czf', tarball, '-C', stage, '.'], { encoding: 'utf8' });
        if (tar.status !== 0) throw new StepFailed('build artifacts', `tar failed: ${tar.stderr}`);
        const sha256 = crypto.createHash('sha256').update(fs.readFileSync(tarball)).digest('hex');
        out[v] = { url: `http://${this.edge}:${ARTIFACT_PORT}/web-${v}.tar.gz`, sha256 };
      } else {
        for (const h of APP_HOSTS) {
          const d = path.join(this.hostDir(h), 'releases', v);
          fs.mkdirSync(d, { recursive: true });
          writeSampleApp(d);
        }
      }
    }
    return out;
  }

  spec(): Record<string, unknown> {
    const base = {
      name: 'web',
      command: `${node} server.js`,
      // the sample app listens on 127.0.0.1 unless told: nginx reaches it at the host's address
      env: { HOST: '0.0.0.0', ...(this.cfg.artifacts ? { HOOK_LOG: path.join(this.dir, 'hooks.log') } : {}) },
      ports: { a: 9001, b: 9002 },
      health: { path: '/healthz', interval: '50ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' },
      stop: { signal: 'SIGTERM', drainTimeout: '10s' },
      hosts: { selector: { role: 'web' } },
      nginx: { listen: `${this.edge}:${NGINX_PORT}`, retry: 'off', upstreamKeepaliveTimeout: '4s' },
    };
    if (!this.cfg.artifacts) return { ...base, workdir: 'releases/{version}' }; // relative: the agent's cwd is its host's directory
    // no workdir: the agent runs the app in the staged release directory
    const names: Record<(typeof HOOKS)[number], string> = {
      pre: 'expand',
      beforeStart: 'before-start',
      afterHealthy: 'after-healthy',
      beforeDrain: 'before-drain',
      afterStop: 'after-stop',
      post: 'contract',
    };
    const hooks = Object.fromEntries(HOOKS.map((h) => [h, { command: `echo "${names[h]} $ZDD_VERSION $ZDD_AGENT_ID" >> $HOOK_LOG`, timeout: '10s' }]));
    return { ...base, hooks };
  }

  async apply(): Promise<void> {
    const file = path.join(this.dir, 'web.json');
    fs.writeFileSync(file, JSON.stringify(this.spec(), null, 2));
    await this.zddctlOk('apply the spec', ['apply', '-f', file]);
  }

  rolloutArgs(version: string, releases: Record<string, { url: string; sha256: string }>, batch: string): string[] {
    const a = ['rollout', 'web', '--version', version, '--batch', batch];
    if (this.cfg.artifacts) a.push('--artifact', releases[version].url, '--sha256', releases[version].sha256);
    return a;
  }

  /** GETs through nginx from the client namespace. */
  async probe(count: number): Promise<Answer[]> {
    const r = await this.topo.run('client', [node, script('probe.js'), `http://${this.edge}:${NGINX_PORT}/`, String(count)], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new StepFailed('probe', `exited ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as Answer[];
  }

  /** The running app instances of a host, from its agent's state file. */
  instances(host: string): { pid: number; version: string; slot: string; state: string; startTicks: number }[] {
    try {
      return JSON.parse(fs.readFileSync(agentStateLayout(path.join(this.hostDir(host), 'state')).instances, 'utf8'));
    } catch {
      return [];
    }
  }

  /**
   * Every app host serves `version` through nginx: each host runs exactly one instance, of that
   * version, and its pid answers requests sent to the edge from the client namespace.
   */
  async checkServing(version: string): Promise<void> {
    const step = `every host serves ${version}`;
    const want = new Map<number, string>();
    for (const h of APP_HOSTS) {
      const live = this.instances(h).filter((i) => processStartTicks(i.pid) === i.startTicks);
      if (live.length !== 1 || live[0].version !== version) {
        throw new StepFailed(step, `${h} runs ${JSON.stringify(live.map((i) => `${i.version}/${i.slot}/${i.state}`))}`);
      }
      want.set(live[0].pid, h);
    }
    const seen = new Set<string>();
    const deadline = Date.now() + 15_000;
    while (seen.size < want.size) {
      for (const a of await this.probe(20)) {
        if (a.status !== 200 || a.version !== version) throw new StepFailed(step, `an answer through nginx was ${JSON.stringify(a)}`);
        const h = want.get(a.pid);
        if (h) seen.add(h);
      }
      if (Date.now() > deadline) throw new StepFailed(step, `only ${[...seen].join(', ')} answered through nginx`);
    }
    process.stdout.write(`  ${APP_HOSTS.map((h) => `${h} (${this.topo.addr(h)})`).join(', ')}: ${version}, through nginx at ${this.edge}:${NGINX_PORT}\n`);
  }

  /** The hooks the rollout ran, counted from the hook log (artifact mode). */
  hookCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    try {
      for (const l of fs.readFileSync(path.join(this.dir, 'hooks.log'), 'utf8').split('\n').filter(Boolean)) counts[l] = (counts[l] ?? 0) + 1;
    } catch {
      /* no hook ran */
    }
    return counts;
  }

  async run(): Promise<void> {
    await this.step('starting the coordinator, the artifact server and five agents (edge + app1..app4)', () => this.startControlPlane());
    const releases = this.prepareReleases();
    await this.step('applying the spec and deploying v1 to every host', async () => {
      await this.apply();
      await this.zddctlOk('deploy v1', this.rolloutArgs('v1', releases, '100%'), { inherit: true });
      await this.checkServing('v1');
    });
    fs.rmSync(path.join(this.dir, 'hooks.log'), { force: true }); // count the v2 rollout's hooks only
    say(`load from the client namespace: ~${this.cfg.rps} req/s to http://${this.edge}:${NGINX_PORT}/`);
    const load = this.topo.spawnIn('client', [
      node, script('load.js'), '--url', `http://${this.edge}:${NGINX_PORT}/`, '--rps', String(this.cfg.rps),
      '--duration-ms', '180000', '--max-requests', String(this.cfg.rps * 180),
    ]);
    let loadOut = '';
    load.stdout?.on('data', (c) => (loadOut += c));
    load.stderr?.pipe(fs.createWriteStream(this.log('load')));
    const loadDone = new Promise<void>((r) => load.once('close', () => r()));
    let rolloutError: unknown;
    try {
      // v1 carries load for a moment before anything changes
      await sleep(2000);
      await this.step('rolling out v2, one host at a time, under load', () =>
        this.zddctlOk('roll out v2', this.rolloutArgs('v2', releases, '1'), { inherit: true, timeoutMs: 180_000 }),
      );
      await sleep(1000);
    } catch (err) {
      rolloutError = err;
    } finally {
      load.kill('SIGINT');
      await Promise.race([loadDone, sleep(15_000)]);
      try {
        this.load = JSON.parse(loadOut.trim().split('\n').at(-1) ?? '') as LoadSummary;
      } catch {
        rolloutError ??= new StepFailed('load', `the load generator printed no summary (${loadOut.slice(0, 200)})`);
      }
    }
    if (rolloutError) throw rolloutError;
    await this.step('checking that every host serves v2 through nginx', () => this.checkServing('v2'));
    if (this.cfg.artifacts) {
      const counts = this.hookCounts();
      process.stdout.write(`  hooks run: ${JSON.stringify(counts)}\n`);
      // pre (expand) and post (contract) once per rollout, on one host; the others once per host
      const want: Record<string, number> = { 'expand v2 app1': 1, 'contract v2 app1': 1 };
      for (const h of APP_HOSTS) for (const n of ['before-start', 'after-healthy', 'before-drain', 'after-stop']) want[`${n} v2 ${h}`] = 1;
      const v2 = Object.fromEntries(Object.entries(counts).filter(([k]) => / v2 /.test(k)));
      if (JSON.stringify(Object.entries(v2).sort()) !== JSON.stringify(Object.entries(want).sort())) {
        throw new StepFailed('hooks', `expected ${JSON.stringify(want)}, ran ${JSON.stringify(v2)}`);
      }
      // every app host staged both releases from the edge's artifact server
      for (const h of APP_HOSTS) {
        const staged = fs.readdirSync(path.join(agentStateLayout(path.join(this.hostDir(h), 'state')).releases, 'web')).filter((f) => !f.startsWith('.')).sort();
        if (staged.join(',') !== 'v1,v2') throw new StepFailed('releases', `${h} has staged ${staged.join(', ') || 'nothing'}, not v1 and v2`);
      }
    }
  }

  /** The last lines of each process's log, for a failed run. */
  tails(): string {
    return ['coordinator', 'edge', ...APP_HOSTS, 'load']
      .map((n) => {
        let text = '';
        try {
          text = fs.readFileSync(this.log(n), 'utf8');
        } catch {
          return '';
        }
        return `--- ${n} (last lines) ---\n${text.trim().split('\n').slice(-8).join('\n')}\n`;
      })
      .join('');
  }
}

/** Processes whose command line or working directory is in the run's directory (none should survive the run). */
function processesOf(dir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${p}/cwd`);
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) || cwd === dir || cwd.startsWith(`${dir}/`)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function main(): Promise<number> {
  const cfg = parseConfig();
  const began = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-e2e-hosts-'));
  fs.mkdirSync(path.join(dir, 'logs'));
  // the run directory is recorded with the topology, so that a sweep after a SIGKILL removes it too
  let topo: Topology;
  try {
    topo = Topology.create({ prefix: cfg.prefix, hosts: ['edge', ...APP_HOSTS, 'client'], runDir: dir });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  say(`topology ${topo.id}: bridge ${topo.bridge}, subnet ${topo.subnet}, run directory ${dir}`);
  for (const h of topo.hosts) process.stdout.write(`  ${h.name.padEnd(6)} ${h.addr.padEnd(14)} netns ${h.ns}\n`);
  const sc = new Scenario(cfg, topo, dir);

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write(`\n${sig}: destroying topology ${topo.id}\n`);
    void topo.destroy().then(() => {
      if (!cfg.keepDir) fs.rmSync(dir, { recursive: true, force: true });
      process.stdout.write(`${sc.load?.requests ?? 0} requests, ${sc.load?.failed ?? 0} failed\n`);
      process.exit(130);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  let failure: unknown;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sc.run(),
      new Promise((_, reject) => {
        watchdog = setTimeout(() => reject(new StepFailed('run', `not done within ${cfg.deadlineMs}ms`)), cfg.deadlineMs);
      }),
    ]);
  } catch (err) {
    failure = err;
  } finally {
    clearTimeout(watchdog);
  }
  if (interrupted) return new Promise(() => {}); // the signal handler ends the process
  if (failure) process.stdout.write(`\nFAILED: ${failure instanceof Error ? failure.message : String(failure)}\n${sc.tails()}`);

  say(`destroying topology ${topo.id}`);
  const t0 = Date.now();
  await topo.destroy();
  const left = [...topo.leftovers(), ...processesOf(dir).map((p) => `process ${p}`)];
  if (left.length) {
    failure ??= new Error('cleanup');
    process.stdout.write(`left behind: ${left.join(', ')}\n`);
  }
  const keep = cfg.keepDir || !!failure;
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });

  const l = sc.load;
  say('summary');
  for (const t of sc.timings) process.stdout.write(`  ${t.step}: ${(t.ms / 1000).toFixed(1)}s\n`);
  process.stdout.write(`  topology destroyed in ${((Date.now() - t0) / 1000).toFixed(1)}s; total ${((Date.now() - began) / 1000).toFixed(1)}s\n`);
  if (l) {
    process.stdout.write(`  load: ${l.requests} requests in ${(l.durationMs / 1000).toFixed(1)}s, p50 ${l.p50Ms.toFixed(1)}ms, p99 ${l.p99Ms.toFixed(1)}ms, max ${l.maxMs.toFixed(0)}ms\n`);
    process.stdout.write(`  versions that answered: ${JSON.stringify(l.versions)}\n`);
    if (l.failed) process.stdout.write(`  failures: ${JSON.stringify(l.failures)}\n`);
  }
  if (keep) process.stdout.write(`  logs kept in ${dir}\n`);
  process.stdout.write(`${l?.requests ?? 0} requests, ${l?.failed ?? 0} failed\n`);
  return !failure && l !== undefined && l.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`e2e:hosts failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.stdout.write('0 requests, 0 failed\n');
    process.exit(1);
  },
);
