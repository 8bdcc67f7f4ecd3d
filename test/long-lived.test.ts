// WebSockets and server-sent events through a deploy: real nginx (both edge modes), real agents, a
// real coordinator, and real `ws` and HTTP clients that reconnect when their connection ends. No
// connection may end abnormally: each one ends with the app's own close, at least the spec's
// longLivedGrace after the switch that took its instance out of traffic, and comes back on the new
// version.
import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import { deploy, fleetFor, load, status } from './support/fleet.js';
import { LongLivedClients, type LongLivedReport } from '../testkit/long-lived.js';
import type { LocalFleet } from '../testkit/local-fleet.js';

const GRACE_MS = 2000;

function answer(port: number, headers: Record<string, string>): Promise<{ status: number; setCookie: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers, agent: false, timeout: 3000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: (res.headers['set-cookie'] ?? []).join(' | ') }));
      })
      .on('error', () => resolve({ status: 0, setCookie: '' }));
  });
}

function specFor(fleet: LocalFleet) {
  return fleet.spec({
    stop: { signal: 'SIGTERM', drainTimeout: '10s', longLivedGrace: `${GRACE_MS}ms`, spread: '1s' },
    nginx: { listen: `127.0.0.1:${fleet.nginxPort}`, retry: 'off', upstreamKeepaliveTimeout: '4s', preview: `127.0.0.1:${fleet.previewPort}` },
  });
}

/** The traffic changes of a rollout, as times. */
async function switches(fleet: LocalFleet, id: string): Promise<number[]> {
  const s = await status(fleet, id);
  return s.events.filter((e: any) => /^traffic generation/.test(e.message)).map((e: any) => Number(e.at_ms));
}

/**
 * Every connection that ended during the rollout ended with the app's close, at least the grace
 * after the traffic change before it (the one that took its instance out), and nothing was lost.
 */
function judge(t: ExecutionContext, r: LongLivedReport, changes: number[], what: string) {
  t.deepEqual(r.abnormal, [], `${what}: no connection ended abnormally`);
  t.deepEqual(r.refused, [], `${what}: no reconnect was refused`);
  t.is(r.lost, 0, `${what}: every message was echoed`);
  t.true(r.ended.length > 0, `${what}: connections were moved`);
  for (const e of r.ended) {
    const before = changes.filter((c) => c <= e.endedAt).pop();
    t.truthy(before, `${what}: a ${e.kind} connection on ${e.version} ended before any traffic change`);
    // the coordinator's clock and this process's are one machine's; 50 ms for the event's own write
    t.true(e.endedAt - before! >= GRACE_MS - 50, `${what}: a ${e.kind} connection on ${e.version} ended ${e.endedAt - before!} ms after the switch (grace ${GRACE_MS} ms)`);
  }
}

test('WebSockets and event streams through a rolling rollout, a canary and a blue/green: each ends with the app\'s close after the grace and comes back on the new version; no abnormal close, no lost message, 0 failed requests', async (t) => {
  const fleet = await fleetFor(t);
  for (const v of ['v1', 'v2', 'v3', 'v4']) fleet.writeRelease(v);
  const spec = specFor(fleet);
  await deploy(t, fleet, 'v1', spec);
  // an upgrade that is not a WebSocket (h2c from an HTTP client) is an ordinary request to the app
  const h2c = await answer(fleet.nginxPort, { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings', 'HTTP2-Settings': 'AAMAAABkAAQAoAAAAAIAAAAA' });
  t.is(h2c.status, 200);
  // a client without the key cookie gets one (HttpOnly, a year), beside the app's own headers
  t.regex(h2c.setCookie, /^zdd_key=[0-9a-f]{32}; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax$/);
  t.is((await answer(fleet.nginxPort, { Cookie: 'zdd_key=mine' })).setCookie, '', 'a client with one gets none');
  const gen = load(fleet, 150, 8);
  const clients = new LongLivedClients({ port: fleet.nginxPort, ws: 12, sse: 3, messageEveryMs: 250 });
  t.teardown(() => clients.stop());
  await clients.start();
  t.deepEqual(clients.versions(), { v1: 15 });

  // rolling, one host at a time
  const rolling = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '1']);
  t.is(rolling.code, 0, rolling.stdout + rolling.stderr);
  await clients.allOn('v2');
  const r1 = await status(fleet, 'web-2');
  t.true(r1.events.some((e: any) => /long-lived connection\(s\) open to .*: \d+ ended by their clients within 2\.0s, \d+ left for the app to close/.test(e.message)), 'the drain reports its long-lived connections');
  t.true(r1.events.some((e: any) => /stopped after \d+ms; \d+ connection\(s\) closed by the app, 0 cut/.test(e.message)), 'the stop reports connections closed by the app, none cut');

  // canary: the stable version's connections move when the canary is promoted to all
  const canary = await fleet.zddctl(['rollout', 'web', '--version', 'v3', '--strategy', 'canary', '--steps', '50,100', '--step-pause', '1s', '--min-requests', '5']);
  t.is(canary.code, 0, canary.stdout + canary.stderr);
  await clients.allOn('v3');

  // blue/green: the old colour's connections stay through the grace after the switch
  const bg = await fleet.zddctl(['rollout', 'web', '--version', 'v4', '--strategy', 'blue-green']);
  t.is(bg.code, 0, bg.stdout + bg.stderr);
  await clients.allOn('v4');

  const report = await clients.stop();
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  const changes = [...(await switches(fleet, 'web-2')), ...(await switches(fleet, 'web-3')), ...(await switches(fleet, 'web-4'))].sort((a, b) => a - b);
  judge(t, report, changes, 'dynamic edge');
  t.deepEqual(report.versions, { v4: 15 }, 'every client is back, on the new version');
  t.log(`${report.opened} connections opened, ${report.ended.length} closed by the app, ${report.sent} messages, reconnect peak ${report.reconnectPeakPerSecond}/s`);
});

test('reload mode (plain nginx): WebSockets and event streams through a rolling rollout end with the app\'s close after the grace, and come back on the new version', async (t) => {
  const fleet = await fleetFor(t, { edgeMode: 'reload' });
  for (const v of ['v1', 'v2']) fleet.writeRelease(v);
  await deploy(t, fleet, 'v1', specFor(fleet));
  const gen = load(fleet, 100, 8);
  const clients = new LongLivedClients({ port: fleet.nginxPort, ws: 9, sse: 3, messageEveryMs: 250 });
  t.teardown(() => clients.stop());
  await clients.start();
  const rolling = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--batch', '1']);
  t.is(rolling.code, 0, rolling.stdout + rolling.stderr);
  await clients.allOn('v2');
  const report = await clients.stop();
  const stats = await gen.stop();
  // a reload under keep-alive load can reset a short request (bench/RESULTS.md); not a long-lived one
  t.log(`reload mode: ${stats.requests} requests, failures ${JSON.stringify(stats.failures)}`);
  judge(t, report, await switches(fleet, 'web-2'), 'reload edge');
  t.deepEqual(report.versions, { v2: 12 });
});
