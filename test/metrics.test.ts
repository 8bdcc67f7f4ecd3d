// Prometheus metrics from a real coordinator over TLS, scraped during a canary through real nginx:
// both versions' counters side by side, the rollout's phase, agents, journal commits; the share
// each version took as measured, beside the configured one, in `zddctl status`; operators only.
import test from 'ava';
import { deploy, fleetFor, get, load, status, until } from './support/fleet.js';
import { LongLivedClients } from '../testkit/long-lived.js';
import { ROOT } from '../lib/paths.js';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

interface Series {
  labels: Record<string, string>;
  value: number;
}

/** The series of one metric in Prometheus' text format. */
function series(text: string, name: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? ([-+\d.e]+|NaN)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) labels[l[1]] = l[2];
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}
const total = (text: string, name: string, want: Record<string, string> = {}) =>
  series(text, name)
    .filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);

function getTrack(port: number, track: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { 'X-Zdd-Track': track }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', () => resolve(0));
  });
}

test('during a canary, /metrics has both versions\' requests, errors, latency, in-flight and long-lived gauges, the rollout\'s phase and the fleet; status shows the measured share; a client without an operator certificate is refused', async (t) => {
  const fleet = await fleetFor(t, { metrics: true });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const gen = load(fleet, 200, 8);
  const ws = new LongLivedClients({ port: fleet.nginxPort, ws: 6, messageEveryMs: 500 });
  t.teardown(() => ws.stop());
  await ws.start();
  const r = await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--strategy', 'canary', '--steps', '50,100', '--min-requests', '1']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  await until('canary at 50% with traffic', async () => {
    const s = await status(fleet, 'web-2');
    const a = s.analysis_json ? JSON.parse(s.analysis_json) : undefined;
    return s.waiting === 'promote' && /canary at 50%/.test(a?.detail ?? '') && a.measured && Object.values(a.measured as Record<string, number>).every((n) => n >= 50) ? s : undefined;
  }, 60_000);
  // a track that does not exist is ignored (served as usual) and counted
  t.is(await getTrack(fleet.nginxPort, 'no-such-track'), 200);

  const m = await fleet.scrape();
  t.is(m.status, 200, m.text);
  t.true(total(m.text, 'zdd_edge_requests_total', { service: 'web', version: 'v1', track: 'stable' }) > 0, 'the stable version\'s requests');
  t.true(total(m.text, 'zdd_edge_requests_total', { service: 'web', version: 'v2', track: 'canary' }) > 0, 'the canary\'s requests');
  t.is(series(m.text, 'zdd_edge_errors_total').length >= 2, true, 'errors are a series per version too');
  for (const v of ['v1', 'v2']) {
    const inf = series(m.text, 'zdd_edge_request_duration_seconds_bucket').filter((s) => s.labels.version === v && s.labels.le === '+Inf');
    t.true(inf.length > 0 && inf[0].value > 0, `a latency histogram for ${v}`);
  }
  t.is(total(m.text, 'zdd_edge_long_lived_open', { service: 'web' }), 6, 'the six WebSockets are open');
  t.deepEqual(series(m.text, 'zdd_edge_in_flight').map((s) => s.labels.version).sort(), ['v1', 'v2'], 'in flight per version (and track, and edge)');
  t.is(total(m.text, 'zdd_edge_unknown_track_total', { service: 'web' }), 1);
  t.is(total(m.text, 'zdd_rollouts', { state: 'running' }), 1);
  t.true(total(m.text, 'zdd_rollouts', { state: 'succeeded' }) >= 1);
  const phase = series(m.text, 'zdd_rollout_phase').find((s) => s.labels.rollout === 'web-2');
  t.truthy(phase, 'the running rollout\'s phase');
  t.true(phase!.value > 0, `the phase number: ${phase!.value}`);
  t.is(phase!.labels.strategy, 'canary');
  t.is(total(m.text, 'zdd_agents_connected'), 3);
  t.true(total(m.text, 'zdd_journal_commit_seconds_count') > 0, 'journal commits timed');
  t.true(total(m.text, 'zdd_step_duration_seconds_count', { kind: 'start' }) > 0, 'start steps timed');

  // every metric the Grafana dashboard in examples/ draws is one the coordinator serves
  const dashboard = fs.readFileSync(path.join(ROOT, 'examples/grafana/zdd-dashboard.json'), 'utf8');
  const drawn = [...new Set(dashboard.match(/zdd_[a-z_]+/g) ?? [])].filter((n) => n !== 'zdd_deploys');
  t.true(drawn.length >= 8, drawn.join(' '));
  for (const name of drawn) t.regex(m.text, new RegExp(`^${name}[{ ]`, 'm'), `the dashboard draws ${name}`);

  const st = await fleet.zddctl(['status', 'web-2']);
  t.regex(st.stdout, /serving\s+v1 50% \(stable\), v2 50% \(canary\)/);
  t.regex(st.stdout, /measured v1 \d+% \(stable\), v2 \d+% \(canary\) of [\d,]+ requests in this step/);

  // TLS with no client certificate: refused at the handshake
  await t.throwsAsync(fleet.scrape('none'));
  // what Prometheus would hold: a viewer's certificate, as PEM files from zddctl login --pem-dir
  const tok = JSON.parse((await fleet.zddctl(['operator', 'create', 'prometheus', '--role', 'viewer', '--json'])).stdout);
  const pemDir = path.join(fleet.dir, 'prometheus-pem');
  const login = await fleet.zddctl(['login', '--join', tok.token, '--ca-sha256', tok.ca_sha256, '--out', path.join(fleet.dir, 'prometheus.json'), '--pem-dir', pemDir]);
  t.is(login.code, 0, login.stdout + login.stderr);
  const pem = (f: string) => fs.readFileSync(path.join(pemDir, f), 'utf8');
  t.is(fs.statSync(path.join(pemDir, 'client.key')).mode & 0o777, 0o600);
  const viewer = await fleet.scrape({ caPem: pem('ca.crt'), certPem: pem('client.crt'), keyPem: pem('client.key') });
  t.is(viewer.status, 200, viewer.text);
  t.regex(viewer.text, /zdd_edge_requests_total\{service="web",version="v2",track="canary"/);
  t.is((await get(fleet.nginxPort)).status, 200);

  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  t.is((await fleet.zddctl(['promote', 'web-2'])).code, 0);
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
});
