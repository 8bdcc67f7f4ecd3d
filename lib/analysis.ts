// Canary analysis from nginx's own counters. The balancer counts, per track and backend, requests,
// errors (5xx, including nginx's own 502/504 for upstream failures) and a latency histogram; the
// edge agent reads them (cumulative), subtracts a baseline to get a window, and turns the window into
// error rates and percentiles. The verdict compares the canary against the stable track. Pure.

/** Upper bounds of the latency buckets, in milliseconds; the last bucket is everything slower. */
export const BUCKETS_MS = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000] as const;
export const BUCKET_COUNT = BUCKETS_MS.length + 1;

export interface Counter {
  requests: number;
  errors: number;
  buckets: number[];
}

/** track → backend address → cumulative counter */
export type Counters = Record<string, Record<string, Counter>>;

export interface Figures {
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface Thresholds {
  /** the canary's error rate may not exceed this (0..1) */
  maxErrorRate: number;
  /** nor the stable's by more than this (0..1) */
  maxErrorRateDelta: number;
  /** the canary's p95 may not exceed the stable's times this */
  maxP95Ratio: number;
  /** fewer canary requests than this in the window means wait, not pass */
  minRequests: number;
}

export type Verdict =
  | { status: 'pass'; canary: Figures; stable?: Figures; reasons: string[] }
  | { status: 'fail'; canary: Figures; stable?: Figures; reasons: string[] }
  | { status: 'wait'; canary: Figures; stable?: Figures; reasons: string[] };

/** The admin endpoint's text: "TRACK ADDR requests errors b0 … bN" per line. */
export function parseMetricsText(text: string): Counters {
  const out: Counters = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !f[0]) continue;
    const nums = f.slice(2).map(Number);
    if (nums.some((n) => !Number.isFinite(n) || n < 0)) throw new Error(`bad metrics line: ${line}`);
    const buckets = nums.slice(2, 2 + BUCKET_COUNT);
    while (buckets.length < BUCKET_COUNT) buckets.push(0);
    (out[f[0]] ??= {})[f[1]] = { requests: nums[0], errors: nums[1], buckets };
  }
  return out;
}

/** now − base per counter; a counter that went backwards (nginx restarted) counts from zero. */
export function windowOf(now: Counters, base: Counters | undefined): Counters {
  const out: Counters = {};
  for (const [track, addrs] of Object.entries(now)) {
    for (const [addr, c] of Object.entries(addrs)) {
      const b = base?.[track]?.[addr];
      const reset = !b || c.requests < b.requests;
      (out[track] ??= {})[addr] = reset
        ? { requests: c.requests, errors: c.errors, buckets: [...c.buckets] }
        : { requests: c.requests - b.requests, errors: Math.max(0, c.errors - b.errors), buckets: c.buckets.map((v, i) => Math.max(0, v - (b.buckets[i] ?? 0))) };
    }
  }
  return out;
}

/** Sums counters of several edges (or several reads). */
export function addCounters(a: Counters, b: Counters): Counters {
  const out: Counters = JSON.parse(JSON.stringify(a));
  for (const [track, addrs] of Object.entries(b)) {
    for (const [addr, c] of Object.entries(addrs)) {
      const t = (out[track] ??= {});
      const x = t[addr];
      t[addr] = x ? { requests: x.requests + c.requests, errors: x.errors + c.errors, buckets: x.buckets.map((v, i) => v + (c.buckets[i] ?? 0)) } : { ...c, buckets: [...c.buckets] };
    }
  }
  return out;
}

function percentile(buckets: number[], total: number, q: number): number {
  if (!total) return 0;
  const rank = Math.ceil(total * q);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const before = seen;
    seen += buckets[i];
    if (seen >= rank) {
      // linear within the bucket
      const lo = i === 0 ? 0 : BUCKETS_MS[i - 1];
      const hi = i < BUCKETS_MS.length ? BUCKETS_MS[i] : BUCKETS_MS[BUCKETS_MS.length - 1] * 2;
      return Math.round((lo + ((hi - lo) * (rank - before)) / buckets[i]) * 10) / 10;
    }
  }
  return BUCKETS_MS[BUCKETS_MS.length - 1];
}

/** Figures of a track (optionally only some of its backends). */
export function figuresOf(c: Counters, track: string, addrs?: readonly string[]): Figures {
  const buckets = new Array<number>(BUCKET_COUNT).fill(0);
  let requests = 0;
  let errors = 0;
  for (const [addr, x] of Object.entries(c[track] ?? {})) {
    if (addrs && !addrs.includes(addr)) continue;
    requests += x.requests;
    errors += x.errors;
    x.buckets.forEach((v, i) => (buckets[i] += v));
  }
  return {
    requests,
    errors,
    errorRate: requests ? errors / requests : 0,
    p50Ms: percentile(buckets, requests, 0.5),
    p95Ms: percentile(buckets, requests, 0.95),
    p99Ms: percentile(buckets, requests, 0.99),
  };
}

/** differences below this are noise at bucket resolution, whatever the ratio */
const P95_SLACK_MS = 5;

const pct = (r: number) => `${(r * 100).toFixed(2)}%`;

/**
 * Canary against stable. Fail when a threshold is broken by a window with enough canary requests;
 * wait while there are too few; pass otherwise. `stable` may be absent (a blue/green bake with no
 * old-colour record): then only the absolute error rate is judged.
 */
export function judge(canary: Figures, stable: Figures | undefined, t: Thresholds): Verdict {
  if (canary.requests < t.minRequests) {
    return { status: 'wait', canary, stable, reasons: [`${canary.requests} of ${t.minRequests} requests needed to judge`] };
  }
  const reasons: string[] = [];
  if (canary.errorRate > t.maxErrorRate) reasons.push(`error rate ${pct(canary.errorRate)} > ${pct(t.maxErrorRate)} (${canary.errors}/${canary.requests})`);
  if (stable && stable.requests > 0) {
    if (canary.errorRate - stable.errorRate > t.maxErrorRateDelta) {
      reasons.push(`error rate ${pct(canary.errorRate)} exceeds stable's ${pct(stable.errorRate)} by more than ${pct(t.maxErrorRateDelta)}`);
    }
    if (stable.p95Ms > 0 && canary.p95Ms > stable.p95Ms * t.maxP95Ratio && canary.p95Ms - stable.p95Ms > P95_SLACK_MS) {
      reasons.push(`p95 ${canary.p95Ms}ms > ${t.maxP95Ratio}× stable's ${stable.p95Ms}ms`);
    }
  }
  return reasons.length ? { status: 'fail', canary, stable, reasons } : { status: 'pass', canary, stable, reasons: [] };
}

export function describeFigures(f: Figures): string {
  return `${f.requests} req, ${f.errors} err (${pct(f.errorRate)}), p50 ${f.p50Ms}ms p95 ${f.p95Ms}ms p99 ${f.p99Ms}ms`;
}
