// The e2e load generator, run inside the client namespace (`ip netns exec NS node dist/e2e/load.js`):
// testkit/loadgen.ts against one URL until SIGINT/SIGTERM, its duration or its request count, then its
// summary as one JSON line on stdout.
import { Command, InvalidArgumentError } from 'commander';
import { LoadGen, percentile } from '../testkit/loadgen.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

const o = new Command('load')
  .requiredOption('--url <url>', 'where to send requests, http://ADDR:PORT/')
  .option('--rps <n>', 'target requests per second', int, 200)
  .option('--connections <n>', 'keep-alive connections', int, 16)
  .option('--duration-ms <n>', 'stop after this long at the latest', int, 180_000)
  .option('--max-requests <n>', 'stop after this many requests at the latest', int, 100_000)
  .parse()
  .opts();

const url = new URL(o.url);
const gen = new LoadGen({
  host: url.hostname,
  port: Number(url.port || 80),
  connections: o.connections,
  rps: o.rps,
  maxDurationMs: o.durationMs,
}).start();
const start = Date.now();
process.stderr.write(`load: ${o.rps} req/s over ${o.connections} connections to ${url.host}\n`);

let stopping: Promise<void> | undefined;
const stop = (why: string) => {
  stopping ??= gen.stop().then((s) => {
    const lat = [...s.latenciesMs].sort((a, b) => a - b);
    const { latenciesMs: _, ...counts } = s;
    const summary = { ...counts, stoppedBy: why, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), maxMs: lat.at(-1) ?? 0 };
    process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(0));
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
// the duration bound ends the generator's loops by itself; this notices it, and the count bound
const watch = setInterval(() => {
  if (gen.stats.requests >= o.maxRequests) stop('max-requests');
  else if (Date.now() - start >= o.durationMs) stop('duration');
}, 100);
watch.unref();
setInterval(() => {}, 1 << 30); // stay alive until stopped
