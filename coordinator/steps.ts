// The contract between the planner, the journal and the executor: every kind of step a plan can
// hold, with its arguments, as one discriminated union. The planner builds steps of these types,
// the store parses them back from the journal (parseStepArgs), and the executor's handlers receive
// them narrowed by kind. Step results are typed here as well, read back through resultOf.
import { z } from 'zod';
import { CommandArgs, SlotSchema, type StartInstanceResult, type StopInstanceResult, type ApplyTrafficResult, type AwaitIdleResult, type ConfigureEdgeResult, type StageResult, type HookResult, type VerifyResult } from '../lib/commands.js';
import { ZddError } from '../lib/errors.js';
import type { ServiceSpec } from '../lib/spec.js';
import type { Move, Replaced, TrafficDoc, TrafficOp } from '../lib/traffic.js';
import type { Verdict } from '../lib/analysis.js';

// The spec was validated when it was applied, and the agent validates it again when it receives
// it: in a step it is carried as it was journalled, byte for byte.
const spec = z.custom<ServiceSpec>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected a service spec');
const ops = z.custom<TrafficOp[]>((v) => Array.isArray(v), 'expected a list of traffic operations');
const moves = z.custom<Move[]>((v) => Array.isArray(v), 'expected a list of moves');
const thresholds = z.object({ maxErrorRate: z.number(), maxErrorRateDelta: z.number(), maxP95Ratio: z.number(), minRequests: z.number() });

/** Each step kind's arguments. Steps that are one agent command carry that command's arguments. */
export const StepArgsSchemas = {
  /** renders and loads the service's nginx config on an edge */
  configure_edge: z.object({ spec }),
  /** fetches and unpacks a release on a host */
  stage: CommandArgs.stage_release,
  /** a lifecycle hook of the spec on a host */
  hook: CommandArgs.run_hook,
  /** the new version in a slot, health-gated */
  start: z.object({ spec, version: z.string().min(1), slot: SlotSchema }),
  /**
   * a traffic change on an edge: operations on the journalled document (older journals: rolling
   * moves); `returning` marks a return's change, whose failure ends the rollout
   */
  traffic: z.object({ service: z.string(), ops: ops.optional(), moves: moves.optional(), returning: z.boolean().optional() }),
  /** checks against the preview listener, on an edge */
  verify: CommandArgs.verify,
  /** a canary step or a blue/green bake: the edges' counters judged until a verdict (waitMs < 0: until promoted) */
  analyze: z.object({
    mode: z.enum(['canary', 'bake']),
    percent: z.number().optional(),
    track: z.string(),
    against: z.string(),
    waitMs: z.number(),
    thresholds,
    intervalMs: z.number(),
    maxWaitMs: z.number().optional(),
  }),
  /** blue/green: the old colour kept warm for a rollback */
  window: z.object({ ms: z.number(), track: z.string().optional() }),
  /** waits on an edge until nothing is in flight to the old instances */
  drain: z.object({ service: z.string(), hosts: z.array(z.object({ agentId: z.string(), addr: z.string() })), timeoutMs: z.number().int().min(0), longLivedGraceMs: z.number().int().min(0).optional() }),
  /** stops an instance */
  stop: CommandArgs.stop_instance,
  /** a pause between batches (ms < 0: until promoted) */
  /** a pause of ms (below 0: until zddctl promote); with preview, blue/green's hold at the preview listener (its address) */
  pause: z.object({ ms: z.number(), preview: z.string().optional() }),
  /** records the live version (a return names the version it went back to) */
  finalize: z.object({ version: z.string().optional() }),
} as const;

export type StepKind = keyof typeof StepArgsSchemas;
/** What a handler receives. */
export type StepArgs<K extends StepKind> = z.output<(typeof StepArgsSchemas)[K]>;
/** What the planner writes (defaults not yet filled). */
export type StepArgsIn<K extends StepKind> = z.input<(typeof StepArgsSchemas)[K]>;

/** A step's kind and arguments, narrowed together by `kind`. */
export type TypedStep = { [K in StepKind]: { kind: K; args: StepArgs<K> } }[StepKind];
/** The same, as the planner writes it. */
export type PlannedArgs = { [K in StepKind]: { kind: K; args: StepArgsIn<K> } }[StepKind];

/** One kind and its arguments as a member of the union (TypeScript cannot relate a generic K to it by itself). */
export const planned = <K extends StepKind>(kind: K, args: StepArgsIn<K>): PlannedArgs => ({ kind, args }) as PlannedArgs;

export const isStepKind = (k: string): k is StepKind => Object.hasOwn(StepArgsSchemas, k);

/** A journalled step's kind and arguments, checked against the contract. */
export function parseStepArgs(kind: string, argsJson: string): TypedStep {
  if (!isStepKind(kind)) throw new ZddError('INTERNAL', `the journal holds a step of unknown kind "${kind}" (written by a newer zdd?)`);
  let raw: unknown;
  try {
    raw = JSON.parse(argsJson || '{}');
  } catch (err) {
    throw new ZddError('INTERNAL', `the journal holds a ${kind} step whose arguments are not JSON`, { cause: err });
  }
  const r = StepArgsSchemas[kind].safeParse(raw);
  if (!r.success) throw new ZddError('INTERNAL', `a ${kind} step whose arguments do not fit the step contract (coordinator/steps.ts): ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { kind, args: r.data } as TypedStep; // the schema was picked by kind
}

/** What each kind of step records when it ends, and (traffic) what it journals when it begins. */
export interface StepResults {
  configure_edge: ConfigureEdgeResult;
  stage: StageResult;
  hook: HookResult;
  start: StartInstanceResult;
  /**
   * what the change replaced, journalled before any edge is touched: `replaced` (a difference,
   * lib/traffic.ts) since zdd 0.1's size work; `prev` (the whole document) in older journals.
   * And a return's re-push.
   */
  traffic: Partial<ApplyTrafficResult> & { prev?: TrafficDoc | null; replaced?: Replaced; reapplied?: number };
  verify: VerifyResult;
  analyze: {
    baseline?: Record<string, import('../lib/analysis.js').Counters>;
    verdict?: Verdict;
    ended?: 'passed' | 'failed' | 'promoted';
    /** a canary step: requests per track in its window so far, the share as measured */
    measured?: Record<string, number>;
  };
  window: { ended?: 'elapsed' | 'promoted' };
  drain: AwaitIdleResult;
  stop: StopInstanceResult;
  pause: { ended?: 'elapsed' | 'promoted' };
  finalize: Record<string, never>;
}

/** A step's recorded result, typed by its kind ({} before it has one). */
export function resultOf<K extends StepKind>(s: { kind: K; resultJson: string }): Partial<StepResults[K]> {
  return s.resultJson ? (JSON.parse(s.resultJson) as Partial<StepResults[K]>) : {};
}
