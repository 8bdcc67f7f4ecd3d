// Pure parts of traffic and analysis: document operations, shares, counters, windows, verdicts.
import test from 'ava';
import { BUCKET_COUNT, addCounters, figuresOf, judge, parseMetricsText, windowOf, type Counters } from '../lib/analysis.js';
import { applyOps, checkServable, newestVersion, trafficText, versionShares, type TrafficDoc } from '../lib/traffic.js';

const doc: TrafficDoc = {
  service: 'web',
  generation: 4,
  backends: [
    { addr: '10.0.0.1:8001', track: 'stable', weight: 1, agentId: 'h1', slot: 'a', version: 'v1' },
    { addr: '10.0.0.2:8001', track: 'stable', weight: 1, agentId: 'h2', slot: 'a', version: 'v1' },
  ],
};
const canaryB = { addr: '10.0.0.1:8002', track: 'canary', weight: 1, agentId: 'h1', slot: 'b', version: 'v2' };

test('traffic operations add, route, retrack and drop tracks, as a new generation, without touching the previous document', (t) => {
  const c = applyOps(doc, 'web', [{ op: 'add', backends: [canaryB] }, { op: 'route', split: { track: 'canary', percent: 25 } }], 5);
  t.is(c.generation, 5);
  t.deepEqual(c.split, { track: 'canary', percent: 25 });
  t.is(c.backends.length, 3);
  t.is(doc.backends.length, 2);
  t.is(trafficText(c), 'generation 5\nprimary stable\nsplit canary 25\nbackend canary 10.0.0.1:8002 1 v2\nbackend stable 10.0.0.1:8001 1 v1\nbackend stable 10.0.0.2:8001 1 v1\n');
  // long-lived connections prefer the version that gained backends in the last change
  t.is(trafficText(c, 'v2').split('\n')[3], 'newest v2');
  t.is(newestVersion(doc, c), 'v2');
  t.is(newestVersion(c, c, 'v1'), 'v1', 'nothing gained: the preference stays');
  t.is(newestVersion(c, doc, 'v2'), undefined, 'the canary left: v2 takes no traffic, and one version is left to prefer nothing over');
  const promoted = applyOps(c, 'web', [{ op: 'drop', track: 'stable' }, { op: 'retrack', from: 'canary', to: 'stable' }, { op: 'route', split: null }], 6);
  t.deepEqual(promoted.backends.map((b) => `${b.track}:${b.addr}`), ['stable:10.0.0.1:8002']);
  t.is(promoted.split, undefined);
  // an unhealthy host's backend is left out
  t.is(applyOps(doc, 'web', [{ op: 'add', backends: [canaryB] }], 5, new Set(['h1'])).backends.length, 2);
  // a preview equal to the primary track is no preview
  t.is(applyOps(doc, 'web', [{ op: 'route', preview: 'stable' }], 5).preview, undefined);
});

test('a document whose primary track has no backend is refused', (t) => {
  t.notThrows(() => checkServable(doc));
  const bad = applyOps(doc, 'web', [{ op: 'route', primary: 'blue' }], 5);
  t.throws(() => checkServable(bad), { message: /primary track "blue" without a backend/ });
});

test('version shares: by backends within the primary track, by the split for a canary', (t) => {
  t.deepEqual(versionShares(doc), [{ version: 'v1', track: 'stable', percent: 100 }]);
  const half = { ...doc, backends: [doc.backends[0], { ...doc.backends[1], version: 'v2' }] };
  t.deepEqual(versionShares(half).map((s) => [s.version, s.percent]), [['v1', 50], ['v2', 50]]);
  const c = applyOps(doc, 'web', [{ op: 'add', backends: [canaryB] }, { op: 'route', split: { track: 'canary', percent: 10 } }], 5);
  t.deepEqual(versionShares(c).map((s) => [s.version, s.track, s.percent]), [['v1', 'stable', 90], ['v2', 'canary', 10]]);
});

const counter = (requests: number, errors: number, fastShare = 1): { requests: number; errors: number; buckets: number[] } => {
  const buckets = new Array(BUCKET_COUNT).fill(0);
  buckets[1] = Math.round(requests * fastShare); // ≤ 2 ms
  buckets[9] = requests - buckets[1]; // ≤ 150 ms
  return { requests, errors, buckets };
};

test('metrics text parses into per-track, per-backend counters; windows subtract a baseline and survive an nginx restart', (t) => {
  const text = `stable 10.0.0.1:8001 100 1 ${counter(100, 1).buckets.join(' ')}\ncanary 10.0.0.1:8002 10 0 ${counter(10, 0).buckets.join(' ')}\n`;
  const c = parseMetricsText(text);
  t.is(c.stable['10.0.0.1:8001'].requests, 100);
  t.is(c.canary['10.0.0.1:8002'].buckets.length, BUCKET_COUNT);
  t.throws(() => parseMetricsText('stable a -1 0'));
  const later: Counters = { stable: { '10.0.0.1:8001': counter(150, 3) }, canary: { '10.0.0.1:8002': counter(40, 2) } };
  const w = windowOf(later, c);
  t.is(w.stable['10.0.0.1:8001'].requests, 50);
  t.is(w.stable['10.0.0.1:8001'].errors, 2);
  t.is(w.canary['10.0.0.1:8002'].requests, 30);
  // counters that went backwards (nginx restarted) count from zero
  t.is(windowOf({ stable: { '10.0.0.1:8001': counter(7, 0) } }, c).stable['10.0.0.1:8001'].requests, 7);
  t.is(figuresOf(addCounters(w, w), 'canary').requests, 60);
});

test('figures: error rate and percentiles from the histogram', (t) => {
  const f = figuresOf({ canary: { a: counter(100, 5, 0.9) } }, 'canary');
  t.is(f.errorRate, 0.05);
  t.true(f.p50Ms > 1 && f.p50Ms <= 2, String(f.p50Ms));
  t.true(f.p95Ms > 100 && f.p95Ms <= 150, String(f.p95Ms));
  t.deepEqual(figuresOf({}, 'canary'), { requests: 0, errors: 0, errorRate: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0 });
});

test('verdicts: too few requests wait; an error rate or latency beyond the thresholds fails; otherwise pass', (t) => {
  const th = { maxErrorRate: 0.05, maxErrorRateDelta: 0.02, maxP95Ratio: 2, minRequests: 50 };
  const fig = (requests: number, errors: number, fast = 1) => figuresOf({ x: { a: counter(requests, errors, fast) } }, 'x');
  t.is(judge(fig(49, 49), fig(1000, 0), th).status, 'wait', 'no data means wait, not fail or pass');
  t.is(judge(fig(100, 1), fig(1000, 0), th).status, 'pass');
  const high = judge(fig(100, 10), fig(1000, 0), th);
  t.is(high.status, 'fail');
  t.regex(high.reasons[0], /error rate 10\.00% > 5\.00% \(10\/100\)/);
  t.regex(judge(fig(100, 4), fig(1000, 10), th).reasons.join(), /exceeds stable's 1\.00% by more than 2\.00%/);
  t.regex(judge(fig(100, 0, 0.5), fig(1000, 0), th).reasons.join(), /p95 .* > 2× stable's/);
  t.is(judge(fig(100, 0), undefined, th).status, 'pass', 'with nothing to compare, only the absolute error rate counts');
});
