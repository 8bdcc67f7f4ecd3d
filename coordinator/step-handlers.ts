// One handler per step kind: what the executor does with a phase of steps of that kind. Each works
// through PhaseContext (journal, agents, waits) and leaves every decision about failures to the
// failure policy, through ctx.checkFailures. A new step kind is a schema in steps.ts and a
// handler here; a new strategy needs neither.
import { errorMessage, ZddError } from '../lib/errors.js';
import { compileSpec } from '../lib/spec.js';
import { formatMs } from '../lib/duration.js';
import { applyOps, checkServable, describeTraffic, replacedBy, versionShares, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';
import { addCounters, describeFigures, figuresOf, judge, type Counters, type Verdict } from '../lib/analysis.js';
import type { AnalyzeResult } from '../lib/commands.js';
import { pooled, settleAll, PauseRollout, RolloutFailed, type PhaseContext, type RunState, type StepOf } from './run-context.js';
import { resultOf, type StepKind, type StepResults } from './steps.js';
import type { StepRow } from './store.js';

export type PhaseHandler<K extends StepKind> = (x: PhaseContext, st: RunState, group: StepOf<K>[], all: StepRow[]) => Promise<void>;

/**
 * A phase of more hosts than this reports what went well in one event (with the slowest hosts),
 * not one per host; what went wrong is still an event per host.
 */
const MANY = 20;
const slowest = (xs: { agentId: string; ms: number }[]) =>
  `; slowest ${[...xs].sort((a, b) => b.ms - a.ms).slice(0, 3).map((h) => `${h.agentId} ${h.ms}ms`).join(', ')}`;

/** The last lines of a command's output, for an event line. */
const tail = (output: string) => (output ? `: ${output.trim().split('\n').slice(-5).join(' | ').slice(-400)}` : '');

const configureEdge: PhaseHandler<'configure_edge'> = async (x, st, group) => {
  const rs = await settleAll(group.map((s) => x.step(st, s, (id) => x.agents.call(s.agentId, 'configure_edge', s.args, id, { timeoutMs: 30_000 }))));
  rs.forEach((r, i) => {
    if (r.ok && r.value.changed) x.event(st.rolloutId, 'info', `nginx configured for ${st.service} (${r.value.mode} mode, reloaded)`, group[i].agentId);
  });
  const bad = rs.find((r) => !r.ok);
  if (bad && !bad.ok) throw new RolloutFailed(`edge configuration failed: ${errorMessage(bad.error)}`);
};

const stage: PhaseHandler<'stage'> = async (x, st, group, all) => {
  x.event(st.rolloutId, 'info', `staging ${st.version} from ${group[0].args.url} on ${group.length} host(s), ${Math.min(st.stageConcurrency, group.length)} at a time`);
  const rs = await pooled(group, st.stageConcurrency, (s) =>
    x.step(st, s, (id) => x.agents.call(s.agentId, 'stage_release', s.args, id, { timeoutMs: 30 * 60_000, onProgress: x.progress(st, s) })),
  );
  rs.forEach((r, i) => {
    const s = group[i];
    if (r.ok) {
      const v = r.value;
      const size = v.bytes >= 1e6 ? `${(v.bytes / 1e6).toFixed(1)} MB` : `${(v.bytes / 1e3).toFixed(1)} kB`;
      x.event(
        st.rolloutId,
        'info',
        `${v.reused ? `${st.version} already staged` : `staged ${st.version} (${size}) in ${v.ms}ms`} at ${v.dir}${v.pruned.length ? `; removed old releases ${v.pruned.join(', ')}` : ''}${tail(v.output)}`,
        s.agentId,
        'stage',
      );
    } else x.event(st.rolloutId, 'error', `staging failed: ${errorMessage(r.error)}`, s.agentId, 'stage');
  });
  return x.checkFailures(st, group, all);
};

const hook: PhaseHandler<'hook'> = async (x, st, group, all) => {
  const name = group[0].args.hook;
  await settleAll(
    group.map(async (s) => {
      // a host whose new instance failed (within the failure limit) keeps its old version: no hook runs there
      if (st.failed.has(s.agentId) && name !== 'pre' && name !== 'post') return x.skip(st, s, 'new instance did not start');
      if (name === 'afterStop' && st.undrained.has(s.agentId)) return x.skip(st, s, 'old instance left running');
      const r = await x.step(st, s, (id) => x.agents.call(s.agentId, 'run_hook', s.args, id, { timeoutMs: s.args.timeoutMs + 15_000 }));
      if (r.ok) {
        x.setStep(st, s, { detail: `${name} passed in ${r.value.ms}ms` });
        x.event(st.rolloutId, 'info', `hook ${name} passed in ${r.value.ms}ms${tail(r.value.output)}`, s.agentId, 'hook');
      } else if (r.error instanceof ZddError && r.error.code === 'HOST_GONE') {
        x.event(st.rolloutId, 'warn', `hook ${name} left out: ${errorMessage(r.error)}`, s.agentId, 'hook');
      } else {
        x.setStep(st, s, { detail: `${name} failed` });
        x.event(st.rolloutId, 'error', errorMessage(r.error), s.agentId, 'hook');
      }
    }),
  );
  return x.checkFailures(st, group, all);
};

const start: PhaseHandler<'start'> = async (x, st, group, all) => {
  const spec = compileSpec(st.spec);
  const batch = group[0].batch;
  const on = group.length <= 20 ? group.map((s) => s.agentId).join(', ') : `${group.length} hosts (${group[0].agentId} … ${group[group.length - 1].agentId})`;
  x.event(st.rolloutId, 'info', `batch ${batch}: starting ${group[0].args.version} on ${on}`);
  const rs = await settleAll(
    group.map((s) =>
      x.step(st, s, (id) =>
        x.agents.call(s.agentId, 'start_instance', s.args, id, { timeoutMs: spec.health.deadlineMs + spec.stop.drainTimeoutMs + 30_000, onProgress: x.progress(st, s) }),
      ),
    ),
  );
  const healthy: { agentId: string; ms: number }[] = [];
  rs.forEach((r, i) => {
    const s = group[i];
    if (r.ok) {
      st.started.set(s.agentId, { slot: r.value.slot, port: r.value.port });
      st.failed.delete(s.agentId);
      healthy.push({ agentId: s.agentId, ms: r.value.healthyAfterMs });
      if (group.length <= MANY) x.event(st.rolloutId, 'info', `${r.value.version} healthy in slot ${r.value.slot} after ${r.value.healthyAfterMs}ms`, s.agentId);
    } else if (r.error instanceof ZddError && r.error.code === 'HOST_GONE') {
      x.event(st.rolloutId, 'warn', `left out of this rollout: ${errorMessage(r.error)}`, s.agentId);
    } else {
      st.failed.add(s.agentId);
      x.event(st.rolloutId, 'error', `${s.args.version} did not start: ${errorMessage(r.error)}`, s.agentId);
    }
  });
  if (group.length > MANY && healthy.length) {
    x.event(st.rolloutId, 'info', `batch ${batch}: ${group[0].args.version} healthy on ${healthy.length} of ${group.length} hosts${slowest(healthy)}`);
  }
  await x.checkFailures(st, group, all);
  for (const s of st.byBatch?.get(batch) ?? all.filter((s) => s.batch === batch)) {
    if (s.state === 'pending' && s.kind === 'stop' && st.failed.has(s.agentId)) x.skip(st, s, 'new instance did not start');
  }
};

const traffic: PhaseHandler<'traffic'> = async (x, st, group, all) => {
  // the whole phase (every edge), not only its unfinished steps: the document and what it
  // replaced are journalled on the phase's first step
  const phase = st.byPhase?.get(group[0].phase) ?? all.filter((s) => s.phase === group[0].phase);
  const outcome = await x.withTraffic(st.service, () => applyTraffic(x, st, group, phase));
  if (outcome === 'failed') return x.checkFailures(st, phase, all);
};

/** A traffic phase's change, under the service's traffic lock: journalled, then pushed to every edge. */
async function applyTraffic(x: PhaseContext, st: RunState, group: StepOf<'traffic'>[], phase: StepRow[]): Promise<'done' | 'failed' | 'skipped'> {
  const first = phase[0];
  const journalled = first.state !== 'pending';
  let doc: TrafficDoc;
  if (journalled) {
    // interrupted mid-change: the document was journalled before any edge was touched
    doc = x.store.traffic(st.service)!;
  } else {
    // older journals carry rolling moves; newer ones a list of operations
    const args = group[0].args;
    const ops: TrafficOp[] = args.ops ?? [{ op: 'swap', moves: args.moves ?? [] }];
    // hosts whose new instance is not healthy stay out of the document
    const newcomers = ops.flatMap((o) => (o.op === 'swap' ? o.moves.map((m) => m.agentId) : o.op === 'add' ? o.backends.map((b) => b.agentId ?? '') : []));
    // and so do hosts that left the pool meanwhile (gone past the host grace, drained)
    const exclude = new Set(newcomers.filter((a) => !st.started.has(a) || st.failed.has(a) || x.hostOut(st, a)));
    if (newcomers.length && newcomers.every((a) => exclude.has(a)) && ops.every((o) => o.op === 'swap' || o.op === 'add')) {
      for (const s of group) x.skip(st, s, 'no host of this batch became healthy');
      return 'skipped';
    }
    const prev = x.store.traffic(st.service);
    doc = applyOps(prev, st.service, ops, (prev?.generation ?? 0) + 1, exclude);
    const empty = [doc.preview, doc.split?.track].filter((t): t is string => !!t && !doc.backends.some((b) => b.track === t && b.weight > 0));
    if (empty.length) {
      // every new instance of the track failed (within the failure limit): nothing to route to;
      // the return skips this phase's steps in the same transaction that appends it
      x.beginReturn(st, 'rolled_back', `no instance of ${st.version} became healthy for the ${empty.join(', ')} track`);
      return 'skipped';
    }
    checkServable(doc);
    // the generation, and what it replaces (as a difference), are journalled before any edge is touched
    const begun: StepResults['traffic'] = { replaced: replacedBy(prev, doc) };
    x.setStep(st, first, { state: 'running', attempt: first.attempt + 1, startedMs: x.clock.now(), resultJson: JSON.stringify(begun) }, doc);
  }
  const rs = await settleAll(group.map((s) => x.step(st, s, (id) => x.agents.call(s.agentId, 'apply_traffic', doc, id, { timeoutMs: 30_000 }))));
  const r0 = rs.find((r) => r.ok);
  if (!r0 || !r0.ok || rs.some((r) => !r.ok)) return 'failed';
  const shares = versionShares(doc);
  x.event(
    st.rolloutId,
    'info',
    `traffic generation ${doc.generation} applied in ${r0.value.switchMs}ms: ${describeTraffic(doc, resultOf(phase[0] as StepOf<'traffic'>).replaced)}${
      shares.length > 1 ? ` — serving ${shares.map((v) => `${v.version} ${Math.round(v.percent)}%`).join(', ')}` : ''
    }`,
    '',
    'traffic',
  );
  return 'done';
}

const drain: PhaseHandler<'drain'> = async (x, st, group) => {
  await settleAll(
    group.map(async (s) => {
      const a = s.args;
      const addrs = a.hosts.filter((h) => !st.failed.has(h.agentId)).map((h) => h.addr);
      if (!addrs.length) return x.skip(st, s, 'nothing to drain');
      const grace = a.longLivedGraceMs ?? 0;
      const r = await x.step(st, s, (id) =>
        x.agents.call(s.agentId, 'await_idle', { service: a.service, addrs, timeoutMs: a.timeoutMs, longLivedGraceMs: grace }, id, { timeoutMs: a.timeoutMs + grace + 15_000 }),
      );
      if (!r.ok) {
        // Without a confirmed drain the old instances are not stopped: they get no new traffic,
        // and stopping them could cut requests still in flight.
        for (const h of a.hosts) st.undrained.add(h.agentId);
        x.event(st.rolloutId, 'warn', `could not confirm the drain of ${addrs.join(', ')}; old instances left running: ${errorMessage(r.error)}`, s.agentId);
      } else if (!r.value.idle) {
        x.event(st.rolloutId, 'warn', `${r.value.inflight} request(s) still in flight to ${addrs.join(', ')} after ${r.value.waitedMs}ms`, s.agentId);
      } else {
        const ll = r.value.longLived;
        if (ll?.open) {
          const detail = `${ll.open} long-lived connection(s) open to ${addrs.join(', ')}: ${ll.ended} ended by their clients within ${formatMs(grace)}, ${ll.left} left for the app to close`;
          x.event(st.rolloutId, 'info', detail, s.agentId, 'drain');
          x.setStep(st, s, { detail });
        } else x.setStep(st, s, { detail: `in-flight reached 0 after ${r.value.waitedMs}ms` });
      }
    }),
  );
};

const stop: PhaseHandler<'stop'> = async (x, st, group) => {
  const spec = compileSpec(st.spec);
  const stopped: { agentId: string; ms: number }[] = [];
  await settleAll(
    group.map(async (s) => {
      // decided from the journal's start results, not from the skip written after them: an
      // interruption between the two must not stop the only instance a failed host has
      if (st.failed.has(s.agentId)) return x.skip(st, s, 'new instance did not start');
      if (st.undrained.has(s.agentId)) return x.skip(st, s, 'drain not confirmed; old instance left running');
      const r = await x.step(st, s, (id) => x.agents.call(s.agentId, 'stop_instance', s.args, id, { timeoutMs: spec.stop.drainTimeoutMs + (s.args.spreadMs ?? 0) + 30_000 }));
      if (!r.ok) x.event(st.rolloutId, 'warn', `old instance did not stop: ${errorMessage(r.error)}`, s.agentId);
      else if (r.value.forced) {
        st.forcedKills++;
        x.journal(() => x.store.updateRollout(st.rolloutId, { forcedKills: st.forcedKills }));
        x.event(st.rolloutId, 'warn', `old instance ignored ${spec.stop.signal} for ${spec.stop.drainTimeoutMs}ms: forced kill`, s.agentId);
      } else if (!r.value.alreadyStopped) {
        stopped.push({ agentId: s.agentId, ms: r.value.stoppedAfterMs });
        const c = r.value.connections;
        const closed = c?.atSignal ? `; ${c.atSignal - c.cut} connection(s) closed by the app, ${c.cut} cut` : '';
        if (group.length <= MANY) x.event(st.rolloutId, 'info', `instance in slot ${s.args.slot} stopped after ${r.value.stoppedAfterMs}ms${closed}`, s.agentId);
      }
    }),
  );
  if (group.length > MANY && stopped.length) x.event(st.rolloutId, 'info', `batch ${group[0].batch}: old instances stopped on ${stopped.length} of ${group.length} hosts${slowest(stopped)}`);
};

const pause: PhaseHandler<'pause'> = async (x, st, [s]) => {
  const p = s.args.preview;
  if (p !== undefined && s.state === 'pending') {
    // queued before x.step marks the step running, so both share one commit: whoever is told the
    // rollout waits at the preview also finds where the preview is
    const where = `${/^\d+$/.test(p) ? `port ${p}` : p} on ${st.edges.join(', ')}`;
    x.setStep(st, s, { detail: `${st.version} is on the preview listener, ${where}` });
    x.event(st.rolloutId, 'info', `${st.version} waits on the preview listener (${where}) for zddctl promote ${st.rolloutId}`);
  }
  await x.step(st, s, async () => ({ ended: await x.waitFor(st, s, s.args.ms) }));
};

const finalize: PhaseHandler<'finalize'> = async (x, st, [s]) => {
  await x.step(st, s, async () => {
    x.journal(() => x.store.setLiveVersion(st.service, s.args.version ?? st.version));
    return {};
  });
};

const verify: PhaseHandler<'verify'> = async (x, st, [s]) => {
  const r = await x.step(st, s, (id) => x.agents.call(s.agentId, 'verify', s.args, id, { timeoutMs: s.args.timeoutMs + 15_000 }));
  if (r.ok) {
    x.event(st.rolloutId, 'info', `verification against the preview listener passed: ${r.value.passed.join('; ')}`, s.agentId);
    return;
  }
  x.event(st.rolloutId, 'error', `verification failed: ${errorMessage(r.error)}`, s.agentId);
  x.beginReturn(st, 'rolled_back', `verification against the preview listener failed: ${errorMessage(r.error)}`);
};

const keepOldWindow: PhaseHandler<'window'> = async (x, st, [s]) => {
  await x.step(st, s, async () => {
    const ended = await x.waitFor(st, s, s.args.ms);
    if (ended === 'promoted') x.event(st.rolloutId, 'info', 'keep-old window ended by the operator');
    return { ended };
  });
};

/**
 * A canary step or a blue/green bake: reads the edges' counters until the window judges. The
 * baseline (each edge's counters when the step began) is journalled, so a resumed step keeps its
 * window. Fail → the return to the old version begins; too little traffic → wait, not pass.
 */
const analyze: PhaseHandler<'analyze'> = async (x, st, [s]) => {
  const a = s.args;
  const label = a.mode === 'bake' ? `bake of ${a.track}` : `canary at ${a.percent}%`;
  type Ended = { verdict: Verdict; ended: 'passed' | 'failed' | 'promoted' };
  const r = await x.step(st, s, async (id): Promise<Ended> => {
    // a read that fails is no data: wait and read again (an edge gone for good pauses the rollout)
    const read = async (e: string, base: Counters | undefined, n: number): Promise<AnalyzeResult | undefined> => {
      try {
        return await x.agents.call(e, 'analyze', { service: st.service, ...(base ? { baseline: base } : {}) }, `${id}/${base ? 'read' : 'base'}/${e}/${n}`, { timeoutMs: 10_000 });
      } catch (err) {
        if (err instanceof ZddError && err.code === 'AGENT_UNAVAILABLE') throw err;
        x.progress(st, s)(`${label}: cannot read the counters of ${e} (${errorMessage(err)}); trying again`);
        return undefined;
      }
    };
    const noVerdict = (): Ended => ({ verdict: judge(figuresOf({}, a.track), undefined, a.thresholds), ended: 'promoted' });
    let baseline = resultOf(s).baseline;
    for (let n = 0; !baseline; n++) {
      const b: Record<string, Counters> = {};
      for (const e of st.edges) {
        const r0 = await read(e, undefined, n);
        if (!r0) break;
        b[e] = r0.counters;
      }
      if (Object.keys(b).length === st.edges.length) {
        baseline = b;
        const begun: StepResults['analyze'] = { baseline };
        x.setStep(st, s, { resultJson: JSON.stringify(begun) });
      } else {
        if (x.asked(st, s)) return noVerdict();
        await x.nap(st.rolloutId, a.intervalMs);
      }
    }
    const before = Object.values(baseline).reduce<Counters>((acc, c) => addCounters(acc, c), {});
    for (let n = 0; ; n++) {
      let window: Counters | undefined = {};
      for (const e of st.edges) {
        const res = await read(e, baseline[e], n);
        if (!res) {
          window = undefined;
          break;
        }
        window = addCounters(window, res.window);
      }
      if (!window) {
        if (x.asked(st, s)) return noVerdict();
        await x.nap(st.rolloutId, a.intervalMs);
        continue;
      }
      const canary = figuresOf(window, a.track);
      // a canary is compared with the stable track in the same window; a bake with the old
      // colour's record on the edges up to the switch
      const stable = a.mode === 'bake' ? figuresOf(before, a.against) : figuresOf(window, a.against);
      const verdict = judge(canary, stable, a.thresholds);
      const elapsed = x.clock.now() - s.startedMs;
      const waiting =
        verdict.status === 'wait' ? verdict.reasons[0] : a.waitMs < 0 ? 'waiting for zddctl promote' : elapsed < a.waitMs ? `${Math.ceil((a.waitMs - elapsed) / 1000)}s left` : '';
      const detail = `${label}: ${a.track} ${describeFigures(canary)} | ${a.against} ${describeFigures(stable)}${verdict.status === 'fail' ? ` — FAILED: ${verdict.reasons.join('; ')}` : waiting ? ` — ${waiting}` : ''}`;
      const soFar: StepResults['analyze'] = { baseline, verdict, ...(a.mode === 'bake' ? {} : { measured: { [a.track]: canary.requests, [a.against]: stable.requests } }) };
      try {
        x.setStep(st, s, { detail, resultJson: JSON.stringify(soFar) });
      } catch {
        /* figures are not worth pausing for */
      }
      if (verdict.status === 'fail') return { verdict, ended: 'failed' };
      if (x.asked(st, s)) return { verdict, ended: 'promoted' };
      if (a.waitMs >= 0 && elapsed >= a.waitMs && verdict.status === 'pass') return { verdict, ended: 'passed' };
      // still too little to judge long after its pause: the operator decides (the wait restarts at each resume)
      const since = Math.max(s.startedMs, ...x.store.resumedAt(st.rolloutId));
      if (a.waitMs >= 0 && a.maxWaitMs !== undefined && verdict.status === 'wait' && x.clock.now() - since >= a.waitMs + a.maxWaitMs) {
        throw new PauseRollout(
          `${label}: still too little traffic to judge after ${formatMs(x.clock.now() - since)} (${verdict.reasons[0]}); zddctl promote ${st.rolloutId} goes on without a verdict, zddctl abort ${st.rolloutId} returns, zddctl resume ${st.rolloutId} waits again`,
        );
      }
      await x.nap(st.rolloutId, a.intervalMs);
    }
  });
  if (!r.ok) {
    // no verdict is no pass
    x.beginReturn(st, 'rolled_back', `${label} could not be judged: ${errorMessage(r.error)}`);
    return;
  }
  const { verdict, ended } = r.value;
  if (ended === 'failed') {
    x.event(st.rolloutId, 'error', `${label} failed: ${verdict.reasons.join('; ')} (${a.track}: ${describeFigures(verdict.canary)})`, '', 'analysis');
    x.beginReturn(st, 'rolled_back', `${label} failed analysis: ${verdict.reasons.join('; ')}`);
  } else {
    x.event(st.rolloutId, 'info', `${label} ${ended === 'promoted' ? 'promoted by the operator' : 'passed'}: ${a.track} ${describeFigures(verdict.canary)}`, '', 'analysis');
  }
};

/** The handler of each step kind. */
export const PHASE_HANDLERS: { readonly [K in StepKind]: PhaseHandler<K> } = Object.freeze({
  configure_edge: configureEdge,
  stage,
  hook,
  start,
  traffic,
  verify,
  analyze,
  window: keepOldWindow,
  drain,
  stop,
  pause,
  finalize,
});
