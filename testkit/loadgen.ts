// A bounded HTTP load generator for the demo, tests and benchmarks: keep-alive connections sending
// GETs and POSTs (about a fifth, each with a unique id) at a target rate, counting every request
// that did not come back 2xx. It never retries: a lost request is a failed request.
import http from 'node:http';

export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  /** total target requests per second across connections */
  rps: number;
  postRatio?: number;
  timeoutMs?: number;
  /** hard bound: the generator stops by itself after this long */
  maxDurationMs: number;
  /** simulated users: each request carries a zdd_key cookie of one of this many (default 1000; 0: none) */
  clientKeys?: number;
}

export interface LoadStats {
  requests: number;
  failed: number;
  failures: Record<string, number>;
  versions: Record<string, number>;
  latenciesMs: number[];
  durationMs: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class LoadGen {
  private running = false;
  private loops: Promise<void>[] = [];
  private agent: http.Agent;
  private seq = 0;
  private began = 0;
  private hardStop: NodeJS.Timeout | undefined;
  readonly stats: LoadStats = { requests: 0, failed: 0, failures: {}, versions: {}, latenciesMs: [], durationMs: 0 };

  constructor(private readonly o: LoadOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections });
  }

  start(): this {
    this.running = true;
    this.began = Date.now();
    for (let i = 0; i < this.o.connections; i++) this.loops.push(this.loop(i));
    this.hardStop = setTimeout(() => (this.running = false), this.o.maxDurationMs);
    this.hardStop.unref();
    return this;
  }

  private fail(reason: string) {
    this.stats.failed++;
    this.stats.failures[reason] = (this.stats.failures[reason] ?? 0) + 1;
  }

  private one(): Promise<void> {
    const post = Math.random() < (this.o.postRatio ?? 0.2);
    const id = `${process.pid}-${++this.seq}`;
    const body = post ? JSON.stringify({ id, item: 'widget', qty: 1 }) : undefined;
    const started = performance.now();
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: this.o.host,
          port: this.o.port,
          method: post ? 'POST' : 'GET',
          path: post ? '/orders' : `/?r=${id}`,
          agent: this.agent,
          timeout: this.o.timeoutMs ?? 10_000,
          headers: {
            ...(post ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body!)) } : {}),
            // many users behind one load generator: each request carries one of their sticky keys
            ...((this.o.clientKeys ?? 1000) ? { cookie: `zdd_key=user-${Math.floor(Math.random() * (this.o.clientKeys ?? 1000))}` } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            this.stats.requests++;
            this.stats.latenciesMs.push(performance.now() - started);
            const status = res.statusCode ?? 0;
            const v = res.headers['x-app-version'];
            // a failure answered by an app names its version: "HTTP 500 from v2"
            if (status < 200 || status > 299) this.fail(`HTTP ${status}${typeof v === 'string' ? ` from ${v}` : ''}`);
            if (typeof v === 'string') this.stats.versions[v] = (this.stats.versions[v] ?? 0) + 1;
            resolve();
          });
          res.on('error', (e) => {
            this.stats.requests++;
            this.fail(e.message);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        this.stats.requests++;
        this.fail(e.code ?? e.message);
        resolve();
      });
      req.end(body);
    });
  }

  private async loop(i: number) {
    const interval = (1000 * this.o.connections) / this.o.rps;
    let next = performance.now() + (interval * i) / this.o.connections;
    while (this.running) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!this.running) break;
      next += interval;
      await this.one();
    }
  }

  /** Stops sending, waits for requests in flight, and returns the counts. */
  async stop(): Promise<LoadStats> {
    this.running = false;
    clearTimeout(this.hardStop);
    await Promise.all(this.loops);
    this.agent.destroy();
    this.stats.durationMs = Date.now() - this.began;
    return this.stats;
  }
}
