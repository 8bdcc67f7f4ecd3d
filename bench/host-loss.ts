// The host-loss benchmark: four hosts under the zero-downtime load, one killed outright (agent and
// apps, SIGKILL) while idle, then another in the middle of a rolling rollout. What counts:
//   failed            requests the load generator saw fail
//   failed_in_flight  requests that were in flight to a killed host at the instant it died, from
//                     nginx's access log (upstream address, request start and end)
//   ejected_ms_max    from a kill until the edge ejected the host's backend
//   rollouts_completed rollouts that succeeded, each without the dead hosts
// Target: failed = failed_in_flight, ejected_ms_max <= 1000, every rollout completes.
import fs from 'node:fs';
import path from 'node:path';
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen } from '../testkit/loadgen.js';

export interface HostLossOptions {
  retry: 'connect' | 'off';
  /** nginx's idle connections to each backend (the spec's upstreamKeepalive); 0: a new connection per request */
  upstreamKeepalive?: number;
  rps: number;
  connections: number;
  log: (s: string) => void;
}

export interface HostLossResult {
  scenario: 'host-loss';
  retry: 'connect' | 'off';
  upstream_keepalive: number;
  kills: number;
  requests: number;
  failed: number;
  failed_in_flight: number;
  ejected_ms_max: number;
  /** from a kill until the coordinator's journalled traffic no longer lists the host */
  out_of_traffic_ms_max: number;
  rollouts_completed: number;
  rollouts: number;
  failures: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOST_GRACE_MS = 3000;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(20);
  }
  throw new Error(`${what} did not happen within ${timeoutMs}ms`);
}

export async function hostLoss(o: HostLossOptions): Promise<HostLossResult> {
  let accessLog = '';
  const fleet = await LocalFleet.start({
    agents: 4,
    logLevel: 'warn',
    coordinatorArgs: ['--host-grace', `${HOST_GRACE_MS}ms`],
    agentArgs: (i) => (i === 1 ? ['--edge-access-log', (accessLog = path.join(fs.mkdtempSync('/tmp/zdd-hostloss-'), 'access.log'))] : []),
  });
  const client = fleet.client();
  try {
    for (const v of ['v1', 'v2', 'v3']) fleet.writeRelease(v);
    const spec = fleet.spec({
      health: { path: '/healthz', interval: '25ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' },
      nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: o.retry, upstreamKeepalive: o.upstreamKeepalive ?? 64, upstreamKeepaliveTimeout: '4s' },
    });
    if ((await fleet.apply(spec)).code !== 0) throw new Error('apply failed');
    const first = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%']);
    if (first.code !== 0) throw new Error(`initial deploy failed: ${first.stdout}${first.stderr}`);
    const traffic = async () => JSON.parse((await client.call('GetRollout', { id: '' })).traffic_json) as { backends: { agentId: string; addr: string }[] };
    const ejectedAt = async (addr: string) => {
      const text = await fetch(`http://${fleet.adminAddr}/zdd/ejected/web`).then((r) => r.text());
      const line = text.split('\n').find((l) => l.startsWith(`${addr} `));
      return line ? Math.round(Number(line.split(' ')[1]) * 1000) : undefined;
    };
    const gen = new LoadGen({ host: '127.0.0.1', port: fleet.nginxPort, connections: o.connections, rps: o.rps, maxDurationMs: 10 * 60_000 }).start();
    const kills: { at: number; addrs: string[] }[] = [];
    const ejectedMs: number[] = [];
    const outMs: number[] = [];
    let completed = 0;
    let rollouts = 0;
    await sleep(3000);

    // 1. host 4 dies while nothing else happens
    const tag = `retry ${o.retry}, upstream keepalive ${o.upstreamKeepalive ?? 64}`;
    o.log(`[${tag}] killing host 4 (agent and apps) while idle`);
    const live4 = (await traffic()).backends.filter((b) => b.agentId === fleet.agentId(4)).map((b) => b.addr);
    const k1 = (await fleet.killHost(4)).at;
    kills.push({ at: k1, addrs: live4 });
    for (const a of live4) ejectedMs.push((await waitFor('ejection of host 4', () => ejectedAt(a), 10_000)) - k1);
    await waitFor('host 4 out of traffic', async () => ((await traffic()).backends.some((b) => b.agentId === fleet.agentId(4)) ? undefined : true), HOST_GRACE_MS + 10_000);
    outMs.push(Date.now() - k1);
    await sleep(1000);

    // 2. a rolling rollout, one host per batch; host 3 dies as soon as its batch begins
    o.log(`[${tag}] rolling v1 -> v2, killing host 3 when its batch begins`);
    rollouts++;
    const started = await client.call('StartRollout', { service: 'web', version: 'v2', strategy: 'rolling', batch: '1' });
    const host3 = fleet.agentId(3);
    await waitFor(
      'the batch of host 3',
      async () => {
        const r = await client.call('GetRollout', { id: started.id });
        return r.steps.some((s: any) => s.agent_id === host3 && s.kind === 'start' && s.state !== 'pending') || r.state !== 'running' ? true : undefined;
      },
      120_000,
    );
    const live3 = (await traffic()).backends.filter((b) => b.agentId === host3).map((b) => b.addr);
    const k2 = (await fleet.killHost(3)).at;
    kills.push({ at: k2, addrs: live3 });
    for (const a of live3) ejectedMs.push((await waitFor('ejection of host 3', () => ejectedAt(a), 10_000)) - k2);
    const end = await waitFor(
      'the rollout to end',
      async () => {
        const r = await client.call('GetRollout', { id: started.id });
        return ['succeeded', 'failed', 'paused', 'rolled_back', 'aborted'].includes(r.state) ? r : undefined;
      },
      180_000,
    );
    if (end.state === 'succeeded') completed++;
    else o.log(`rollout ${end.id} ended ${end.state}: ${end.error || end.pause_reason}`);
    outMs.push(Date.now() - k2);

    // 3. one more rollout on what is left
    o.log(`[${tag}] rolling v2 -> v3 on the hosts left`);
    rollouts++;
    const again = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--batch', '1']);
    if (again.code === 0) completed++;
    else o.log(`rollout to v3 failed: ${again.stdout.slice(-400)}${again.stderr}`);
    await sleep(2000);
    const stats = await gen.stop();
    const still = (await traffic()).backends.filter((b) => b.agentId === fleet.agentId(3) || b.agentId === fleet.agentId(4));
    if (still.length) o.log(`dead hosts still in traffic: ${still.map((b) => b.addr).join(', ')}`);

    // requests in flight to a dead host at the instant it died, from nginx's log:
    // "$msec $request_time $status $upstream_addr $upstream_status $upstream_header_time"
    let inFlight = 0;
    for (const line of fs.readFileSync(accessLog, 'utf8').split('\n')) {
      const m = /^([\d.]+) ([\d.]+) (\d+) \S+ (.*)$/.exec(line.trim());
      if (!m) continue;
      const endMs = Number(m[1]) * 1000;
      const startMs = endMs - Number(m[2]) * 1000;
      // every upstream the request tried (a retry lists two)
      const ups = m[4].split(/[,\s]+/).filter((x) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(x));
      for (const k of kills) if (startMs <= k.at && endMs >= k.at && k.addrs.some((a) => ups.includes(a))) inFlight++;
      // every failed request, placed against the kills: what the figures do not say by themselves
      if (Number(m[3]) >= 500) o.log(`  failed at the edge: ${line.trim()}  (${kills.map((k) => `${Math.round(startMs - k.at)}ms after kill at ${k.addrs.join(',')}`).join('; ')})`);
    }
    return {
      scenario: 'host-loss',
      retry: o.retry,
      upstream_keepalive: o.upstreamKeepalive ?? 64,
      kills: kills.length,
      requests: stats.requests,
      failed: stats.failed,
      failed_in_flight: inFlight,
      ejected_ms_max: Math.max(...ejectedMs),
      out_of_traffic_ms_max: Math.max(...outMs),
      rollouts_completed: completed,
      rollouts,
      failures: stats.failures,
    };
  } finally {
    client.close();
    await fleet.stop();
    if (accessLog) fs.rmSync(path.dirname(accessLog), { recursive: true, force: true });
  }
}
