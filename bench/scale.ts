// `npm run bench -- scale [--sizes 10,1000,10000]`: one real coordinator (real SQLite,
// synchronous=FULL, mutual TLS) per fleet size, with simulated agents (testkit/sim-fleet.ts: the
// real protocol, each command answered at once and checked against the agent's schemas), so the
// figures are the coordinator's own cost. For each size: memory and idle CPU with every agent
// connected, the cost of a one-host batch (early and late in a rollout), of a 100-host batch and
// the largest reply; a tiny control call's latency during the 100-host batches; and how long all
// agents take to come back after the coordinator is SIGKILLed. Beside it, in the same run, the raw
// grpc-js floor for a 100-host batch: the same round trips with no journal, no planning, nothing.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { LocalFleet } from '../testkit/local-fleet.js';
import { SIM_SPEC, SimFleet } from '../testkit/sim-fleet.js';
import { protos, SERVER_OPTIONS } from '../lib/grpc.js';
import type { Client } from '../cli/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** control connections the coordinator dropped during the run (its event loop held past the keepalive), each call tried again */
let drops = 0;
/** A control call, tried again (up to three times) when the connection dropped: the drop is counted. */
async function call(c: Client, method: Parameters<Client['call']>[0], req: object): Promise<any> {
  for (let i = 0; ; i++) {
    try {
      return await c.call(method, req as never);
    } catch (err) {
      if (i >= 3 || !/cannot reach the coordinator/.test(String((err as Error).message))) throw err;
      drops++;
      await sleep(1000);
    }
  }
}
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : 0);

/** utime + stime of a process, in ms */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

const SPEC = SIM_SPEC;

interface StepLite {
  seq: number;
  batch: number;
  kind: string;
  state: string;
  started_at_ms: number;
  ended_at_ms: number;
}

/** Every step of a rollout, page by page (the control API never sends them in one reply). */
async function allSteps(c: Client, id: string): Promise<StepLite[]> {
  const out: StepLite[] = [];
  let after = 0;
  for (;;) {
    const r = await call(c, 'GetRollout', { id, steps_after: after, max_steps: 5000, max_events: 1 });
    out.push(...r.steps);
    if (!r.next_step) return out;
    after = r.next_step;
  }
}

/** The cost of each batch whose steps all ended: from its first step's start to its last step's end. */
function batchCosts(steps: StepLite[]): Map<number, number> {
  const by = new Map<number, StepLite[]>();
  for (const s of steps) if (s.batch > 0 && s.kind !== 'finalize') (by.get(s.batch) ?? by.set(s.batch, []).get(s.batch)!).push(s);
  const out = new Map<number, number>();
  for (const [b, ss] of by) {
    if (ss.some((s) => s.state === 'pending' || s.state === 'running')) continue;
    const ran = ss.filter((s) => s.started_at_ms);
    if (ran.length) out.set(b, Math.max(...ran.map((s) => Number(s.ended_at_ms))) - Math.min(...ran.map((s) => Number(s.started_at_ms))));
  }
  return out;
}

async function waitState(c: Client, id: string, states: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(c, 'GetRollout', { id, summary_only: true });
    if (states.includes(r.state)) return r;
    if (Date.now() > deadline) throw new Error(`rollout ${id} still ${r.state} after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Runs a rollout until `batches` batches have ended (or it ends), then pauses it and aborts it: what each batch cost. */
async function someBatches(c: Client, version: string, batch: string, batches: number, during?: () => Promise<void>) {
  const r = await call(c, 'StartRollout', { service: 'app', version, batch });
  let stop = false;
  const side = during ? (async () => { while (!stop) await during(); })() : Promise.resolve();
  for (;;) {
    const s = await call(c, 'GetRollout', { id: r.id, summary_only: true });
    if (s.state !== 'running' || s.summary.batches_done >= batches) break;
    await sleep(500);
  }
  stop = true;
  await side;
  const cur = await call(c, 'GetRollout', { id: r.id, summary_only: true });
  if (cur.state === 'running') {
    await call(c, 'PauseRollout', { id: r.id });
    await waitState(c, r.id, ['paused'], 120_000);
  }
  const steps = await allSteps(c, r.id);
  const end = await call(c, 'GetRollout', { id: r.id, summary_only: true });
  if (end.state === 'paused') {
    await call(c, 'AbortRollout', { id: r.id, reason: 'bench' });
    await waitState(c, r.id, ['aborted', 'failed', 'succeeded', 'rolled_back'], 600_000);
  }
  return { id: r.id, costs: batchCosts(steps) };
}

/** The largest reply of each read an operator makes, as JSON (an upper bound on its protobuf size). */
async function replySizes(c: Client, rolloutId: string) {
  const sizes: Record<string, number> = {};
  const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
  sizes.status = size(await call(c, 'GetRollout', { id: rolloutId }));
  sizes.status_max_page = size(await call(c, 'GetRollout', { id: rolloutId, max_steps: 5000, max_events: 2000 }));
  sizes.history = size(await call(c, 'ListRollouts', { service: 'app', limit: 200 }));
  sizes.agents = size(await call(c, 'ListAgents', { page_size: 5000 }));
  sizes.plan_batch_1 = size(await call(c, 'Plan', { service: 'app', version: 'vplan', batch: '1', plan_batches: 200 }));
  sizes.plan_10pct = size(await call(c, 'Plan', { service: 'app', version: 'vplan', batch: '10%', plan_batches: 200 }));
  return sizes;
}

export interface ScaleSize {
  agents: number;
  join_s: number;
  rss_mb: number;
  idle_cpu_pct: number;
  first_release_ms: number;
  control_call_max_ms_during_first_release: number;
  batch1_ms_early: number;
  batch1_ms_late: number;
  batch100_ms?: number;
  control_call_p99_ms_during_rollout?: number;
  replies: Record<string, number>;
  max_reply_bytes: number;
  reconnect_s: number;
  reconnect_coordinator_cpu_s: number;
  invalid_commands: number;
}

async function measureSize(n: number, log: (s: string) => void): Promise<ScaleSize> {
  const fleet = await LocalFleet.start({ agents: 0, logLevel: 'warn', coordinatorReadyMs: 300_000, coordinatorArgs: ['--heartbeat-ms', '5000', '--host-grace', '10m', '--resume-wait-ms', '60000'] });
  const sims = new SimFleet(fleet.coordinatorAddr, fleet.credentials());
  const c = fleet.client();
  try {
    const began = Date.now();
    await sims.add({ prefix: 'edge-', first: 0, count: 1, edge: true, labels: { role: 'edge' } });
    // 2,500 simulated agents to a process: each process is one core's worth of agents' TLS
    await sims.add({ prefix: 'sim-', first: 1, count: n, labels: { role: 'web' } }, 2500);
    await sims.allWelcomed(600_000);
    const joinS = (Date.now() - began) / 1000;
    log(`[${n}] ${n} agents joined over TLS and connected in ${joinS.toFixed(1)} s`);
    await call(c, 'ApplyService', { spec_json: JSON.stringify(SPEC) });
    // every host onto v1 at once: the fleet as it is before the measured rollouts; a tiny control
    // call every 20 ms beside it (the largest phase there is: every host at once)
    const lat0: number[] = [];
    let firstDone = false;
    const t0 = Date.now();
    const first = await call(c, 'StartRollout', { service: 'app', version: 'v1', batch: '100%' });
    const started = Date.now() - t0;
    const pinger = (async () => {
      while (!firstDone) {
        const t = Date.now();
        await call(c, 'WhoAmI', {});
        lat0.push(Date.now() - t);
        await sleep(20);
      }
    })();
    await waitState(c, first.id, ['succeeded'], 600_000);
    firstDone = true;
    await pinger;
    const firstMs = Date.now() - t0;
    log(`[${n}] first release on all ${n} hosts in one batch: ${firstMs} ms (StartRollout answered in ${started} ms); control call beside it: p99 ${pct(lat0, 99)} ms, max ${Math.max(...lat0)} ms over ${lat0.length} calls`);
    // idle: every agent connected, heartbeats every 5 s
    await sleep(5000);
    const pid = fleet.coordinatorPid!;
    // (the coordinator is SIGKILLed and started again right after this: the rollouts below run on the new one)
    const cpu0 = cpuMs(pid);
    const w0 = Date.now();
    await sleep(10_000);
    const idleCpu = (100 * (cpuMs(pid) - cpu0)) / (Date.now() - w0);
    const rss = rssMb(pid);
    log(`[${n}] idle: ${idleCpu.toFixed(1)} % of a core, ${rss} MB RSS`);
    // the coordinator SIGKILLed and started again: all agents back
    await fleet.stopCoordinator('SIGKILL');
    for (const deadline = Date.now() + 60_000; (await sims.welcomed()) > 0 && Date.now() < deadline; ) await sleep(50);
    const restartAt = Date.now();
    const sessions0 = await sims.sessions();
    const ends0 = new Map(await sims.ends());
    const coming = fleet.startCoordinator();
    // every 10 s: agents back, and the CPU the coordinator and the simulator used (where the time goes)
    let cpuAt = { c: 0, s: sims.pids().reduce((a, p) => a + cpuMs(p), 0), t: Date.now() };
    await sims.allWelcomed(600_000, (back, ms) => {
      const now = { c: fleet.coordinatorPid ? cpuMs(fleet.coordinatorPid) : 0, s: sims.pids().reduce((a, p) => a + cpuMs(p), 0), t: Date.now() };
      const pctOf = (d: number) => Math.round((100 * d) / (now.t - cpuAt.t));
      log(`[${n}]   ${(ms / 1000).toFixed(0)} s: ${back} back; coordinator ${pctOf(now.c - cpuAt.c)} %, simulator ${pctOf(now.s - cpuAt.s)} % of a core`);
      cpuAt = now;
    });
    const reconnectS = (Date.now() - restartAt) / 1000;
    // what the storm cost the coordinator, apart from the simulator's own share of the machine
    const stormCpuS = cpuMs(fleet.coordinatorPid!) / 1000;
    const attempts = (await sims.sessions()) - sessions0;
    await coming;
    const ends = (await sims.ends()).map(([k, v]) => [k, v - (ends0.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
    log(`[${n}] sessions that ended during the storm, by reason: ${ends.slice(0, 6).map(([k, v]) => `${v}× ${k}`).join(' | ') || 'none'}`);
    log(`[${n}] coordinator SIGKILLed and started: all ${n + 1} agents back after ${reconnectS.toFixed(1)} s (${attempts} session attempts; the new coordinator used ${stormCpuS.toFixed(1)} s of CPU)`);
    // one host per batch: early batches, and (at up to 1,000 hosts) the whole rollout for the late ones
    const k = n <= 1000 ? n : 60;
    const one = await someBatches(c, 'v2', '1', k);
    const ones = [...one.costs].sort((a, b) => a[0] - b[0]).map(([, ms]) => ms);
    const early = median(ones.slice(1, 21));
    const late = median(ones.slice(-20));
    log(`[${n}] 1 host per batch: ${ones.length} batches, median ${early} ms early, ${late} ms late`);
    let batch100: number | undefined;
    let p99: number | undefined;
    if (n >= 1000) {
      // 100 hosts per batch, with a tiny control call every 20 ms beside it
      const lat: number[] = [];
      const ping = async () => {
        const t = Date.now();
        await call(c, 'WhoAmI', {});
        lat.push(Date.now() - t);
        await sleep(20);
      };
      const hundred = await someBatches(c, 'v3', '100', 6, ping);
      const costs = [...hundred.costs].sort((a, b) => a[0] - b[0]).map(([, ms]) => ms);
      batch100 = median(costs.slice(1));
      p99 = pct(lat, 99);
      log(`[${n}] 100 hosts per batch: ${costs.join(', ')} ms; control call p99 ${p99} ms over ${lat.length} calls`);
    }
    const replies = await replySizes(c, one.id);
    const maxReply = Math.max(...Object.values(replies));
    log(`[${n}] replies (bytes of JSON): ${JSON.stringify(replies)}`);
    const invalid = await sims.invalid();
    if (invalid.length) log(`[${n}] commands the agents' schemas refused: ${invalid.slice(0, 5).join(' | ')}`);
    return {
      agents: n,
      join_s: joinS,
      rss_mb: rss,
      idle_cpu_pct: Math.round(idleCpu * 10) / 10,
      first_release_ms: firstMs,
      control_call_max_ms_during_first_release: Math.max(...lat0),
      batch1_ms_early: early,
      batch1_ms_late: late,
      ...(batch100 !== undefined ? { batch100_ms: batch100, control_call_p99_ms_during_rollout: p99 } : {}),
      replies,
      max_reply_bytes: maxReply,
      reconnect_s: Math.round(reconnectS * 10) / 10,
      reconnect_coordinator_cpu_s: Math.round(stormCpuS * 10) / 10,
      invalid_commands: invalid.length,
    };
  } finally {
    c.close();
    await sims.stop();
    await fleet.stop();
  }
}

/**
 * The floor: a bare grpc-js server speaking the agent protocol to 100 simulated agents and one
 * edge (plaintext: TLS would only raise it), doing a batch's round trips with nothing else: start
 * on 100 hosts, one traffic change and one drain on the edge, stop on 100 hosts.
 */
async function floor(log: (s: string) => void): Promise<number> {
  const server = new grpc.Server(SERVER_OPTIONS);
  const sessions = new Map<string, grpc.ServerDuplexStream<any, any>>();
  const waiting = new Map<string, () => void>();
  server.addService(protos().agent.zdd.v1.AgentGateway.service, {
    Session: (call: grpc.ServerDuplexStream<any, any>) => {
      call.on('data', (m: any) => {
        if (m.hello) {
          sessions.set(m.hello.agent_id, call);
          call.write({ welcome: { coordinator_version: 'floor', heartbeat_ms: 5000 } });
        } else if (m.result) waiting.get(m.result.command_id)?.();
      });
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const sims = new SimFleet(`127.0.0.1:${port}`, 'plaintext');
  try {
    await sims.add({ prefix: 'edge-', first: 0, count: 1, edge: true, labels: { role: 'edge' } });
    await sims.add({ prefix: 'sim-', first: 1, count: 100, labels: { role: 'web' } });
    await sims.allWelcomed(60_000);
    let n = 0;
    const send = (agent: string, kind: string, args: unknown) =>
      new Promise<void>((resolve) => {
        const id = `floor/${n++}`;
        waiting.set(id, () => {
          waiting.delete(id);
          resolve();
        });
        sessions.get(agent)!.write({ command: { command_id: id, kind, args_json: JSON.stringify(args) } });
      });
    const hosts = [...Array(100)].map((_, i) => `sim-${i + 1}`);
    const rounds: number[] = [];
    for (let r = 0; r < 12; r++) {
      const t = Date.now();
      const slot = r % 2 ? 'a' : 'b';
      await Promise.all(hosts.map((h) => send(h, 'start_instance', { spec: SPEC, version: `f${r}`, slot })));
      await send('edge-0', 'apply_traffic', { service: 'app', generation: r + 1, backends: hosts.map((h, i) => ({ addr: `127.0.${i}.1:8000`, track: 'stable', weight: 1, agentId: h })) });
      await send('edge-0', 'await_idle', { service: 'app', addrs: hosts.map((_, i) => `127.0.${i}.1:8001`), timeoutMs: 5000 });
      await Promise.all(hosts.map((h) => send(h, 'stop_instance', { service: 'app', slot: slot === 'a' ? 'b' : 'a', signal: 'SIGTERM', drainTimeoutMs: 5000 })));
      rounds.push(Date.now() - t);
    }
    const invalid = await sims.invalid();
    if (invalid.length) throw new Error(`the floor sent commands the agents refused: ${invalid[0]}`);
    const ms = median(rounds.slice(2));
    log(`[floor] a 100-host batch's round trips on bare grpc-js: ${rounds.join(', ')} ms (median ${ms})`);
    return ms;
  } finally {
    await sims.stop();
    server.forceShutdown();
  }
}

export async function scale(o: { sizes: number[]; log: (s: string) => void }) {
  const results: ScaleSize[] = [];
  const floorMs = await floor(o.log);
  for (const n of o.sizes) {
    const r = await measureSize(n, o.log);
    results.push(r);
    process.stdout.write(JSON.stringify({ scenario: 'scale-size', ...r }) + '\n');
  }
  const small = results[0];
  const big = results[results.length - 1];
  return {
    scenario: 'scale',
    agents: big.agents,
    rss_mb: big.rss_mb,
    idle_cpu_pct: big.idle_cpu_pct,
    [`batch1_ms_at_${small.agents}`]: small.batch1_ms_early,
    [`batch1_ms_at_${big.agents}`]: big.batch1_ms_early,
    batch1_ms_late_at_1000: results.find((r) => r.agents === 1000)?.batch1_ms_late,
    batch100_ms: big.batch100_ms,
    batch100_floor_ms: floorMs,
    max_reply_bytes: Math.max(...results.map((r) => r.max_reply_bytes)),
    reconnect_s: big.reconnect_s,
    control_call_p99_ms_during_rollout: big.control_call_p99_ms_during_rollout,
    control_connections_dropped: drops,
  };
}
