// Test helpers: a real fleet per test (coordinator, agents, nginx, sample app), stopped in teardown
// whether the test passed or not. On failure the fleet's logs are kept and their path printed.
import type { ExecutionContext } from 'ava';
import { LocalFleet, type FleetOptions } from '../../testkit/local-fleet.js';
import { LoadGen } from '../../testkit/loadgen.js';
import { acquireFleetSlot } from '../../testkit/fleet-slots.js';
import { Client } from '../../cli/client.js';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from '../../lib/paths.js';
import { processStartTicks } from '../../lib/proc.js';

/**
 * A fleet for this test, started once a fleet slot is free (see testkit/fleet-slots.ts), stopped
 * and its slot given back in teardown.
 */
export async function fleetFor(t: ExecutionContext, o: Partial<FleetOptions> = {}): Promise<LocalFleet> {
  const release = await acquireFleetSlot(t.title);
  let fleet: LocalFleet;
  try {
    fleet = await LocalFleet.start({ agents: 3, logLevel: 'info', ...o });
  } catch (err) {
    release();
    throw err;
  }
  t.teardown(async () => {
    if (!t.passed) {
      // the fleet's directory goes with it: what explains the failure is printed instead
      for (const name of [...[...Array(fleet.o.coordinators ?? 1)].map((_, n) => fleet.coordinatorName(n + 1)), ...[...Array(fleet.o.agents)].map((_, i) => fleet.agentId(i + 1))]) {
        t.log(`--- ${name} (last lines) ---\n${fleet.log(name).trim().split('\n').slice(-15).join('\n')}`);
      }
    }
    try {
      await fleet.stop();
    } finally {
      release();
    }
  });
  return fleet;
}

/** Applies the fleet's spec for the sample app and deploys `version` to every host. */
export async function deploy(t: ExecutionContext, fleet: LocalFleet, version: string, spec: Record<string, unknown> = fleet.spec()): Promise<void> {
  const a = await fleet.apply(spec);
  t.is(a.code, 0, a.stderr);
  const r = await fleet.zddctl(['rollout', 'web', '--version', version, '--batch', '100%']);
  t.is(r.code, 0, `first deploy failed: ${r.stdout}\n${r.stderr}`);
}

export function load(fleet: LocalFleet, rps = 300, connections = 16): LoadGen {
  return new LoadGen({ host: '127.0.0.1', port: fleet.nginxPort, connections, rps, maxDurationMs: 90_000 }).start();
}

/** GET / through nginx (or a given port); resolves with status and the version header. */
export function get(port: number): Promise<{ status: number; version: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? '') }));
      })
      .on('error', () => resolve({ status: 0, version: '' }));
  });
}

/** Versions answering through nginx over n requests. */
export async function versionsServed(port: number, n = 30): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await get(port);
    seen.add(r.status === 200 ? r.version : `HTTP ${r.status}`);
  }
  return seen;
}

/** A rollout as the coordinator has it now, over gRPC from this process: fast enough to catch a step of a few seconds on a loaded machine. */
export async function rolloutNow(fleet: LocalFleet, id: string): Promise<any> {
  const c = fleet.client();
  try {
    return await c.call('GetRollout', { id });
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

export async function status(fleet: LocalFleet, id = ''): Promise<any> {
  const r = await fleet.zddctl(['status', ...(id ? [id] : []), '--json']);
  if (r.code !== 0) throw new Error(`zddctl status failed: ${r.stderr}`);
  return parseJson(r);
}

/** JSON from a zddctl run, or an error that shows what came back instead. */
export function parseJson(r: { code: number; stdout: string; stderr: string }): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`zddctl printed no JSON (exit ${r.code}, ${r.stdout.length} bytes): ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 300)}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Waits until a rollout is no longer running (the coordinator may be restarting meanwhile). */
export async function settled(fleet: LocalFleet, id: string, timeoutMs = 60_000): Promise<any> {
  return until(`rollout ${id} to end`, async () => {
    const r = await fleet.zddctl(['status', id, '--json']);
    if (r.code !== 0) return undefined;
    const s = parseJson(r);
    return s.state === 'running' ? undefined : s;
  }, timeoutMs);
}

/** A process is running unless it is gone or a zombie (an orphan's init may reap it late). */
export const running = (pid: number): boolean => processStartTicks(pid) !== undefined;

/** Runs zdd-coordinator with these arguments to its exit (for start-up refusals). */
export function runCoordinator(args: string[]) {
  return spawnSync(process.execPath, [path.join(ROOT, 'bin/zdd-coordinator.js'), ...args], { encoding: 'utf8', timeout: 15_000 });
}
