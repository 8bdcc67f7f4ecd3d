// What an edge agent does with its traffic switch, whatever the switch is. The agent holds an
// EdgeDriver and knows nothing else of it; nginx with its Lua balancer (dynamic) and plain nginx
// with verified reloads (reload) are the two implementations (agent/nginx/edge.ts). Another
// balancer is another implementation of this interface.
import type { ServiceSpec } from '../lib/spec.js';
import type { TrafficDoc } from '../lib/traffic.js';
import type { Counters } from '../lib/analysis.js';
import type { AnalyzeResult, ApplyTrafficResult, AwaitIdleResult, ConfigureEdgeResult, EdgeGauges, VerifyResult } from '../lib/commands.js';

export interface VerifyChecks {
  checks: { path: string; method: string; expectStatus: number; bodyContains?: string }[];
  argv?: string[];
  timeoutMs: number;
}

export interface EdgeDriver {
  /** the implementation's name, reported to the coordinator ('dynamic' | 'reload' for nginx) */
  readonly mode: string;
  /** brings the switch up (adopting one left running by an earlier agent) */
  start(): Promise<void>;
  /** leaves the switch (a private nginx is stopped only when asked to) */
  stop(): Promise<void>;
  /** renders and loads a service's listeners; a config that does not validate changes nothing */
  configure(spec: ServiceSpec): Promise<ConfigureEdgeResult>;
  /** moves a service's traffic to a document; applying the live generation again is a no-op */
  applyTraffic(doc: TrafficDoc): Promise<ApplyTrafficResult>;
  /** the service's per-track, per-backend counters; with a baseline, the window since then */
  analyze(service: string, baseline: Counters | undefined): Promise<AnalyzeResult>;
  /**
   * waits until no request is in flight to the given backends, up to the timeout; then up to the
   * grace for their long-lived connections (WebSocket, SSE) to end, and says how many are left
   */
  awaitIdle(service: string, addrs: string[], timeoutMs: number, longLivedGraceMs?: number): Promise<AwaitIdleResult>;
  /** in flight and open long-lived connections per backend, and requests that asked for an unknown track */
  gauges(service: string): Promise<EdgeGauges>;
  /** checks against the service's preview listener */
  verify(service: string, checks: VerifyChecks): Promise<VerifyResult>;
  /** the traffic generation the switch serves now (0: none) */
  liveGeneration(service: string): Promise<number>;
  knownServices(): string[];
  /** "SERVICE ADDR SINCE_MS" for each backend the switch has ejected (it refused or reset connections) */
  ejected(): Promise<string[]>;
}
