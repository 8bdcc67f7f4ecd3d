// `npm run bench -- SCENARIO [options]`: runs a benchmark and prints one JSON object per scenario
// run, the last line being the headline run. Figures go to bench/RESULTS.md by hand, with the machine.
import os from 'node:os';
import { Command, Option } from 'commander';
import { zeroDowntime, type ZeroDowntimeResult } from './zero-downtime.js';
import { resume } from './resume.js';
import { stage } from './stage.js';
import { security } from './security.js';
import { reconnect } from './reconnect.js';
import { hostLoss } from './host-loss.js';
import { scale } from './scale.js';
import { failover } from './failover.js';
import { longLived } from './long-lived.js';

const program = new Command('zdd-bench').argument('<scenario>', 'zero-downtime | resume | failover | stage | security | reconnect | host-loss | scale | long-lived');
program
  .addOption(new Option('--strategy <name>', 'rollout strategy').choices(['rolling', 'blue-green', 'canary']).default('rolling'))
  .addOption(new Option('--edge-mode <mode>', 'run only this edge mode').choices(['dynamic', 'reload']))
  .option('--naive', 'run only the naive in-place stop/start')
  .option('--batch <n|p%>', 'blue-green and canary: new instances started at once (default all)')
  .option('--hosts <n>', 'app hosts (agents)', (v) => Number(v), 4)
  .option('--rps <n>', 'target requests per second', (v) => Number(v), 800)
  .option('--connections <n>', 'keep-alive client connections', (v) => Number(v), 32)
  .option('--min-requests <n>', 'requests during rollouts, at least', (v) => Number(v), 100_000)
  .option('--min-rollouts <n>', 'rollouts, at least', (v) => Number(v), 5)
  .option('--baseline <seconds>', 'no-rollout baseline', (v) => Number(v), 20)
  .option('--size-mb <n>', 'stage: artifact size in MB (incompressible)', (v) => Number(v), 50)
  .option('--artifacts', 'resume, rolling: every rollout stages a release artifact and runs all six hooks')
  .option('--random-kills <n>', 'resume, failover: kills at random instants, besides every step boundary', (v) => Number(v), 10)
  .option('--compare-postgres', 'zero-downtime: the dynamic edge with the journal on PostgreSQL too, right after the SQLite run (the overhead per batch is the difference)')
  .option('--compare-plaintext', 'zero-downtime: also run the dynamic edge over plaintext gRPC, before the TLS run, to measure what TLS costs')
  .option('--plaintext-after', 'with --compare-plaintext: the plaintext run after the TLS one (the machine drifts: run both orders)')
  .option('--agents <n>', 'reconnect: agent sessions', (v) => Number(v), 1000)
  .option('--ws <n>', 'long-lived: WebSocket clients', (v) => Number(v), 2000)
  .option('--grace <seconds>', 'long-lived: stop.longLivedGrace', (v) => Number(v), 10)
  .option('--spread <seconds>', 'long-lived: stop.spread', (v) => Number(v), 5)
  .option('--sizes <list>', 'scale: fleet sizes, smallest first', (v) => v.split(',').map(Number), [10, 1000, 10_000]);

async function main() {
  program.parse();
  const [scenario] = program.args;
  const o = program.opts();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ${os.release()}, node ${process.version}`);
  if (scenario === 'resume') {
    if (o.artifacts && o.strategy !== 'rolling') throw new Error('--artifacts runs with --strategy rolling');
    const r = await resume({ strategy: o.strategy, rps: Math.min(o.rps, 400), connections: 16, randomKills: o.randomKills, artifacts: !!o.artifacts, log });
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (scenario === 'long-lived') {
    const r = await longLived({ connections: o.ws, rollouts: o.minRollouts, graceS: o.grace, spreadS: o.spread, rps: Math.min(o.rps, 400), httpConnections: 16, log });
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (scenario === 'failover') {
    process.stdout.write(JSON.stringify(await failover({ rps: Math.min(o.rps, 400), connections: 16, randomKills: o.randomKills, log })) + '\n');
    return;
  }
  if (scenario === 'stage') {
    // concurrency 1, then all hosts at once (the headline, last)
    const rs = await stage({ hosts: o.hosts, sizeMb: o.sizeMb, concurrencies: [1, 2, o.hosts], log });
    for (const r of rs) process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (scenario === 'security') {
    process.stdout.write(JSON.stringify(await security({ log })) + '\n');
    return;
  }
  if (scenario === 'reconnect') {
    process.stdout.write(JSON.stringify(await reconnect({ agents: o.agents, log })) + '\n');
    return;
  }
  if (scenario === 'scale') {
    process.stdout.write(JSON.stringify(await scale({ sizes: o.sizes, log })) + '\n');
    return;
  }
  if (scenario === 'host-loss') {
    // retry off, then retry: connect without upstream keep-alive (every request a new
    // connection: a dead backend refuses it, and nothing was sent), then the headline: the
    // defaults (retry: connect, upstream keep-alive), last
    const runs = [{ retry: 'off' as const }, { retry: 'connect' as const, upstreamKeepalive: 0 }, { retry: 'connect' as const }];
    for (const r of runs) process.stdout.write(JSON.stringify(await hostLoss({ ...r, rps: o.rps, connections: o.connections, log })) + '\n');
    return;
  }
  if (scenario !== 'zero-downtime') throw new Error(`unknown scenario "${scenario}" (available: zero-downtime, resume, failover, stage, security, reconnect, host-loss, scale, long-lived)`);
  // With no mode named, all three run in one go, the headline (dynamic) last.
  // blue-green and canary run on zdd's edge only: a naive stop/start has no such strategy
  const modes: ('dynamic' | 'reload' | 'naive' | 'dynamic-plaintext' | 'dynamic-postgres')[] = o.naive ? ['naive'] : o.edgeMode ? [o.edgeMode] : o.strategy !== 'rolling' ? ['reload', 'dynamic'] : ['naive', 'reload', 'dynamic'];
  // the same run over plaintext right before the TLS one: the difference is what TLS costs
  if (o.comparePlaintext && modes.at(-1) === 'dynamic') {
    if (o.plaintextAfter) modes.push('dynamic-plaintext');
    else modes.splice(modes.length - 1, 0, 'dynamic-plaintext');
  }
  // the same run with the journal on PostgreSQL, right after the SQLite one: compared in one run
  if (o.comparePostgres) modes.splice(0, modes.length, 'dynamic', 'dynamic-postgres');
  if (o.naive && o.strategy !== 'rolling') throw new Error('--naive compares with rolling only');
  const results: ZeroDowntimeResult[] = [];
  for (const mode of modes) {
    const r = await zeroDowntime({
      mode: mode === 'dynamic-plaintext' || mode === 'dynamic-postgres' ? 'dynamic' : mode,
      plaintext: mode === 'dynamic-plaintext',
      postgres: mode === 'dynamic-postgres',
      strategy: o.strategy,
      batch: o.batch,
      hosts: o.hosts,
      rps: o.rps,
      connections: o.connections,
      minRequests: o.minRequests,
      minRollouts: o.minRollouts,
      baselineMs: o.baseline * 1000,
      log,
    });
    results.push(r);
    if (mode !== modes.at(-1)) process.stdout.write(JSON.stringify(r) + '\n');
  }
  process.stdout.write(JSON.stringify(results.at(-1)) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
