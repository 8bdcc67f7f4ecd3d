// The executor against a fake agent port and a real SQLite store: failure limits, cleanup of new
// instances that never got traffic, and the journal order of traffic generations.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Executor, type Clock } from '../coordinator/executor.js';
import { SqliteStore } from '../coordinator/store.js';
import { planRollout, type FleetHost } from '../coordinator/planner.js';
import type { AgentPort } from '../coordinator/agent-hub.js';
import { validateSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';

const spec = validateSpec({ name: 'web', command: 'x', ports: { a: 8001, b: 8002 }, nginx: { listen: '8080' } });
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
function fakeAgents(failStartOn: string[], onTraffic?: () => void): AgentPort & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    async call(agentId, kind, args: any, commandId) {
      calls.push({ agentId, kind, args, commandId });
      switch (kind) {
        case 'start_instance':
          if (failStartOn.includes(agentId)) throw new ZddError('HEALTH_CHECK_FAILED', 'not healthy within 100ms: last answered 503');
          return { slot: args.slot, port: 8001, pid: 1, version: args.version, healthyAfterMs: 10 };
        case 'apply_traffic':
          onTraffic?.();
          return { mode: 'dynamic', generation: args.generation, switchMs: 1, noop: false };
        case 'await_idle':
          return { idle: true, waitedMs: 1, inflight: 0 };
        case 'stop_instance':
          return { forced: false, stoppedAfterMs: 1, alreadyStopped: false };
        default:
          return { mode: 'dynamic', changed: false, reloadMs: 0 };
      }
    },
  };
}

function setup(t: import('ava').ExecutionContext, failureLimit: number, batch: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-exec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(path.join(dir, 'db'));
  t.teardown(() => store.close());
  store.applyService('web', JSON.stringify(spec), 0);
  const plan = planRollout({ spec, liveVersion: '', fleet, traffic: undefined, params: { version: 'v1', strategy: 'rolling', batch: { count: batch }, pauseMs: 0, failureLimit } });
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: '', strategy: 'rolling', paramsJson: JSON.stringify({ failureLimit }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map((s) => ({ ...s, argsJson: JSON.stringify(s.args), state: 'pending' as const, attempt: 0, detail: '', error: '', resultJson: '', startedMs: 0, endedMs: 0 })),
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
  t.deepEqual(cleanup.map((c) => [c.agentId, c.commandId]), [['h0', `${id}/2/1/cleanup`]]);
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
  t.true(ids.every((c) => c.startsWith(`${id}/`) && c.endsWith('/1')));
});
