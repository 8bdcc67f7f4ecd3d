// The shape that takes new strategies and edges: a strategy defined only here is registered and
// runs through the real executor and a real SQLite journal; the edge agents' commands are served
// by a fake edge driver implementing the agent's EdgeDriver interface. The rollout state machine
// refuses illegal changes, and the package a host installs holds no test kit.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Executor, type Clock } from '../coordinator/executor.js';
import { SqliteStore, pendingStep } from '../coordinator/store.js';
import { planRollout, type FleetHost } from '../coordinator/planner.js';
import { registerStrategy, refuseForeignOptions, strategies } from '../coordinator/strategies/index.js';
import { backendOf, retireOld, startSteps, trafficPhase, type Strategy, type StrategyRequest } from '../coordinator/strategies/kit.js';
import { transition } from '../coordinator/rollout-state.js';
import type { AgentPort } from '../coordinator/agent-hub.js';
import type { EdgeDriver } from '../agent/edge-driver.js';
import type { CommandKind } from '../lib/commands.js';
import { applyOps, type TrafficDoc, type TrafficOp } from '../lib/traffic.js';
import { validateSpec, type ServiceSpec } from '../lib/spec.js';
import { silentLogger } from '../lib/log.js';
import { ROOT } from '../lib/paths.js';

const spec = validateSpec({ name: 'web', command: 'x', ports: { a: 8001, b: 8002 }, nginx: { listen: '8080' } });
const fleet: FleetHost[] = [0, 1, 2, 3].map((i) => ({ agentId: `h${i}`, labels: {}, advertise: `10.0.0.${i}`, portOffset: 0, connected: true, edge: i === 0 }));
const clock: Clock = { now: () => Date.now(), sleep: async () => undefined };

/** A strategy that exists only in this file: every host starts at once, one traffic change moves them all. */
const allAtOnce: Strategy = {
  name: 'all-at-once',
  summary: 'every host at once, one switch',
  options: [],
  extraOptions: ['note'],
  defaultBatch: { percent: 100 },
  needsLiveVersion: false,
  parse: (r) => (r.options.note ? { extra: { note: r.options.note } } : {}),
  plan: ({ input, spec, params, hosts, edges, primary, list, hook }) => {
    const changes: TrafficOp[][] = [];
    startSteps(spec, list, hook, 1, hosts, params.version);
    trafficPhase(spec, list, edges, 1, [{ op: 'swap', moves: hosts.map((h) => ({ agentId: h.agentId, backend: backendOf(h, primary, params.version) })) }], changes);
    retireOld(spec, list, edges, 1, (input.traffic?.backends ?? []).filter((b) => b.track === primary));
    list.next();
    list.add(1, 'finalize', '', {});
    return { batches: [hosts.map((h) => h.agentId)], steps: list.steps, trafficOps: changes };
  },
};
registerStrategy(allAtOnce);

/** An edge switch in memory: what an HAProxy or any other balancer would implement. */
class FakeEdge implements EdgeDriver {
  readonly mode = 'fake';
  readonly applied: TrafficDoc[] = [];
  private readonly specs = new Map<string, ServiceSpec>();
  async start() {}
  async stop() {}
  async configure(s: ServiceSpec) {
    const changed = !this.specs.has(s.name);
    this.specs.set(s.name, s);
    return { mode: 'dynamic' as const, changed, reloadMs: 0 };
  }
  async applyTraffic(doc: TrafficDoc) {
    const noop = this.applied.at(-1)?.generation === doc.generation;
    if (!noop) this.applied.push(doc);
    return { mode: 'dynamic' as const, generation: doc.generation, switchMs: 0, noop };
  }
  async analyze() {
    return { counters: {}, window: {}, figures: {} };
  }
  async awaitIdle() {
    return { idle: true, waitedMs: 0, inflight: 0 };
  }
  async verify() {
    return { passed: [], output: '' };
  }
  async liveGeneration() {
    return this.applied.at(-1)?.generation ?? 0;
  }
  async ejected() {
    return [];
  }
  async gauges() {
    return { backends: {}, unknownTrack: 0 };
  }
  knownServices() {
    return [...this.specs.keys()];
  }
}

/** Agents that start and stop instances at once; edge commands go to the driver, as the agent sends them. */
function agentsWith(edge: EdgeDriver) {
  const starts: string[] = [];
  const call = async (agentId: string, kind: CommandKind, a: any) => {
    switch (kind) {
      case 'start_instance':
        starts.push(`${agentId}:${a.version}:${a.slot}`);
        return { slot: a.slot, port: 8001, pid: 1, version: a.version, healthyAfterMs: 1 };
      case 'stop_instance':
        return { forced: false, stoppedAfterMs: 1, alreadyStopped: false };
      case 'configure_edge':
        return edge.configure(a.spec);
      case 'apply_traffic':
        return edge.applyTraffic(a);
      case 'await_idle':
        return edge.awaitIdle(a.service, a.addrs, a.timeoutMs);
      case 'analyze':
        return edge.analyze(a.service, a.baseline);
      case 'verify':
        return edge.verify(a.service, a);
      default:
        throw new Error(`unexpected ${kind}`);
    }
  };
  return { starts, port: { call: call as AgentPort['call'] } };
}

function storeFor(t: import('ava').ExecutionContext) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-shape-'));
  const store = new SqliteStore(path.join(dir, 'db'));
  t.teardown(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  store.applyService('web', JSON.stringify(spec), 0);
  return store;
}

test('a strategy defined in a test file runs through the executor, with a fake edge driver behind the edge agent', async (t) => {
  const store = storeFor(t);
  const live: TrafficDoc = applyOps(undefined, 'web', [{ op: 'add', backends: fleet.map((h) => ({ addr: `${h.advertise}:8001`, track: 'stable', weight: 1, agentId: h.agentId, slot: 'a', version: 'v1' })) }], 1);
  store.updateStep('none', 0, {}, live);
  const params = { version: 'v2', strategy: 'all-at-once', batch: { percent: 100 }, pauseMs: 0, failureLimit: 0 };
  const plan = planRollout({ spec, liveVersion: 'v1', fleet, traffic: live, params });
  t.deepEqual(plan.batches, [['h0', 'h1', 'h2', 'h3']]);
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v2', fromVersion: 'v1', strategy: 'all-at-once', paramsJson: JSON.stringify({ ...params, edges: plan.edges, spec }), state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    plan.steps.map(pendingStep),
  );
  const edge = new FakeEdge();
  const agents = agentsWith(edge);
  await new Executor(store, agents.port, clock, silentLogger, () => undefined).run(row.id);
  const r = store.getRollout(row.id)!;
  t.is(r.state, 'succeeded', r.error);
  t.deepEqual(agents.starts.sort(), ['h0:v2:b', 'h1:v2:b', 'h2:v2:b', 'h3:v2:b'], 'each host started once, in its other slot');
  t.is(edge.applied.length, 1, 'one traffic change');
  t.deepEqual(edge.applied[0].backends.map((b) => `${b.agentId}=${b.version}@${b.slot}`), ['h0=v2@b', 'h1=v2@b', 'h2=v2@b', 'h3=v2@b']);
  t.is(store.getService('web')!.liveVersion, 'v2');
});

test('the registry validates a request for any strategy: options of another strategy and unknown options are refused', (t) => {
  t.true(strategies().some((s) => s.name === 'all-at-once'));
  const req = (o: Partial<StrategyRequest>): StrategyRequest => ({ steps: '', stepPauseMs: 0, canaryHosts: '', keepOldMs: 0, bakeMs: 0, hosts: '', inPlace: false, maxLoad: 0, options: {}, failureLimit: 0, ...o });
  t.throws(() => refuseForeignOptions(allAtOnce, req({ steps: '10,100' })), { message: /--steps: these options belong to --strategy canary, not all-at-once/ });
  t.throws(() => refuseForeignOptions(allAtOnce, req({ options: { colour: 'red' } })), { message: /takes no option "colour"/ });
  t.notThrows(() => refuseForeignOptions(allAtOnce, req({ options: { note: 'hi' } })));
  t.deepEqual(allAtOnce.parse(req({ options: { note: 'hi' } })), { extra: { note: 'hi' } });
  t.throws(() => registerStrategy(allAtOnce), { message: /already registered/ });
});

test('a rollout state change the table forbids, or one from a state the journal no longer holds, is refused and writes nothing', (t) => {
  const store = storeFor(t);
  const row = store.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: '', strategy: 'rolling', paramsJson: '{}', state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 },
    [pendingStep({ seq: 1, batch: 0, phase: 0, agentId: '', kind: 'finalize', args: {} })],
  );
  transition(store, silentLogger, row.id, 'running', { to: 'succeeded', event: { atMs: 1, level: 'info', agentId: '', message: 'done', kind: '' } });
  t.is(store.getRollout(row.id)!.state, 'succeeded');
  t.throws(() => transition(store, silentLogger, row.id, 'succeeded', { to: 'running' }), { message: /illegal transition succeeded -> running/ });
  t.throws(() => transition(store, silentLogger, row.id, 'running', { to: 'paused', event: { atMs: 2, level: 'info', agentId: '', message: 'paused', kind: 'paused' } }), { message: /is succeeded now, not running/ });
  t.is(store.getRollout(row.id)!.state, 'succeeded');
  t.deepEqual(store.events(row.id).map((e) => e.message), ['done'], 'the refused change left no event');
});

test('the package a host installs (npm pack) holds the product and no test, benchmark, e2e or test-kit file', (t) => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path);
  t.true(files.includes('dist/coordinator/executor.js') && files.includes('dist/agent/main.js') && files.includes('bin/zddctl.js'), 'the product is in it');
  t.deepEqual(files.filter((f) => /(^|\/)(test|bench|e2e|testkit|examples)\//.test(f) || /\.map$/.test(f)), []);
});

test('a step whose arguments do not fit the step contract is refused before it is journalled, and the rollout with it', (t) => {
  const store = storeFor(t);
  const bad = pendingStep({ seq: 1, batch: 1, phase: 1, agentId: '', kind: 'analyze', args: { mode: 'canary', track: 'canary', against: 'stable', waitMs: 0, intervalMs: 10, thresholds: { maxErrorRate: null } } as never });
  t.throws(
    () => store.createRollout({ service: 'web', revision: 1, version: 'v2', fromVersion: 'v1', strategy: 'canary', paramsJson: '{}', state: 'running', error: '', createdMs: 0, endedMs: 0, forcedKills: 0, failedHosts: 0 }, [bad]),
    { message: /analyze step whose arguments do not fit the step contract.*thresholds/ },
  );
  t.is(store.activeRollout('web'), undefined, 'no rollout was stored');
});
