// The executor against a fake agent port and a real store (SQLite; PostgreSQL in executor-pg.test.ts): failure limits, cleanup of new
// instances that never got traffic, and the journal order of traffic generations.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Executor, type Clock } from '../coordinator/executor.js';
import { pendingStep, type Store } from '../coordinator/store.js';
import { journalStore } from './support/stores.js';
import { planRollout, type FleetHost } from '../coordinator/planner.js';
import type { AgentPort, CallOptions } from '../coordinator/agent-hub.js';
import { validateSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';
import type { CommandKind } from '../lib/commands.js';
import { silentLogger } from '../lib/log.js';

const spec = validateSpec({ name: 'web', command: 'x', ports: { a: 8001, b: 8002 }, nginx: { listen: '8080' } });
const baseSpec = spec;
const fleet: FleetHost[] = [0, 1, 2, 3].map((i) => ({
  agentId: `h${i}`,
  labels: {},
  advertise: `10.0.0.${i}`,
  portOffset: 0,
  connected: true,
  edge: i === 0,
}));
const clock: Clock = { now: () => Date.now(), sleep: async () => undefined };

interface Call {
  agentId: string;
  kind: string;
  args: any;
  commandId: string;
}

/** An agent port that records calls and fails start_instance on the named hosts. */
function fakeAgents(failStartOn: string[], onTraffic?: (args: any) => void, drainFails = false): AgentPort & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    call: (async (agentId: string, kind: string, args: any, commandId: string) => {
      calls.push({ agentId, kind, args, commandId });
      switch (kind) {
        case 'start_instance':
          if (failStartOn.includes(agentId)) throw new ZddError('HEALTH_CHECK_FAILED', 'not healthy within 100ms: last answered 503');
          return { slot: args.slot, port: 8001, pid: 1, version: args.version, healthyAfterMs: 10 };
        case 'apply_traffic':
          onTraffic?.(args);
          return { mode: 'dynamic', generation: args.generation, switchMs: 1, noop: false };
        case 'await_idle':
          if (drainFails) throw new ZddError('NGINX_FAILED', 'could not read in-flight requests for 10000ms');
          return { idle: true, waitedMs: 1, inflight: 0 };
        case 'stop_instance':
          return { forced: false, stoppedAfterMs: 1, alreadyStopped: false };
        default:
          return { mode: 'dynamic', changed: false, reloadMs: 0 };
      }
    }) as AgentPort['call'],
  };
}

/** What zddctl resume does: the rollout runs again from the state it is in (paused, or running with the pause held in memory). */
function resumeNow(store: Store, id: string) {
  store.transitionRollout(id, store.getRollout(id)!.state, { state: 'running', pauseReason: '' });
}

function setup(t: import('ava').ExecutionContext, failureLimit: number, batch: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = journalStore(dir);
  t.teardown(() => store.close());
  store.applyService('web', JSON.stringify(spec), 0);
  const plan = planRollout({ spec, liveVersion: '', fleet, traffic: undefined, params: { version: 'v1', strategy: 'rolling', batch: { count: batch }, pauseMs: 0, failureLimit } });
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: '', strategy: 'rolling', paramsJson: JSON.stringify({ failureLimit }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map(pendingStep),
  );
  return { store, id: row.id };
}

test('a host failing within the failure limit keeps its old version; the rest of the fleet moves', async (t) => {
  const { store, id } = setup(t, 1, 1);
  const agents = fakeAgents(['h2']);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'succeeded');
  t.is(r.failedHosts, 1);
  const traffic = store.traffic('web')!;
  t.deepEqual(traffic.backends.map((b) => b.agentId), ['h0', 'h1', 'h3'], 'the failed host never received traffic');
  t.is(traffic.generation, 3, 'one generation per batch that moved a host');
});

test('whoever is told that a step changed finds the change in the journal (a watch never reads the row before it)', async (t) => {
  const { store, id } = setup(t, 0, 2);
  const wanted = new Map<number, string>();
  const stale: string[] = [];
  const x = new Executor(store, fakeAgents([]), clock, silentLogger, (rolloutId, seq) => {
    if (seq === undefined || !wanted.has(seq)) return;
    const row = store.stepsBySeq(rolloutId, [seq])[0];
    if (row.state !== wanted.get(seq)) stale.push(`step ${seq}: told of ${wanted.get(seq)}, the journal has ${row.state}`);
  });
  const setStep = x.setStep.bind(x);
  x.setStep = (st, s, patch, traffic) => {
    if (patch.state) wanted.set(s.seq, patch.state);
    setStep(st, s, patch, traffic);
  };
  await x.run(id);
  t.is(store.getRollout(id)!.state, 'succeeded');
  t.true(wanted.size >= 8, 'steps changed');
  t.deepEqual(stale, []);
});

test('whoever is told that a blue/green holds at its preview listener also finds where the preview is', async (t) => {
  const held = validateSpec({ ...baseSpec, nginx: { listen: '8080', preview: '8090' } });
  const { store, id } = setupOn(t, { strategy: 'blue-green', extra: { verify: 'manual' } }, held);
  const seen: string[] = [];
  // a clock that really sleeps: the hold waits until promoted
  const x: Executor = new Executor(store, fakeAgents([]), { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }, silentLogger, (rolloutId) => {
    // what a watch reads when told: the hold, as zddctl rollout hands back on it
    const hold = store.steps(rolloutId).find((s) => s.kind === 'pause' && s.state === 'running');
    if (!hold || seen.length) return;
    seen.push(hold.detail);
    setImmediate(() => {
      store.updateRollout(rolloutId, { promoteSeq: hold.seq });
      x.wake(rolloutId);
    });
  });
  await x.run(id);
  t.is(store.getRollout(id)!.state, 'succeeded');
  t.deepEqual(seen, ['v2 is on the preview listener, port 8090 on h0']);
});

test('failures beyond the limit stop the rollout, stop the batch\'s healthy new instances and never touch traffic', async (t) => {
  const { store, id } = setup(t, 0, 2);
  const agents = fakeAgents(['h1']);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'failed');
  t.regex(r.error, /batch 1 failed \(1 failed host\(s\), limit 0\): h1: not healthy within 100ms: last answered 503/);
  t.false(agents.calls.some((c) => c.kind === 'apply_traffic'));
  t.is(store.traffic('web'), undefined);
  const cleanup = agents.calls.filter((c) => c.kind === 'stop_instance');
  t.deepEqual(cleanup.map((c) => [c.agentId, c.commandId]), [['h0', `${store.instanceId()}:${id}/2/1/cleanup`]]);
  t.true(store.steps(id).filter((s) => s.batch > 1).every((s) => s.state === 'skipped'));
});

test('the traffic generation is journalled before the edge is asked to apply it', async (t) => {
  const { store, id } = setup(t, 0, 4);
  const seen: (number | undefined)[] = [];
  const agents = fakeAgents([], () => seen.push(store.traffic('web')?.generation));
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  t.deepEqual(seen, [1]);
  const ids = agents.calls.map((c) => c.commandId);
  t.is(new Set(ids).size, ids.length, 'every command has its own id');
  t.regex(store.instanceId(), /^[0-9a-f]{8}$/);
  t.true(ids.every((c) => c.startsWith(`${store.instanceId()}:${id}/`) && c.endsWith('/1')));
});

test('a traffic change that fails is reverted on the edge, journalled as reverted, and the unused new instances are stopped', async (t) => {
  const { store, id } = setup(t, 0, 4);
  let n = 0;
  const agents = fakeAgents([], () => {
    if (++n === 1) throw new ZddError('NGINX_FAILED', 'nginx refused traffic generation 1: admin endpoint timed out');
  });
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'failed');
  t.regex(r.error, /traffic change failed; traffic left as it was/);
  const traffic = agents.calls.filter((c) => c.kind === 'apply_traffic');
  t.is(traffic.length, 2, 'the failed edge gets the revert too: its failure may have been a lost answer');
  t.deepEqual(traffic[1].args.backends, []);
  t.is(traffic[1].args.generation, 2);
  t.deepEqual(store.traffic('web'), { service: 'web', generation: 2, backends: [] }, 'the journal says what is live');
  t.is(agents.calls.filter((c) => c.kind === 'stop_instance').length, 4, 'the four new instances that never got traffic are stopped');
});

test('when the revert cannot be confirmed either, no new instance is stopped', async (t) => {
  const { store, id } = setup(t, 0, 4);
  const agents = fakeAgents([], () => {
    throw new ZddError('NGINX_FAILED', 'admin endpoint did not answer within 3s');
  });
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  t.regex(store.getRollout(id)!.error, /could not be confirmed reverted on every edge; the new instances of batch 1 were left running/);
  t.is(agents.calls.filter((c) => c.kind === 'stop_instance').length, 0);
});

test('an old instance whose drain cannot be confirmed is left running, not stopped', async (t) => {
  const { store, id } = setup(t, 0, 4);
  store.updateStep(id, 1, {}, {
    service: 'web',
    generation: 5,
    backends: [0, 1, 2, 3].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v0' })),
  });
  // re-plan with the fleet now live in slot a, so the rollout has old instances to drain
  const plan = planRollout({ spec, liveVersion: 'v0', fleet, traffic: store.traffic('web'), params: { version: 'v1', strategy: 'rolling', batch: { count: 4 }, pauseMs: 0, failureLimit: 0 } });
  store.transitionRollout(id, 'running', { state: 'failed' });
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: 'v0', strategy: 'rolling', paramsJson: JSON.stringify({ failureLimit: 0 }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map(pendingStep),
  );
  const agents = fakeAgents([], undefined, true);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(row.id);
  t.is(agents.calls.filter((c) => c.kind === 'stop_instance').length, 0);
  t.true(store.steps(row.id).filter((s) => s.kind === 'stop').every((s) => s.state === 'skipped' && /drain not confirmed/.test(s.detail)));
  t.true(store.events(row.id).some((e) => /could not confirm the drain .* old instances left running/.test(e.message)));
});

test('an agent unreachable past its deadline pauses the rollout with the step left running; resume re-sends the same command id', async (t) => {
  const { store, id } = setup(t, 0, 4);
  let reachable = false;
  const agents = fakeAgents([], () => {
    if (!reachable) throw new ZddError('AGENT_UNAVAILABLE', 'agent h0 disconnected during apply_traffic and did not return within 30000ms');
  });
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  let r = store.getRollout(id)!;
  t.is(r.state, 'paused');
  t.regex(r.pauseReason, /agent h0 disconnected during apply_traffic .* zddctl resume web-1/);
  const traffic = store.steps(id).find((s) => s.kind === 'traffic')!;
  t.is(traffic.state, 'running');
  t.false(agents.calls.some((c) => c.kind === 'stop_instance'), 'nothing is cleaned up: the change may have reached the edge');
  const firstId = agents.calls.find((c) => c.kind === 'apply_traffic')!.commandId;

  reachable = true;
  resumeNow(store, id);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  r = store.getRollout(id)!;
  t.is(r.state, 'succeeded');
  const sends = agents.calls.filter((c) => c.kind === 'apply_traffic');
  t.deepEqual(sends.map((c) => c.commandId), [firstId, firstId], 'the same command id, so the edge applies it at most once');
  t.is(sends[1].args.generation, 1, 'the journalled generation, not a new one');
  t.is(agents.calls.filter((c) => c.kind === 'start_instance').length, 4, 'no host started twice');
});

test('a journal that refuses writes pauses the rollout before any side effect without its entry', async (t) => {
  const { store, id } = setup(t, 0, 4);
  const agents = fakeAgents([]);
  let full = false;
  const realUpdate = store.updateStep.bind(store);
  store.updateStep = (...args: Parameters<typeof store.updateStep>) => {
    // the disk fills up exactly when the traffic document is to be journalled
    if (args[3]) full = true;
    if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return realUpdate(...args);
  };
  const inMemory: string[] = [];
  const realRollout = store.updateRollout.bind(store);
  store.updateRollout = (...args: Parameters<typeof store.updateRollout>) => {
    if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return realRollout(...args);
  };
  const realTransition = store.transitionRollout.bind(store);
  store.transitionRollout = (...args: Parameters<typeof store.transitionRollout>) => {
    if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return realTransition(...args);
  };
  await new Executor(store, agents, clock, silentLogger, () => undefined, { onPausedInMemory: (_id, reason) => inMemory.push(reason) }).run(id);
  t.is(inMemory.length, 1);
  t.regex(inMemory[0], /the journal cannot be written: database or disk is full/);
  t.is(agents.calls.filter((c) => c.kind === 'start_instance').length, 4, 'the starts ran: their entries were written');
  t.false(agents.calls.some((c) => c.kind === 'apply_traffic'), 'no traffic change without its journal entry');
  t.is(store.steps(id).find((s) => s.kind === 'traffic')!.state, 'pending');
  t.is(store.traffic('web'), undefined);
});

/** A rollout over a fleet already live in slot a at version v0, with the given edges. */
function setupLive(t: import('ava').ExecutionContext, edges: string[], failureLimit: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = journalStore(dir);
  t.teardown(() => store.close());
  store.applyService('web', JSON.stringify(spec), 0);
  const hosts = fleet.map((h) => ({ ...h, edge: edges.includes(h.agentId) }));
  const live = { service: 'web', generation: 5, backends: [0, 1, 2, 3].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v0' })) };
  const plan = planRollout({ spec, liveVersion: 'v0', fleet: hosts, traffic: live, params: { version: 'v1', strategy: 'rolling', batch: { count: 4 }, pauseMs: 0, failureLimit } });
  const boot = store.createRollout(
    { service: 'web', revision: 1, version: 'v0', fromVersion: '', strategy: 'rolling', paramsJson: '{}', state: 'succeeded', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    [{ seq: 1, batch: 0, phase: 0, kind: 'finalize', agentId: '', args: {}, state: 'done', attempt: 1, detail: '', error: '', resultJson: '', startedMs: 0, endedMs: 0 }],
  );
  store.updateStep(boot.id, 1, {}, live);
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: 'v0', strategy: 'rolling', paramsJson: JSON.stringify({ failureLimit }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map(pendingStep),
  );
  return { store, id: row.id, live };
}

test('interrupted after a host failed to start, the resumed rollout never stops that host\'s only instance', async (t) => {
  const { store, id } = setupLive(t, ['h0'], 1);
  const agents = fakeAgents(['h2']);
  // the journal refuses the write that would mark h2's stop step skipped: the rollout pauses there
  const realUpdate = store.updateStep.bind(store);
  let refuse = true;
  store.updateStep = (...args: Parameters<typeof store.updateStep>) => {
    if (refuse && args[2].state === 'skipped') throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return realUpdate(...args);
  };
  const inMemory: string[] = [];
  await new Executor(store, agents, clock, silentLogger, () => undefined, { onPausedInMemory: (_i, r) => inMemory.push(r) }).run(id);
  t.true(store.getRollout(id)!.state === 'paused' || inMemory.length === 1);
  refuse = false;
  resumeNow(store, id);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  t.is(store.getRollout(id)!.state, 'succeeded');
  t.false(agents.calls.some((c) => c.kind === 'stop_instance' && c.agentId === 'h2'), 'h2 keeps its v0 instance');
  t.deepEqual(store.traffic('web')!.backends.find((b) => b.agentId === 'h2')!.version, 'v0');
});

test('a traffic change over two edges, resumed with one edge done, reverts both edges to what it replaced', async (t) => {
  const { store, id, live } = setupLive(t, ['h0', 'h3'], 0);
  let phase = 'first run';
  const agents = fakeAgents([], () => undefined);
  const real = agents.call.bind(agents);
  agents.call = (async (agentId: string, kind: CommandKind, args: any, commandId: string, opts: CallOptions) => {
    if (kind === 'apply_traffic' && agentId === 'h3' && !commandId.includes('/revert/')) {
      agents.calls.push({ agentId, kind, args, commandId });
      if (phase === 'first run') throw new ZddError('AGENT_UNAVAILABLE', 'agent h3 disconnected during apply_traffic');
      throw new ZddError('NGINX_FAILED', 'nginx refused traffic generation 6: admin endpoint timed out');
    }
    return real(agentId, kind, args, commandId, opts);
  }) as AgentPort['call'];
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  t.is(store.getRollout(id)!.state, 'paused');
  phase = 'resumed';
  resumeNow(store, id);
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  t.is(store.getRollout(id)!.state, 'failed');
  const reverts = agents.calls.filter((c) => c.commandId.includes('/revert/'));
  t.deepEqual(reverts.map((c) => c.agentId).sort(), ['h0', 'h3'], 'both edges get the revert');
  t.deepEqual(reverts[0].args.backends, live.backends, 'back to what the change replaced, not to nothing');
});

/** A rollout of another strategy on top of a live v1 document. */
function setupOn(t: import('ava').ExecutionContext, params: Record<string, unknown>, spec = baseSpec) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = journalStore(dir);
  t.teardown(() => store.close());
  store.applyService('web', JSON.stringify(spec), 0);
  const live = {
    service: 'web',
    generation: 1,
    backends: [1, 2, 3].map((i) => ({ addr: `10.0.0.${i}:8001`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version: 'v1' })),
  };
  const p = { version: 'v2', strategy: 'rolling', batch: { count: 1 }, pauseMs: 0, failureLimit: 0, ...params } as any;
  const plan = planRollout({ spec, liveVersion: 'v1', fleet, traffic: live, params: p });
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v2', fromVersion: 'v1', strategy: p.strategy, paramsJson: JSON.stringify({ ...p, edges: ['h0'], spec }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map(pendingStep),
  );
  store.updateStep(row.id, 1, {}, live);
  return { store, id: row.id };
}

test('blue-green: a failed traffic change after the switch is reverted whole (the new colour stays primary, nothing routed is stopped), then the rollout returns to the old colour', async (t) => {
  const { store, id } = setupOn(t, { strategy: 'blue-green' });
  let n = 0;
  const docs: any[] = [];
  const agents = fakeAgents([], (doc) => {
    docs.push(doc);
    // preview, switch, then the drop of the old colour fails
    if (++n === 3) throw new ZddError('NGINX_FAILED', 'nginx refused traffic generation 4');
  });
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'rolled_back', r.error);
  t.regex(r.error, /traffic change failed and was reverted/);
  const revert = docs[3];
  t.is(revert.primary, 'blue', 'the revert restores the whole previous document, its primary track included');
  t.deepEqual({ ...revert, generation: 0 }, { ...docs[1], generation: 0 }, 'the document before the failed change, as a newer generation');
  t.true(revert.generation > docs[2].generation);
  const final = store.traffic('web')!;
  t.is(final.primary, undefined);
  t.true(final.backends.every((b) => b.version === 'v1' && b.track === 'stable'));
  // the v2 instances were stopped only by the return, after traffic left them; no v1 instance was stopped
  const stops = agents.calls.filter((c) => c.kind === 'stop_instance');
  const v1 = new Set(['h1/a', 'h2/a', 'h3/a']);
  t.is(stops.length, 4, 'the four v2 instances');
  t.false(stops.some((c) => v1.has(`${c.agentId}/${c.args.slot}`)), JSON.stringify(stops.map((c) => [c.agentId, c.args.slot])));
});

test('canary: counters that cannot be read are no data (wait), never a pass', async (t) => {
  const { store, id } = setupOn(t, { strategy: 'canary', steps: [50, 100], stepPauseMs: 0, canaryHosts: { count: 1 } });
  let reads = 0;
  const agents = fakeAgents([]);
  const base = agents.call.bind(agents);
  const errs = (n: number) => ({ requests: n, errors: n, buckets: [n, ...new Array(18).fill(0)] });
  agents.call = (async (agentId: string, kind: CommandKind, args: any, commandId: string, o: CallOptions) => {
    if (kind !== 'analyze') return base(agentId, kind, args, commandId, o);
    agents.calls.push({ agentId, kind, args, commandId });
    if (++reads <= 6) throw new ZddError('NGINX_FAILED', "nginx's admin endpoint answered 500 for metrics");
    const c = { canary: { '10.0.0.1:8002': errs(reads * 100) }, stable: { '10.0.0.1:8001': { requests: reads * 100, errors: 0, buckets: [reads * 100, ...new Array(18).fill(0)] } } };
    return { counters: c, window: args.baseline ? { canary: { '10.0.0.1:8002': errs(500) }, stable: { '10.0.0.1:8001': { requests: 500, errors: 0, buckets: [500, ...new Array(18).fill(0)] } } } : c, figures: {} };
  }) as AgentPort['call'];
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.true(reads > 6, 'the step kept reading');
  t.is(r.state, 'rolled_back', 'judged on data, and the data failed it');
  t.regex(r.error, /canary at 50% failed analysis: error rate 100\.00%/);
});

test('a return whose traffic change an edge refuses pauses (never ends with the edge out of step); resume pushes the same document again and finishes the return', async (t) => {
  const { store, id } = setupOn(t, { strategy: 'canary', steps: [50, 100], stepPauseMs: 0, canaryHosts: { count: 1 } });
  const agents = fakeAgents([]);
  const base = agents.call.bind(agents);
  let refuse = 2;
  const bad = { requests: 500, errors: 500, buckets: [500, ...new Array(18).fill(0)] };
  agents.call = (async (agentId: string, kind: CommandKind, args: any, commandId: string, o: CallOptions) => {
    if (kind === 'analyze') {
      const c = { canary: { '10.0.0.1:8002': bad } };
      return { counters: c, window: c, figures: {} };
    }
    // the return's document (no split) is refused twice: at first, and at the immediate retry
    if (kind === 'apply_traffic' && !args.split && args.backends.every((b: any) => b.track === 'stable') && refuse > 0) {
      agents.calls.push({ agentId, kind, args, commandId });
      refuse--;
      throw new ZddError('NGINX_FAILED', 'nginx refused traffic generation');
    }
    return base(agentId, kind, args, commandId, o);
  }) as AgentPort['call'];
  const ex = new Executor(store, agents, clock, silentLogger, () => undefined);
  await ex.run(id);
  let r = store.getRollout(id)!;
  t.is(r.state, 'paused', r.error);
  t.regex(r.pauseReason, /could not move traffic on every edge.*tried again when you resume/);
  t.false(agents.calls.some((c) => c.kind === 'stop_instance'), 'nothing is stopped while the edge may still route to it');
  resumeNow(store, id);
  await ex.run(id);
  r = store.getRollout(id)!;
  t.is(r.state, 'rolled_back', r.error);
  const last = agents.calls.filter((c) => c.kind === 'apply_traffic').at(-1)!;
  t.is(last.args.generation, store.traffic('web')!.generation, 'the edge runs the journalled generation');
  t.true(agents.calls.some((c) => c.kind === 'stop_instance' && c.agentId === 'h0' && c.args.slot === 'a'), 'the canary instance is stopped after traffic left it');
});

test('a timed canary step still without enough traffic long after its pause pauses the rollout; promote goes on without a verdict', async (t) => {
  const slow = validateSpec({ ...baseSpec, analysis: { minRequests: 1000, interval: '20ms', maxWait: '200ms' } });
  const { store, id } = setupOn(t, { strategy: 'canary', steps: [50, 100], stepPauseMs: 0, canaryHosts: { count: 1 } }, slow);
  const agents = fakeAgents([]);
  const base = agents.call.bind(agents);
  const few = { requests: 3, errors: 0, buckets: [3, ...new Array(18).fill(0)] };
  agents.call = (async (agentId: string, kind: CommandKind, args: any, commandId: string, o: CallOptions) => {
    if (kind !== 'analyze') return base(agentId, kind, args, commandId, o);
    const c = { canary: { '10.0.0.1:8002': few }, stable: { '10.0.0.1:8001': few } };
    return { counters: c, window: c, figures: {} };
  }) as AgentPort['call'];
  const ex = new Executor(store, agents, { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }, silentLogger, () => undefined);
  await ex.run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'paused');
  t.regex(r.pauseReason, /canary at 50%: still too little traffic to judge after .*3 of 1000 requests needed/);
  const waiting = store.steps(id).find((s) => s.kind === 'analyze' && s.state === 'running');
  t.truthy(waiting, 'the step stays open, to go on at resume');
  // what zddctl promote does to a paused wait
  store.updateRollout(id, { promoteSeq: waiting!.seq });
  resumeNow(store, id);
  await ex.run(id);
  const after = store.getRollout(id)!;
  t.is(after.state, 'paused', 'the 100% step waits (and pauses) in its turn');
  t.true(store.steps(id).find((s) => s.seq === waiting!.seq)!.state === 'done');
});

test('in place: when the traffic change that brings a batch back fails, the rollout returns, and the hosts out of the pool start the old version again and rejoin', async (t) => {
  const { store, id } = setupOn(t, { inPlace: true, batch: { count: 2 } });
  let n = 0;
  const agents = fakeAgents([], (args) => {
    // 1: h1 leaves; 2: it comes back with v2, and h0 joins (refused); then the revert and the return
    if (++n === 2) throw new ZddError('NGINX_FAILED', 'nginx refused the traffic change');
    return args;
  });
  await new Executor(store, agents, clock, silentLogger, () => undefined).run(id);
  const r = store.getRollout(id)!;
  t.is(r.state, 'rolled_back', r.error);
  const doc = store.traffic('web')!;
  t.deepEqual(doc.backends.map((b) => `${b.agentId}=${b.version}@${b.slot}`), ['h1=v1@a', 'h2=v1@a', 'h3=v1@a'], 'every host serves v1 again');
  const starts = agents.calls.filter((c) => c.kind === 'start_instance').map((c) => `${c.agentId}:${c.args.version}:${c.args.slot}`);
  // batch 1 is h0 (a new host, never in the pool) and h1 (taken out): only h1 has a v1 to get back
  t.deepEqual(starts, ['h0:v2:a', 'h1:v2:b', 'h1:v1:a']);
  // the v2 instances that never rejoined are stopped before v1 starts again
  const order = agents.calls.filter((c) => c.kind === 'start_instance' || c.kind === 'stop_instance').map((c) => `${c.kind === 'stop_instance' ? 'stop' : 'start'}:${c.agentId}:${c.args.slot}`);
  t.true(order.indexOf('stop:h1:b') < order.indexOf('start:h1:a'), order.join(' '));
});
