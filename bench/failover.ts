// The failover benchmark: two coordinators on one PostgreSQL (a server of the bench's own), three
// hosts under the zero-downtime load, rolling rollouts with the leader SIGKILLed at every step
// boundary (before and after each step's side effect) and at random instants, one kill per rollout.
// The killed coordinator comes back as the standby. Counts completed rollouts, failed requests,
// hosts swapped twice, journal writes made without the current leader's epoch (a trigger counts
// them: testkit/postgres.ts), and the time from the kill to the new leader's first side effect.
import fs from 'node:fs';
import path from 'node:path';
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen } from '../testkit/loadgen.js';
import { TestPostgres } from '../testkit/postgres.js';
import { Leadership, openPg } from '../coordinator/pg-store.js';
import { SyncPg } from '../coordinator/pg-sync.js';

export interface FailoverOptions {
  rps: number;
  connections: number;
  randomKills: number;
  log: (s: string) => void;
}

export interface FailoverResult {
  scenario: 'failover';
  kills: number;
  completed: number;
  failed: number;
  double_swaps: number;
  stale_writes: number;
  takeover_ms_p50: number;
  takeover_ms_max: number;
  requests: number;
  failures: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function failover(o: FailoverOptions): Promise<FailoverResult> {
  const pg = await TestPostgres.start();
  let fleet: LocalFleet | undefined;
  try {
    openPg(pg.url).close();
    pg.installStaleWriteProbe();
    fleet = await LocalFleet.start({ agents: 3, logLevel: 'warn', postgres: pg.url, coordinators: 2 });
    const f = fleet;
    const leader = (): { n: number; epoch: number } => {
      const c = new SyncPg(pg.url);
      try {
        const l = new Leadership(c).leader();
        return { n: f.coordinatorAddrs.indexOf(l.holder?.listen ?? '') + 1, epoch: l.epoch };
      } finally {
        c.close();
      }
    };
    f.writeRelease('v1');
    f.writeRelease('v2');
    await f.apply(f.spec({ health: { path: '/healthz', interval: '25ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' } }));
    if ((await f.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%'])).code !== 0) throw new Error('initial deploy failed');
    const plan = JSON.parse((await f.zddctl(['plan', 'web', '--version', 'v2', '--json'])).stdout);
    const kills: ({ seq: number; when: 'before' | 'after' } | { delayMs: number })[] = [];
    for (const s of plan.steps as { seq: number }[]) kills.push({ seq: s.seq, when: 'before' }, { seq: s.seq, when: 'after' });
    // a 3-host rolling rollout takes about 1 s here: random instants fall inside it
    for (let i = 0; i < o.randomKills; i++) kills.push({ delayMs: 30 + Math.floor(Math.random() * 800) });
    // both coordinators carry the round's crash point; the leader dies there, once
    const pointFile = path.join(f.dir, 'crash-point');
    for (const n of [1, 2]) {
      await f.stopCoordinator('SIGTERM', n);
      await f.startCoordinator({ ZDD_CRASH_AT_FILE: pointFile }, n);
    }
    await f.waitForAgents(3);
    const gen = new LoadGen({ host: '127.0.0.1', port: f.nginxPort, connections: o.connections, rps: o.rps, maxDurationMs: 60 * 60_000 }).start();
    const takeovers: number[] = [];
    let completed = 0;
    let doubleSwaps = 0;
    let version = 'v1';
    for (const [round, k] of kills.entries()) {
      version = version === 'v1' ? 'v2' : 'v1';
      const was = leader();
      fs.writeFileSync(pointFile, 'seq' in k ? `${round} ${k.seq}:${k.when}` : '');
      const started = await f.zddctl(['rollout', 'web', '--version', version, '--detach', '--json']);
      let killedAt: number;
      if ('delayMs' in k) {
        await sleep(k.delayMs);
        killedAt = Date.now();
        await f.stopCoordinator('SIGKILL', was.n);
      } else {
        const marker = `${pointFile}.fired-${round}`;
        for (let i = 0; !fs.existsSync(marker); i++) {
          if (i > 600) throw new Error(`the leader never reached ${k.when} step ${k.seq}`);
          await sleep(50);
        }
        killedAt = fs.statSync(marker).mtimeMs;
        await f.coordinatorExited(30_000, was.n);
      }
      const id = started.code === 0 ? JSON.parse(started.stdout).id : JSON.parse((await f.zddctl(['history', 'web', '--json', '--limit', '1'])).stdout)[0].id;
      const w = await f.zddctl(['watch', id, '--json']);
      const final = JSON.parse(w.stdout);
      const swaps = [1, 2, 3].map((i) => f.executed(i, 'start_instance', id));
      doubleSwaps += swaps.filter((n) => n > 1).length;
      if (final.state === 'succeeded' && swaps.every((n) => n === 1)) completed++;
      // from the kill to the new leader's first side effect (its event's time)
      const first = (final.events as { message: string; at_ms: number }[]).find((e) => /^resumed: first side effect/.test(e.message));
      const ms = first ? Math.round(Number(first.at_ms) - killedAt) : undefined;
      if (ms !== undefined) takeovers.push(ms);
      const now = leader();
      const where = 'seq' in k ? `${k.when} step ${k.seq}` : `at ${k.delayMs}ms`;
      o.log(`[failover] killed coordinator ${was.n} (epoch ${was.epoch}) ${where}: ${final.state}, swaps ${swaps.join('/')}, coordinator ${now.n} leads (epoch ${now.epoch}), takeover ${ms ?? 'n/a'}ms; ${gen.stats.requests} requests, ${gen.stats.failed} failed so far`);
      await f.startCoordinator({ ZDD_CRASH_AT_FILE: pointFile }, was.n);
    }
    const stats = await gen.stop();
    const sorted = [...takeovers].sort((a, b) => a - b);
    return {
      scenario: 'failover',
      kills: kills.length,
      completed,
      failed: stats.failed,
      double_swaps: doubleSwaps,
      stale_writes: pg.staleWrites(),
      takeover_ms_p50: sorted[Math.floor(sorted.length / 2)] ?? 0,
      takeover_ms_max: sorted.at(-1) ?? 0,
      requests: stats.requests,
      failures: stats.failures,
    };
  } finally {
    await fleet?.stop();
    pg.stop();
  }
}
