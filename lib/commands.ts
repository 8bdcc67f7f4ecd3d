// Arguments and results of the commands the coordinator sends to agents. Both sides validate
// against these schemas, so a misspelt field is an error, not a silently dropped value.
import { z } from 'zod';
import { ServiceSpecSchema } from './spec.js';
import type { Counters, Figures } from './analysis.js';

export const SlotSchema = z.enum(['a', 'b']);
export type Slot = z.infer<typeof SlotSchema>;
export const otherSlot = (s: Slot): Slot => (s === 'a' ? 'b' : 'a');

const track = z.string().regex(/^[a-z0-9-]+$/);
const CounterSchema = z.object({ requests: z.number().min(0), errors: z.number().min(0), buckets: z.array(z.number().min(0)) }).strict();

const BackendSchema = z.object({
  // an IP literal and a port: nginx's Lua balancer cannot resolve names
  addr: z.string().regex(/^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/),
  track,
  weight: z.number().int().min(0).max(1_000_000),
  agentId: z.string().optional(),
  slot: z.string().optional(),
  version: z.string().optional(),
});

/** what a traffic document and a difference both carry: which service, which generation, the routes */
const TRAFFIC_HEAD = {
  service: z.string(),
  generation: z.number().int().min(1),
  primary: track.optional(),
  preview: track.optional(),
  split: z.object({ track, percent: z.number().int().min(0).max(100) }).strict().optional(),
};

export const CommandArgs = {
  start_instance: z.object({ spec: ServiceSpecSchema, version: z.string().min(1), slot: SlotSchema }).strict(),
  stop_instance: z
    .object({
      service: z.string(),
      slot: SlotSchema,
      signal: z.string().default('SIGTERM'),
      drainTimeoutMs: z.number().int().min(0),
      /** the signal waits a random part of this (spreading the closes of long-lived connections over hosts) */
      spreadMs: z.number().int().min(0).optional(),
    })
    .strict(),
  configure_edge: z.object({ spec: ServiceSpecSchema }).strict(),
  /** a whole document, or (lib/traffic.ts TrafficDiff) a difference from a generation the edge holds */
  apply_traffic: z.union([
    z.object({ ...TRAFFIC_HEAD, backends: z.array(BackendSchema) }).strict(),
    z
      .object({ ...TRAFFIC_HEAD, base: z.number().int().min(0), count: z.number().int().min(0), removed: z.array(z.string()), added: z.array(BackendSchema) })
      .strict(),
  ]),
  /** in-flight requests drained within timeoutMs; then open long-lived connections are given up to longLivedGraceMs to end */
  await_idle: z.object({ service: z.string(), addrs: z.array(z.string()), timeoutMs: z.number().int().min(0), longLivedGraceMs: z.number().int().min(0).optional() }).strict(),
  inspect: z.object({}).strict(),
  /** whether a version's release is on the host (zddctl plan asks before a rollout) */
  check_release: z.object({ spec: ServiceSpecSchema, version: z.string().min(1) }).strict(),
  /** the edge's per-track counters, and the window since `baseline` turned into figures */
  analyze: z.object({ service: z.string(), baseline: z.record(z.string(), z.record(z.string(), CounterSchema)).optional(), gauges: z.boolean().optional() }).strict(),
  /** blue/green verification against the preview listener, run on the edge host */
  verify: z
    .object({
      service: z.string(),
      checks: z.array(z.object({ path: z.string(), method: z.string(), expectStatus: z.number().int(), bodyContains: z.string().optional() }).strict()),
      argv: z.array(z.string()).optional(),
      timeoutMs: z.number().int().min(1),
    })
    .strict(),
  /** fetches, checks, unpacks and prepares a release on the host, ahead of any traffic change */
  stage_release: z
    .object({
      service: z.string(),
      version: z.string(),
      /** an absolute file path, a file:// URL or an http(s):// URL */
      url: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      keep: z.number().int().min(1),
      prepare: z.object({ argv: z.array(z.string()).min(1), timeoutMs: z.number().int().min(1) }).strict().optional(),
      env: z.record(z.string(), z.string()).default({}),
    })
    .strict(),
  /** a lifecycle hook of the spec, run on the host */
  run_hook: z
    .object({
      service: z.string(),
      hook: z.string(),
      version: z.string(),
      argv: z.array(z.string()).min(1),
      timeoutMs: z.number().int().min(1),
      /** the spec's working directory template, for services without staged releases */
      workdir: z.string().optional(),
      env: z.record(z.string(), z.string()).default({}),
    })
    .strict(),
} as const;

export type CommandKind = keyof typeof CommandArgs;
/** A command's arguments as a sender writes them (read-only: a sender may pass its frozen values). */
export type ArgsOf<K extends CommandKind> = DeepReadonly<z.input<(typeof CommandArgs)[K]>>;
type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [P in keyof T]: DeepReadonly<T[P]> } : T;
/** What each command answers with. */
export interface CommandResults {
  start_instance: StartInstanceResult;
  stop_instance: StopInstanceResult;
  configure_edge: ConfigureEdgeResult;
  apply_traffic: ApplyTrafficResult;
  await_idle: AwaitIdleResult;
  inspect: unknown;
  check_release: { present: boolean; where: string } | { unknown: true };
  analyze: AnalyzeResult;
  verify: VerifyResult;
  stage_release: StageResult;
  run_hook: HookResult;
}
export type ResultOf<K extends CommandKind> = CommandResults[K];
export const COMMAND_KINDS = Object.keys(CommandArgs) as CommandKind[];

export interface StartInstanceResult {
  slot: Slot;
  port: number;
  pid: number;
  version: string;
  healthyAfterMs: number;
}
export interface StopInstanceResult {
  forced: boolean;
  stoppedAfterMs: number;
  alreadyStopped: boolean;
  /** TCP connections open to the instance when the stop signal was sent, and those still open when it was killed at the drain timeout (cut) */
  connections?: { atSignal: number; cut: number };
}
export interface ConfigureEdgeResult {
  mode: 'dynamic' | 'reload';
  changed: boolean;
  reloadMs: number;
}
export interface ApplyTrafficResult {
  mode: 'dynamic' | 'reload';
  generation: number;
  switchMs: number;
  noop: boolean;
}
export interface AwaitIdleResult {
  idle: boolean;
  waitedMs: number;
  inflight: number;
  /** long-lived connections (WebSocket, SSE): open when the grace began, ended by their clients during it, left for the app to close */
  longLived?: { open: number; ended: number; left: number };
}
export interface AnalyzeResult {
  counters: Counters;
  window: Counters;
  figures: Record<string, Figures>;
  /** the edge's gauges when it was asked */
  gauges?: EdgeGauges;
}
/** A service's live gauges at one edge: per backend address, requests in flight and open long-lived connections. */
export interface EdgeGauges {
  backends: Record<string, { inflight: number; longLived: number }>;
  /** requests that asked for a track (header or cookie) that does not exist, since nginx started */
  unknownTrack: number;
}
export interface StageResult {
  dir: string;
  bytes: number;
  /** the release was already staged from the same artifact */
  reused: boolean;
  ms: number;
  pruned: string[];
  output: string;
}
export interface HookResult {
  ms: number;
  output: string;
}
export interface VerifyResult {
  passed: string[];
  output: string;
}
