// The zero-downtime benchmark: four app instances behind nginx with retries off, steady keep-alive
// load (about a fifth POSTs with unique ids, each request carrying one of 1,000 users' sticky
// keys), a no-rollout baseline, then back-to-back rollouts until at least `minRequests` requests
// and `minRollouts` rollouts. Modes: zdd dynamic, zdd reload, and a naive in-place stop/start for
// comparison. Strategies: rolling; blue-green (a 1 s bake, a keep-old window; every third rollout
// is rolled back inside the window and the time until the old colour answers every new request is
// measured); canary (10, 50, 100 % with a 1 s analysed pause per step).
import http from 'node:http';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { agentStateLayout } from '../agent/state-layout.js';
import { TestPostgres } from '../testkit/postgres.js';
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen, percentile, type LoadStats } from '../testkit/loadgen.js';
import { probe } from '../agent/health-check.js';
import { Client } from '../cli/client.js';
import { processStartTicks } from '../lib/proc.js';

export type BenchStrategy = 'rolling' | 'blue-green' | 'canary';

export interface ZeroDowntimeOptions {
  mode: 'dynamic' | 'reload' | 'naive';
  strategy: BenchStrategy;
  /** blue-green and canary: new instances started at once (default all) */
  batch?: string;
  hosts: number;
  rps: number;
  connections: number;
  minRequests: number;
  minRollouts: number;
  baselineMs: number;
  /** plaintext gRPC between the parts instead of mutual TLS (to measure what TLS costs) */
  plaintext?: boolean;
  /** the journal on PostgreSQL (a server of the bench's own, one coordinator) instead of SQLite */
  postgres?: boolean;
  log: (s: string) => void;
}

export interface ZeroDowntimeResult {
  scenario: 'zero-downtime';
  strategy: BenchStrategy;
  batch?: string;
  edge_mode: 'dynamic' | 'reload' | 'naive';
  /** mutual TLS between coordinator, agents and the control client (false: plaintext) */
  tls: boolean;
  store: 'sqlite' | 'postgres';
  rollouts: number;
  batches: number;
  requests: number;
  failed: number;
  failures: Record<string, number>;
  p99_ms: number;
  baseline_p99_ms: number;
  inherent_ms: number;
  rollout_ms: number;
  switch_ms_p50: number;
  overhead_ms_per_batch: number;
  /** blue-green: rollbacks inside the keep-old window, and the slowest from command to the old colour answering every new request */
  rollbacks?: number;
  rollback_ms?: number;
  rollback_ms_p50?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const r1 = (x: number) => Math.round(x * 10) / 10;

function p99(s: LoadStats) {
  return percentile([...s.latenciesMs].sort((a, b) => a - b), 99);
}

/** What a rollout record says about its own timing. */
function timing(r: any) {
  const res = (s: any) => (s.result_json ? JSON.parse(s.result_json) : {});
  // the apps' own time plus the waits the operator asked for (bake, analysed step pauses)
  let inherent = r.steps
    .filter((s: any) => ['analyze', 'window', 'pause'].includes(s.kind) && s.state === 'done')
    .reduce((a: number, s: any) => a + (s.ended_at_ms - s.started_at_ms), 0);
  const switches: number[] = [];
  // per phase (steps of a phase run together): the apps' own time, start to healthy, the wait for
  // in-flight requests, the graceful exit
  for (const phase of new Set<number>(r.steps.map((s: any) => s.phase))) {
    const steps = r.steps.filter((s: any) => s.phase === phase);
    const max = (kind: string, f: (x: any) => number) => Math.max(0, ...steps.filter((s: any) => s.kind === kind).map((s: any) => f(res(s)) || 0));
    inherent += max('start', (x) => x.healthyAfterMs) + max('drain', (x) => x.waitedMs) + max('stop', (x) => x.stoppedAfterMs);
    for (const s of steps.filter((s: any) => s.kind === 'traffic' && s.state === 'done')) switches.push(s.ended_at_ms - s.started_at_ms);
  }
  return { wall: r.ended_at_ms - r.created_at_ms, inherent, batches: r.batches, switches };
}

/** Naive deploy: stop each instance in place, start the new version on the same port, next host. */
async function naiveRollout(fleet: LocalFleet, version: string, started: number[]) {
  for (const inst of fleet.instances()) {
    try {
      process.kill(-inst.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    while (processStartTicks(inst.pid) !== undefined) await sleep(10);
    const out = fs.openSync(path.join(fleet.dir, 'logs', `naive-${version}-${inst.port}.log`), 'a');
    const child = spawn(process.execPath, ['server.js'], {
      cwd: path.join(fleet.releases, version),
      env: { PATH: process.env.PATH, PORT: String(inst.port), ZDD_VERSION: version },
      detached: true,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    child.unref();
    started.push(child.pid!);
    // the agents' records name the processes we replaced; point them at the new ones for cleanup
    const file = agentStateLayout(fleet.agentDir(inst.agent)).instances;
    const recs = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const r of recs) if (r.pid === inst.pid) Object.assign(r, { pid: child.pid, version });
    fs.writeFileSync(file, JSON.stringify(recs));
    for (let i = 0; i < 200 && !(await probe('127.0.0.1', inst.port, '/healthz', 200, 500)).ok; i++) await sleep(20);
  }
}

/** The version that answers a fresh request through nginx. */
function servedBy(port: number): Promise<string> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-app-version'] ?? `HTTP ${res.statusCode}`)));
      })
      .on('error', (e) => resolve(e.message));
  });
}

/** One rollout of the chosen strategy, to its end; a blue-green one may be rolled back in its window. */
async function strategyRollout(client: Client, o: ZeroDowntimeOptions, fleet: LocalFleet, next: string, live: string, n: number, rollbackMs: number[]): Promise<any> {
  const analysis = JSON.stringify({ minRequests: 50 });
  const req =
    o.strategy === 'canary'
      ? { service: 'web', version: next, strategy: 'canary', steps: '10,50,100', step_pause_ms: 1000, canary_hosts: '1', analysis_json: analysis, batch: o.batch ?? '' }
      : o.strategy === 'blue-green'
        ? { service: 'web', version: next, strategy: 'blue-green', bake_ms: 1000, keep_old_ms: 10 * 60_000, analysis_json: analysis, batch: o.batch ?? '' }
        : { service: 'web', version: next, strategy: 'rolling', batch: '1' };
  const started = await client.call('StartRollout', req);
  if (o.strategy !== 'blue-green') {
    const rec = await client.watch(started.id, () => undefined);
    if (rec.state !== 'succeeded') throw new Error(`rollout to ${next} ended ${rec.state}: ${rec.error}`);
    return rec;
  }
  const inWindow = await client.watch(started.id, () => undefined, (r) => r.waiting === 'keep-old window');
  if (inWindow.waiting !== 'keep-old window') throw new Error(`blue-green rollout to ${next} ended ${inWindow.state} before its window: ${inWindow.error}`);
  if (n % 3 === 2) {
    // rollback_ms: from the command to the old colour answering every new request
    const began = performance.now();
    await client.call('Rollback', { service: 'web' });
    let ms = 0;
    for (let confirmed = 0; confirmed < 20; ) {
      const v = await servedBy(fleet.nginxPort);
      if (v === live) {
        if (!confirmed) ms = performance.now() - began;
        confirmed++;
      } else confirmed = 0;
    }
    rollbackMs.push(Math.round(ms));
    const rec = await client.watch(started.id, () => undefined);
    if (rec.state !== 'rolled_back') throw new Error(`rollback of ${started.id} ended ${rec.state}: ${rec.error}`);
    return rec;
  }
  await client.call('PromoteRollout', { id: started.id });
  const rec = await client.watch(started.id, () => undefined);
  if (rec.state !== 'succeeded') throw new Error(`rollout to ${next} ended ${rec.state}: ${rec.error}`);
  return rec;
}

export async function zeroDowntime(o: ZeroDowntimeOptions): Promise<ZeroDowntimeResult> {
  const pg = o.postgres ? await TestPostgres.start() : undefined;
  let fleet: LocalFleet;
  try {
    fleet = await LocalFleet.start({ agents: o.hosts, edgeMode: o.mode === 'reload' ? 'reload' : 'dynamic', logLevel: 'warn', plaintext: !!o.plaintext, postgres: pg?.url });
  } catch (err) {
    pg?.stop();
    throw err;
  }
  const naivePids: number[] = [];
  const client = fleet.client();
  try {
    const versions = ['v1', 'v2'];
    for (const v of versions) fleet.writeRelease(v);
    const spec = fleet.spec({
      health: { path: '/healthz', interval: '25ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' },
      stop: { signal: 'SIGTERM', drainTimeout: '10s' },
    });
    if ((await fleet.apply(spec)).code !== 0) throw new Error('apply failed');
    const first = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%']);
    if (first.code !== 0) throw new Error(`initial deploy failed: ${first.stdout}${first.stderr}`);
    const loadOpts = { host: '127.0.0.1', port: fleet.nginxPort, connections: o.connections, rps: o.rps, maxDurationMs: 30 * 60_000 };

    o.log(`[${o.mode}${o.plaintext ? ', plaintext' : ''}] baseline: ${o.baselineMs / 1000}s of load with no rollout`);
    const base = await new LoadGen(loadOpts).start();
    await sleep(o.baselineMs);
    const baseline = await base.stop();

    o.log(`[${o.mode}${o.plaintext ? ', plaintext' : ''}] rollouts under load until ${o.minRequests} requests and ${o.minRollouts} rollouts`);
    const gen = new LoadGen(loadOpts).start();
    const timings: ReturnType<typeof timing>[] = [];
    let rollouts = 0;
    let live = 'v1';
    const rollbackMs: number[] = [];
    while (rollouts < o.minRollouts || gen.stats.requests < o.minRequests) {
      await sleep(1000);
      const next = live === 'v1' ? 'v2' : 'v1';
      if (o.mode === 'naive') {
        const began = Date.now();
        await naiveRollout(fleet, next, naivePids);
        timings.push({ wall: Date.now() - began, inherent: 0, batches: o.hosts, switches: [] });
      } else {
        // The control API zddctl uses, called in-process: an operator's CLI runs elsewhere, and a
        // Node process spawned per rollout on these two cores would be the harness's cost, not zdd's.
        const rec = await strategyRollout(client, o, fleet, next, live, rollouts, rollbackMs);
        if (rec.state === 'rolled_back') {
          rollouts++;
          o.log(`[${o.mode}/${o.strategy}] rollout ${rollouts} → ${next} rolled back in the window: old colour on every new request after ${rollbackMs.at(-1)}ms`);
          continue;
        }
        timings.push(timing(rec));
      }
      live = next;
      rollouts++;
      o.log(`[${o.mode}/${o.strategy}] rollout ${rollouts} → ${next}: ${timings.at(-1)!.wall}ms; ${gen.stats.requests} requests, ${gen.stats.failed} failed so far`);
    }
    await sleep(1000);
    const stats = await gen.stop();
    const switches = timings.flatMap((t) => t.switches);
    return {
      scenario: 'zero-downtime',
      strategy: o.strategy,
      ...(o.batch && o.strategy !== 'rolling' ? { batch: o.batch } : {}),
      edge_mode: o.mode,
      tls: !o.plaintext,
      store: o.postgres ? 'postgres' : 'sqlite',
      rollouts,
      batches: timings.reduce((a, t) => a + t.batches, 0),
      requests: stats.requests,
      failed: stats.failed,
      failures: stats.failures,
      p99_ms: r1(p99(stats)),
      baseline_p99_ms: r1(p99(baseline)),
      inherent_ms: Math.round(mean(timings.map((t) => t.inherent))),
      rollout_ms: Math.round(mean(timings.map((t) => t.wall))),
      switch_ms_p50: median(switches),
      overhead_ms_per_batch: o.mode === 'naive' ? 0 : r1(mean(timings.map((t) => (t.wall - t.inherent) / t.batches))),
      ...(o.strategy === 'blue-green' ? { rollbacks: rollbackMs.length, rollback_ms: Math.max(0, ...rollbackMs), rollback_ms_p50: median(rollbackMs) } : {}),
    };
  } finally {
    client.close();
    for (const pid of naivePids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await fleet.stop();
    pg?.stop();
  }
}
