// The resume benchmark: rollouts (rolling, blue-green or canary) under steady load with the
// coordinator SIGKILLed at every step boundary (before and after each step's side effect) and at
// random instants, restarted each time. Counts completed rollouts, failed requests, hosts swapped twice, and the
// time from the restarted coordinator's start to the next step's side effect.
import fs from 'node:fs';
import path from 'node:path';
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen } from '../testkit/loadgen.js';
import { Client } from '../cli/client.js';

export interface ResumeOptions {
  strategy: 'rolling' | 'blue-green' | 'canary';
  rps: number;
  connections: number;
  randomKills: number;
  /** rolling only: every rollout stages a new release artifact and runs all six hooks */
  artifacts?: boolean;
  log: (s: string) => void;
}

export interface ResumeResult {
  scenario: 'resume';
  strategy: string;
  kill_points: number;
  completed: number;
  requests: number;
  failed: number;
  double_swaps: number;
  /** with artifacts: a hook that ran twice on a host in one rollout */
  double_hooks?: number;
  resume_ms_p50: number;
  resume_ms_max: number;
  failures: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function resume(o: ResumeOptions): Promise<ResumeResult> {
  const fleet = await LocalFleet.start({ agents: 3, logLevel: 'warn' });
  let client = fleet.client();
  try {
    const health = { path: '/healthz', interval: '25ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' };
    const hookLog = path.join(fleet.dir, 'hooks.log');
    const artifacts = new Map<string, { file: string; sha256: string }>();
    const artifact = (v: string) => {
      if (!artifacts.has(v)) artifacts.set(v, fleet.packRelease(v));
      return artifacts.get(v)!;
    };
    if (o.artifacts) {
      const hooks = Object.fromEntries(['pre', 'beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop', 'post'].map((h) => [h, `echo "$ZDD_AGENT_ID $ZDD_HOOK $ZDD_VERSION" >> ${hookLog}`]));
      const spec = fleet.spec({ health, hooks });
      delete spec.workdir;
      await fleet.apply(spec);
      const a = artifact('v1');
      if ((await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%', '--artifact', a.file, '--sha256', a.sha256])).code !== 0) throw new Error('initial deploy failed');
    } else {
      fleet.writeRelease('v1');
      fleet.writeRelease('v2');
      await fleet.apply(fleet.spec({ health }));
      if ((await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%'])).code !== 0) throw new Error('initial deploy failed');
    }
    // timed waits only (a 500 ms bake, 300 ms canary steps): every rollout ends without an operator
    const analysis = JSON.stringify({ minRequests: 20 });
    const request = (version: string) =>
      o.strategy === 'blue-green'
        ? { service: 'web', version, strategy: 'blue-green', bake_ms: 500, analysis_json: analysis }
        : o.strategy === 'canary'
          ? { service: 'web', version, strategy: 'canary', steps: '50,100', step_pause_ms: 300, canary_hosts: '1', analysis_json: analysis }
          : { service: 'web', version, strategy: 'rolling', batch: '1', ...(o.artifacts ? { artifact: artifact(version).file, sha256: artifact(version).sha256 } : {}) };
    const plan = JSON.parse((await client.call('Plan', request('v2'))).plan_json);
    const kills: ({ seq: number; when: 'before' | 'after' } | { delayMs: number })[] = [];
    for (const s of plan.steps as { seq: number }[]) kills.push({ seq: s.seq, when: 'before' }, { seq: s.seq, when: 'after' });
    // random instants fall inside a rollout: rolling takes about 600 ms here, blue-green about
    // 1.5 s, canary about 2.5 s
    const span = o.strategy === 'rolling' ? 500 : o.strategy === 'blue-green' ? 1500 : 2500;
    for (let i = 0; i < o.randomKills; i++) kills.push({ delayMs: 30 + Math.floor(Math.random() * span) });

    const gen = new LoadGen({ host: '127.0.0.1', port: fleet.nginxPort, connections: o.connections, rps: o.rps, maxDurationMs: 30 * 60_000 }).start();
    const resumeMs: number[] = [];
    let completed = 0;
    let doubleSwaps = 0;
    let version = 'v1';
    for (const [i, k] of kills.entries()) {
      // with artifacts every rollout stages a release of its own; else v1 and v2 take turns
      version = o.artifacts ? `v${i + 2}` : version === 'v1' ? 'v2' : 'v1';
      client.close();
      await fleet.stopCoordinator('SIGTERM');
      await fleet.startCoordinator('seq' in k ? { ZDD_CRASH_AT: `${k.seq}:${k.when}` } : undefined);
      await fleet.waitForAgents(3);
      client = fleet.client();
      const exited = fleet.coordinatorExited(60_000);
      const started = await client.call('StartRollout', request(version)).catch(() => undefined);
      if ('delayMs' in k) {
        await sleep(k.delayMs);
        await fleet.stopCoordinator('SIGKILL');
      } else await exited;
      client.close();
      await fleet.startCoordinator();
      client = fleet.client();
      const id = started?.id ?? (await client.call('ListRollouts', { service: 'web', limit: 1 })).rollouts[0].id;
      const final = await client.watch(id, () => undefined);
      const swaps = [1, 2, 3].map((i) => fleet.executed(i, 'start_instance', id));
      doubleSwaps += swaps.filter((n) => n > 1).length;
      if (final.state === 'succeeded' && swaps.every((n) => n === 1)) completed++;
      const m = final.events.map((e) => /^resumed: first side effect (\d+)ms after the coordinator started$/.exec(e.message)).find(Boolean);
      if (m) resumeMs.push(Number(m[1]));
      const where = 'seq' in k ? `${k.when} step ${k.seq}` : `at ${k.delayMs}ms`;
      o.log(`[resume/${o.strategy}${o.artifacts ? '+artifacts' : ''}] killed ${where}: ${final.state}, swaps ${swaps.join('/')}, resume ${m ? m[1] + 'ms' : 'n/a'}; ${gen.stats.requests} requests, ${gen.stats.failed} failed so far`);
    }
    const stats = await gen.stop();
    const sorted = [...resumeMs].sort((a, b) => a - b);
    let doubleHooks: number | undefined;
    if (o.artifacts) {
      const lines = fs.readFileSync(hookLog, 'utf8').trim().split('\n');
      doubleHooks = lines.length - new Set(lines).size;
    }
    return {
      scenario: 'resume',
      strategy: o.strategy,
      kill_points: kills.length,
      completed,
      requests: stats.requests,
      failed: stats.failed,
      double_swaps: doubleSwaps,
      ...(doubleHooks !== undefined ? { double_hooks: doubleHooks } : {}),
      resume_ms_p50: sorted[Math.floor(sorted.length / 2)] ?? 0,
      resume_ms_max: sorted.at(-1) ?? 0,
      failures: stats.failures,
    };
  } finally {
    client.close();
    await fleet.stop();
  }
}
