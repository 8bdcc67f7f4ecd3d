// The long-lived benchmark: four hosts, thousands of WebSocket clients that send a message a second
// and reconnect when their connection ends (resending what was not echoed), beside the usual HTTP
// load, through several rolling rollouts one host at a time. What counts:
//   abnormal_closes        connections that ended other than with the app's close (1006, a reset)
//   refused_reconnects     reconnects answered with an HTTP error or refused
//   http_failed            HTTP requests of the load that failed
//   messages_lost          messages never echoed by the end
//   reconnect_peak_per_s   the most reconnects in one second: the closes are spread, not a stampede
// Targets: 0, 0, 0, 0, and reconnect_peak_per_s <= 2 x connections / longLivedGrace (in seconds).
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen } from '../testkit/loadgen.js';
import { LongLivedClients } from '../testkit/long-lived.js';

export interface LongLivedOptions {
  connections: number;
  rollouts: number;
  graceS: number;
  spreadS: number;
  rps: number;
  httpConnections: number;
  log: (s: string) => void;
}

export interface LongLivedResult {
  scenario: 'long-lived';
  connections: number;
  rollouts: number;
  completed: number;
  grace_s: number;
  spread_s: number;
  abnormal_closes: number;
  refused_reconnects: number;
  http_failed: number;
  http_requests: number;
  reconnects: number;
  reconnect_peak_per_s: number;
  /** the target: 2 x connections / grace */
  reconnect_peak_target: number;
  messages_sent: number;
  messages_lost: number;
  rollout_s_mean: number;
}

export async function longLived(o: LongLivedOptions): Promise<LongLivedResult> {
  const fleet = await LocalFleet.start({ agents: 4, logLevel: 'warn' });
  let clients: LongLivedClients | undefined;
  let gen: LoadGen | undefined;
  try {
    const versions = [...Array(o.rollouts + 1)].map((_, i) => `v${i + 1}`);
    for (const v of versions) fleet.writeRelease(v);
    const spec = fleet.spec({
      stop: { signal: 'SIGTERM', drainTimeout: `${o.spreadS + 30}s`, longLivedGrace: `${o.graceS}s`, spread: `${o.spreadS}s` },
      nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'connect', upstreamKeepaliveTimeout: '4s' },
    });
    if ((await fleet.apply(spec)).code !== 0) throw new Error('apply failed');
    const first = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%']);
    if (first.code !== 0) throw new Error(`initial deploy failed: ${first.stdout}${first.stderr}`);
    gen = new LoadGen({ host: '127.0.0.1', port: fleet.nginxPort, connections: o.httpConnections, rps: o.rps, maxDurationMs: 60 * 60_000 }).start();
    clients = new LongLivedClients({ port: fleet.nginxPort, ws: o.connections, messageEveryMs: 1000 });
    o.log(`connecting ${o.connections} WebSocket clients`);
    await clients.start(120_000);
    o.log(`connected: ${JSON.stringify(clients.versions())}`);
    let completed = 0;
    const took: number[] = [];
    for (const v of versions.slice(1)) {
      const began = Date.now();
      const r = await fleet.zddctl(['rollout', 'web', '--version', v, '--batch', '1']);
      took.push(Date.now() - began);
      if (r.code === 0) completed++;
      else o.log(`rollout to ${v} failed: ${r.stdout.slice(-600)}${r.stderr}`);
      await clients.allOn(v, 120_000).catch((err: Error) => o.log(err.message));
      o.log(`${v}: rollout ${((Date.now() - began) / 1000).toFixed(0)} s, clients ${JSON.stringify(clients.versions())}`);
    }
    const report = await clients.stop();
    clients = undefined;
    const stats = await gen.stop();
    gen = undefined;
    for (const a of report.abnormal.slice(0, 5)) o.log(`abnormal: ${JSON.stringify(a)}`);
    for (const r of report.refused.slice(0, 5)) o.log(`refused: ${r}`);
    return {
      scenario: 'long-lived',
      connections: o.connections,
      rollouts: o.rollouts,
      completed,
      grace_s: o.graceS,
      spread_s: o.spreadS,
      abnormal_closes: report.abnormal.length,
      refused_reconnects: report.refused.length,
      http_failed: stats.failed,
      http_requests: stats.requests,
      reconnects: report.ended.length,
      reconnect_peak_per_s: report.reconnectPeakPerSecond,
      reconnect_peak_target: Math.floor((2 * o.connections) / o.graceS),
      messages_sent: report.sent,
      messages_lost: report.lost,
      rollout_s_mean: Math.round(took.reduce((a, b) => a + b, 0) / Math.max(1, took.length) / 100) / 10,
    };
  } finally {
    await clients?.stop().catch(() => undefined);
    await gen?.stop().catch(() => undefined);
    await fleet.stop();
  }
}
