// The failure policy: what a rollout does about the failures its journal records. Pure — the
// executor gathers the facts (the steps, the hosts that failed, the live traffic), asks here, and
// carries out the decision. The same decision comes out before or after an interruption, so a
// resumed run handles a failure recorded just before the crash exactly as the first run would.
import type { StepRow } from './store.js';
import type { RollbackOutcome } from './rollout-state.js';
import { resultOf } from './steps.js';

export interface FailureFacts {
  /** the steps of the phase being looked at */
  group: readonly StepRow[];
  /** every step of the rollout */
  all: readonly StepRow[];
  /** set once the rollout has turned into a return to its old version */
  outcome: RollbackOutcome | '';
  /** hosts whose new instance failed in this rollout (and were not restored since) */
  failed: ReadonlySet<string>;
  failureLimit: number;
  // the facts below read the journal's traffic and steps: asked only when a failure needs them
  /** the live traffic has a canary or a second colour beside the primary track */
  mixed: () => boolean;
  /** in place: hosts out of the pool with their old instance stopped */
  outOfPool: () => number;
  /** there is an earlier version to return to */
  canReturn: boolean;
  inPlace: boolean;
  /** every backend in the live traffic runs the new version */
  allOnNewVersion: () => boolean;
}

/** Stop the rollout: stop the batch's new instances that take no traffic, then fail with `message`. */
export interface Stop {
  do: 'stop';
  message: string;
  /** the batch whose healthy new instances are stopped first, and why */
  cleanup?: { batch: number; why: string };
  /** the new version already serves everywhere: record it as live before stopping */
  markLive?: boolean;
}

export type FailureDecision =
  | { do: 'continue' }
  /** a return's traffic change failed: push the journalled document again until every edge runs it */
  | { do: 'reapply-return'; step: StepRow }
  /** return to the old version; if the return cannot begin (it already has), `otherwise` */
  | { do: 'return'; reason: string; otherwise?: Stop }
  /** a traffic change failed: put the document it replaced back, then ask afterRevert */
  | { do: 'revert-traffic'; step: StepRow }
  | Stop;

const startsFailed = (all: readonly StepRow[]) => all.filter((s) => s.kind === 'start' && s.state === 'failed');

export function failureDecision(f: FailureFacts): FailureDecision {
  const { group, all } = f;
  // once a return began, it owns the rollout: earlier failures were handled by starting it
  if (f.outcome) {
    const failedReturn = group.find((s) => s.kind === 'traffic' && s.state === 'failed' && s.args.returning);
    if (failedReturn && failedReturn.kind === 'traffic' && !resultOf(failedReturn).reapplied) return { do: 'reapply-return', step: failedReturn };
    return { do: 'continue' };
  }
  // a failed check (recorded just before an interruption, perhaps): its return begins now
  for (const s of group) {
    if (s.kind === 'verify' && s.state === 'failed') return { do: 'return', reason: `verification against the preview listener failed: ${s.error}` };
    if (s.kind === 'analyze' && s.state === 'failed') return { do: 'return', reason: `analysis failed: ${s.error}` };
    if (s.kind === 'analyze' && s.state === 'done') {
      const r = resultOf(s);
      if (r.ended === 'failed') return { do: 'return', reason: `analysis failed: ${r.verdict?.reasons.join('; ') ?? ''}` };
    }
  }
  if (f.failed.size > f.failureLimit) {
    const failedStarts = startsFailed(all);
    const batch = Math.max(...failedStarts.map((s) => s.batch));
    const failures = failedStarts.map((s) => `${s.agentId}: ${s.error}`);
    const head = `batch ${batch} failed (${f.failed.size} failed host(s), limit ${f.failureLimit}): ${failures.join('; ')}`;
    const stop: Stop = {
      do: 'stop',
      cleanup: { batch, why: 'the rollout failed before traffic moved' },
      message: `${head}. ${
        f.inPlace ? 'In place, their old instances had stopped first: these hosts are out of the pool until a rollout or rollback starts them again.' : 'The old version keeps serving on these hosts.'
      }`,
    };
    // a canary or a new colour already takes traffic, or (in place) hosts are out of the pool with
    // their old instance stopped: return to the old version rather than stop half-way
    if (f.mixed() || (f.canReturn && f.outOfPool())) return { do: 'return', reason: head, otherwise: stop };
    return stop;
  }
  const failedHook = group.find((s) => s.kind === 'hook' && s.state === 'failed');
  if (failedHook && failedHook.kind === 'hook') {
    const hook = failedHook.args.hook;
    const message = `hook ${hook} failed on ${failedHook.agentId || 'a host'}: ${failedHook.error}`;
    const moved = hook === 'afterStop' || hook === 'post';
    const batch = failedHook.batch;
    const stop: Stop = {
      do: 'stop',
      cleanup: { batch, why: `hook ${hook} failed` },
      // every host already serves the new version (a post or last afterStop hook failed): it is the live one
      markLive: f.allOnNewVersion(),
      message: `${message}. ${moved ? `Batch ${batch} had already moved; the rollout stops here` : hook === 'pre' ? 'Nothing was started and traffic is unchanged' : `Traffic did not move for batch ${batch}; the rollout stops here`}.`,
    };
    if ((f.mixed() || f.outOfPool()) && f.canReturn) return { do: 'return', reason: message, otherwise: stop };
    return stop;
  }
  const failedStage = group.filter((s) => s.kind === 'stage' && s.state === 'failed');
  if (failedStage.length) {
    return {
      do: 'stop',
      message: `staging the release failed on ${failedStage.length} host(s): ${failedStage.map((s) => `${s.agentId}: ${s.error}`).join('; ')}. Nothing was started and traffic is unchanged.`,
    };
  }
  const failedTraffic = group.find((s) => s.kind === 'traffic' && s.state === 'failed');
  if (failedTraffic) return { do: 'revert-traffic', step: failedTraffic };
  return { do: 'continue' };
}

/**
 * After a failed traffic change was reverted (or the revert could not be confirmed on every edge).
 * `mixedBefore`: the document put back has a canary or second colour; `outOfPool` is counted
 * against the traffic as it is after the revert.
 */
export function afterRevert(f: { reverted: boolean; canReturn: boolean; mixedBefore: boolean; outOfPool: number; batch: number; error: string }): FailureDecision {
  if (!f.reverted) {
    return {
      do: 'stop',
      message: `traffic change failed and could not be confirmed reverted on every edge; the new instances of batch ${f.batch} were left running so that nothing serving is stopped: ${f.error}`,
    };
  }
  const stop: Stop = { do: 'stop', cleanup: { batch: f.batch, why: 'traffic did not move' }, message: `traffic change failed; traffic left as it was: ${f.error}` };
  // back where it was, with a canary or a second colour still in traffic, or (in place) hosts out
  // of the pool with their old instance stopped: return from there
  if (f.canReturn && (f.mixedBefore || f.outOfPool)) return { do: 'return', reason: `traffic change failed and was reverted: ${f.error}`, otherwise: stop };
  return stop;
}
