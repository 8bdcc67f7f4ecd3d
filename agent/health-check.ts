// The HTTP health gate: an instance passes after `healthyThreshold` consecutive good answers and,
// if set, after staying healthy for `minHealthyMs`; it fails at the deadline with the last answer.
import http from 'node:http';
import type { CompiledSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw: "200 OK", "503: body…", "ECONNREFUSED". */
  detail: string;
}

/** One HTTP GET with a timeout. Never throws. */
export function probe(host: string, port: number, path: string, expectStatus: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, agent: false, headers: { 'user-agent': 'zdd-health' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 300) body += c;
      });
      res.on('end', () => {
        const ok = res.statusCode === expectStatus;
        resolve({ ok, detail: `${res.statusCode}${body ? `: ${body.trim().slice(0, 200)}` : ''}` });
      });
      res.on('error', (e) => resolve({ ok: false, detail: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, detail: e.code ?? e.message }));
  });
}

export interface GateOptions {
  host: string;
  port: number;
  health: CompiledSpec['health'];
  /** Returns a reason when the instance can no longer become healthy (its process exited). */
  isDead: () => string | undefined;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the time to healthy; rejects with HEALTH_CHECK_FAILED naming the last answer. */
export async function awaitHealthy(o: GateOptions): Promise<number> {
  const { health } = o;
  const started = Date.now();
  const deadline = started + health.deadlineMs;
  let streak = 0;
  let healthySince = 0;
  let last: ProbeResult = { ok: false, detail: 'not probed yet' };
  for (;;) {
    const dead = o.isDead();
    if (dead) {
      throw new ZddError('HEALTH_CHECK_FAILED', `instance exited before it became healthy: ${dead}; last health check: ${last.detail}`);
    }
    if (o.signal?.aborted) throw new ZddError('HEALTH_CHECK_FAILED', 'health check cancelled');
    last = await probe(o.host, o.port, health.path, health.expectStatus, health.timeoutMs);
    if (last.ok) {
      streak++;
      if (streak === 1) healthySince = Date.now();
      if (streak >= health.healthyThreshold && Date.now() - healthySince >= health.minHealthyMs) return Date.now() - started;
    } else {
      if (streak > 0) o.onProgress?.(`health check failed after ${streak} good answers: ${last.detail}`);
      streak = 0;
    }
    if (Date.now() >= deadline) {
      throw new ZddError(
        'HEALTH_CHECK_FAILED',
        `not healthy within ${health.deadlineMs}ms: GET ${health.path} on port ${o.port} last answered ${last.detail} (expected ${health.expectStatus})`,
      );
    }
    await sleep(Math.min(health.intervalMs, Math.max(0, deadline - Date.now())));
  }
}
