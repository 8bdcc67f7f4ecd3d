// Metrics for Prometheus (prom-client), on a listener of their own that is off by default: the
// coordinator's (rollouts by state, the running rollouts' phase and batch, step and batch
// durations, journal commit latency, agents connected) and the edges' per-service traffic,
// labelled by version and track (requests, errors, latency, in flight, open long-lived
// connections), read from each edge when Prometheus scrapes. Over TLS the listener asks for a
// client certificate of the fleet CA that belongs to an operator (any role): the credentials
// zddctl uses. The edges' counters are cumulative since a backend joined its track; Prometheus'
// rate() takes a reset in its stride.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import client from 'prom-client';
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { BUCKETS_MS, type Counters } from '../lib/analysis.js';
import { compileSpec, type ServiceSpec } from '../lib/spec.js';
import type { EdgeGauges } from '../lib/commands.js';
import type { Store } from './store.js';
import type { AgentHub } from './agent-hub.js';
import { requireRole, type FleetTrust } from './trust.js';

/** What the executor reports as it works (coordinator/executor.ts). */
export interface RunObserver {
  /** a running rollout begins a phase (of a batch) */
  phase(rolloutId: string, phase: number, batch: number): void;
  step(kind: string, ms: number, outcome: string): void;
  batch(ms: number): void;
  commit(ms: number): void;
}

interface EdgeRead {
  service: string;
  edge: string;
  counters: Counters;
  gauges?: EdgeGauges;
}

const LATENCY_S = BUCKETS_MS.map((ms) => ms / 1000);
const LATENCY_HELP = 'Request latency at the edge, by version and track (buckets and count; the edge keeps no sum)';

export class CoordinatorMetrics implements RunObserver {
  readonly registry = new client.Registry();
  private readonly steps: client.Histogram<'kind' | 'outcome'>;
  private readonly batches: client.Histogram;
  private readonly commits: client.Histogram;
  private edgeCache: { at: number; reads: Promise<EdgeRead[]> } | undefined;
  private scraping: Promise<string> = Promise.resolve('');

  constructor(
    private readonly store: Store,
    private readonly hub: AgentHub,
    private readonly log: Logger,
  ) {
    const registers = [this.registry];
    this.steps = new client.Histogram({
      name: 'zdd_step_duration_seconds',
      help: 'How long rollout steps took, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.batches = new client.Histogram({ name: 'zdd_batch_duration_seconds', help: 'How long a rollout batch took, from its first step to its last', buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers });
    this.commits = new client.Histogram({
      name: 'zdd_journal_commit_seconds',
      help: 'How long a journal commit took (the steps of a phase commit together)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const self = this;
    new client.Gauge({
      name: 'zdd_rollouts',
      help: 'Rollouts in the journal, by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        // every state has a series, 0 until a rollout is in it
        const counts = { running: 0, paused: 0, succeeded: 0, failed: 0, rolled_back: 0, aborted: 0, ...self.store.rolloutCounts() };
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new client.Gauge({
      name: 'zdd_rollout_phase',
      help: 'The phase (step group) a running rollout is at; its batch and strategy are labels',
      labelNames: ['service', 'rollout', 'strategy', 'version', 'batch'],
      registers,
      collect() {
        this.reset();
        const running = self.store.runningRollouts();
        for (const id of self.at.keys()) if (!running.some((r) => r.id === id)) self.at.delete(id);
        for (const r of running) {
          const at = self.at.get(r.id);
          this.set({ service: r.service, rollout: r.id, strategy: r.strategy, version: r.version, batch: String(at?.batch ?? 0) }, at?.phase ?? 0);
        }
      },
    });
    new client.Gauge({
      name: 'zdd_agents_connected',
      help: 'Agents with a session to this coordinator',
      registers,
      collect() {
        this.set(self.hub.connectedCount());
      },
    });
    // the edges' traffic: read once per scrape (at most once a second), shared by the metrics below
    const labels = ['service', 'version', 'track', 'edge'] as const;
    const perBackend = async (fn: (read: EdgeRead, track: string, addr: string, version: string) => void) => {
      for (const read of await self.edgeReads()) {
        const doc = self.store.traffic(read.service);
        const versionOf = new Map((doc?.backends ?? []).map((b) => [`${b.track}|${b.addr}`, b.version ?? '']));
        const anyVersion = new Map((doc?.backends ?? []).map((b) => [b.addr, b.version ?? '']));
        for (const [track, byAddr] of Object.entries(read.counters)) {
          for (const addr of Object.keys(byAddr)) fn(read, track, addr, versionOf.get(`${track}|${addr}`) ?? anyVersion.get(addr) ?? '');
        }
      }
    };
    // a counter or gauge refilled from the edges at each scrape
    type EdgeLabels = client.LabelValues<(typeof labels)[number]>;
    const edgeMetric = (kind: 'counter' | 'gauge', name: string, help: string, fill: (add: (l: EdgeLabels, n: number) => void) => Promise<void>) => {
      const config = {
        name,
        help,
        labelNames: [...labels],
        registers,
        async collect(this: { reset(): void; inc(l: EdgeLabels, n: number): void }) {
          this.reset();
          await fill((l, n) => this.inc(l, n));
        },
      };
      return kind === 'counter' ? new client.Counter(config) : new client.Gauge(config);
    };
    const edgeCounter = (name: string, help: string, pick: (c: Counters[string][string]) => number) =>
      edgeMetric('counter', name, help, (add) => perBackend((r, track, addr, version) => add({ service: r.service, version, track, edge: r.edge }, pick(r.counters[track][addr]))));
    edgeCounter('zdd_edge_requests_total', 'Requests the edge sent to a version, by track (cumulative since the backend joined its track)', (c) => c.requests);
    edgeCounter('zdd_edge_errors_total', 'Answers of 500 and above (or none) from a version, by track', (c) => c.errors);
    this.registry.registerMetric({
      name: 'zdd_edge_request_duration_seconds',
      help: LATENCY_HELP,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        // one series per version and track: the backends of a version are summed
        const sums = new Map<string, { labels: Record<string, string>; buckets: number[]; count: number }>();
        await perBackend((r, track, addr, version) => {
          const key = JSON.stringify([r.service, version, track, r.edge]);
          const c = r.counters[track][addr];
          const s = sums.get(key) ?? { labels: { service: r.service, version, track, edge: r.edge }, buckets: new Array(c.buckets.length).fill(0), count: 0 };
          c.buckets.forEach((n, i) => (s.buckets[i] += n));
          s.count += c.requests;
          sums.set(key, s);
        });
        const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
        for (const s of sums.values()) {
          let cum = 0;
          LATENCY_S.forEach((le, i) => {
            cum += s.buckets[i] ?? 0;
            values.push({ value: cum, labels: { ...s.labels, le }, metricName: 'zdd_edge_request_duration_seconds_bucket' });
          });
          values.push({ value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: 'zdd_edge_request_duration_seconds_bucket' });
          values.push({ value: s.count, labels: s.labels, metricName: 'zdd_edge_request_duration_seconds_count' });
        }
        return { name: 'zdd_edge_request_duration_seconds', help: LATENCY_HELP, type: 'histogram', aggregator: 'sum', values };
      },
    } as unknown as client.Metric);
    const gauge = (name: string, help: string, pick: (g: { inflight: number; longLived: number }) => number) =>
      edgeMetric('gauge', name, help, async (add) => {
        for (const read of await self.edgeReads()) {
          for (const b of self.store.traffic(read.service)?.backends ?? []) {
            const g = read.gauges?.backends[b.addr];
            if (g) add({ service: read.service, version: b.version ?? '', track: b.track, edge: read.edge }, pick(g));
          }
        }
      });
    gauge('zdd_edge_in_flight', 'Requests in flight at the edge to a version (long-lived connections included)', (g) => g.inflight);
    gauge('zdd_edge_long_lived_open', 'Open long-lived connections (WebSocket, server-sent events) to a version', (g) => g.longLived);
    new client.Counter({
      name: 'zdd_edge_unknown_track_total',
      help: 'Requests that asked (X-Zdd-Track or the zdd_track cookie) for a track that does not exist; they were served as if they had not asked',
      labelNames: ['service', 'edge'],
      registers,
      async collect() {
        this.reset();
        for (const r of await self.edgeReads()) if (r.gauges) this.inc({ service: r.service, edge: r.edge }, r.gauges.unknownTrack);
      },
    });
  }

  /** where each running rollout is (told by the executor) */
  private readonly at = new Map<string, { phase: number; batch: number }>();
  phase(rolloutId: string, phase: number, batch: number) {
    this.at.set(rolloutId, { phase, batch });
  }
  step(kind: string, ms: number, outcome: string) {
    this.steps.observe({ kind, outcome }, ms / 1000);
  }
  batch(ms: number) {
    this.batches.observe(ms / 1000);
  }
  commit(ms: number) {
    this.commits.observe(ms / 1000);
  }

  /** Each service's counters and gauges from each of its connected edges; an edge that does not answer within 2 s is left out of this scrape. */
  private edgeReads(): Promise<EdgeRead[]> {
    if (this.edgeCache && Date.now() - this.edgeCache.at < 1000) return this.edgeCache.reads;
    const reads = (async () => {
      const out: EdgeRead[] = [];
      const connected = new Set(this.hub.connectedEdges());
      const asks: Promise<void>[] = [];
      for (const svc of this.store.listServices()) {
        if (!this.store.traffic(svc.name)) continue;
        const named = compileSpec(JSON.parse(svc.specJson) as ServiceSpec).nginx.edges;
        for (const edge of named.length ? named.filter((e) => connected.has(e)) : [...connected]) {
          asks.push(
            this.hub
              .call(edge, 'analyze', { service: svc.name, gauges: true }, `metrics/${svc.name}/${edge}/${Date.now()}`, { timeoutMs: 2000 })
              .then((r) => void out.push({ service: svc.name, edge, counters: r.counters, gauges: r.gauges }))
              .catch((err) => this.log.debug({ edge, service: svc.name, err: errorMessage(err) }, 'edge metrics not read')),
          );
        }
      }
      await Promise.all(asks);
      return out;
    })();
    this.edgeCache = { at: Date.now(), reads };
    return reads;
  }

  /**
   * Serves GET /metrics on `listen` (a bare port is loopback's). Over TLS (trust given) a client
   * must present an operator's certificate of the fleet CA; without, it serves plaintext, which
   * main.ts allows on loopback only unless told --insecure.
   */
  async serve(listen: string, trust: FleetTrust | undefined): Promise<{ port: number; close(): void }> {
    const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      try {
        if (trust) {
          const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
          const who = trust.authenticate({ getAuthContext: () => ({ sslPeerCertificate: peer && Object.keys(peer).length ? peer : undefined }) });
          if (who.kind !== 'operator') throw new ZddError('PERMISSION_DENIED', 'metrics are for operators: an agent\'s certificate is not one');
          requireRole(who, 'viewer', 'Metrics');
        }
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
          return;
        }
        // one scrape at a time: a metric's collect() resets and refills it, and two at once would add up
        const body = await (this.scraping = this.scraping.catch(() => '').then(() => this.registry.metrics()));
        res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(body);
      } catch (err) {
        const denied = err instanceof ZddError && (err.code === 'UNAUTHENTICATED' || err.code === 'PERMISSION_DENIED');
        res.writeHead(denied ? 403 : 500, { 'Content-Type': 'text/plain' }).end(`${errorMessage(err)}\n`);
      }
    };
    const server = trust
      ? https.createServer({ ...trust.httpsOptions(), requestCert: true, rejectUnauthorized: true, handshakeTimeout: 10_000 }, handler)
      : http.createServer(handler);
    // a scraper needs a connection or two; a flood of handshakes is not let to pile up here
    server.maxConnections = 64;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    const { host, port } = metricsAddress(listen);
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('error', (err) => reject(new ZddError('INVALID_ARGUMENT', `cannot serve metrics on ${listen}: ${err.message}`, { cause: err })));
      server.listen({ host, port }, () => resolve((server.address() as net.AddressInfo).port));
    });
    this.log.info({ listen: `${host}:${bound}`, tls: !!trust }, 'metrics listening');
    return { port: bound, close: () => server.close() };
  }
}

/** "9464" → loopback; "ADDR:PORT" as given. */
export function metricsAddress(listen: string): { host: string; port: number } {
  if (/^\d+$/.test(listen)) return { host: '127.0.0.1', port: Number(listen) };
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
