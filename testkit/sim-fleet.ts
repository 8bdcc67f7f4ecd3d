// The fleet simulator's handle: simulated agents (testkit/sim-agents.ts) run in child processes of
// their own, so that a benchmark or test measuring the coordinator does not share its process
// with ten thousand sessions. Every child is killed by pid when the fleet stops, or when this
// process exits.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Credentials } from '../cli/client.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sim-fleet-child.js');

/** A service for simulated hosts (labelled role=web) behind a simulated edge (role=edge): nothing runs it. */
export const SIM_SPEC = {
  name: 'app',
  command: 'sim',
  ports: { a: 8000, b: 8001 },
  health: { path: '/healthz' },
  stop: { drainTimeout: '5s' },
  hosts: { selector: { role: 'web' } },
  nginx: { listen: '127.0.0.1:18080' },
};

/** A group of simulated agents: ids PREFIX+first … PREFIX+(first+count-1). */
export interface SimSpec {
  prefix: string;
  first: number;
  count: number;
  edge?: boolean;
  labels: Record<string, string>;
  /** an instance each reports running from the start (as hosts that already serve a version) */
  instance?: { service: string; slot: string; version: string; port: number };
}

export type SimChildRequest = { id: number } & (
  | { op: 'start'; addr: string; admin: Credentials; spec: SimSpec }
  | { op: 'welcomed' | 'invalid' | 'sessions' | 'ends' | 'heartbeats' | 'stop' }
  | { op: 'starts'; rolloutId: string }
);
type Op = SimChildRequest extends infer R ? (R extends { op: infer O } ? O : never) : never;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

class SimChild {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  private constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: { id?: number; value?: unknown; error?: string }) => {
      const w = m.id !== undefined ? this.waiting.get(m.id) : undefined;
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error) w.reject(new Error(m.error));
      else w.resolve(m.value);
    });
    proc.on('exit', (code, sig) => {
      live.delete(proc);
      for (const w of this.waiting.values()) w.reject(new Error(`simulator process exited (${sig ?? code})`));
      this.waiting.clear();
    });
  }

  static async start(): Promise<SimChild> {
    // a large heap: ten thousand sessions with their TLS state
    const proc = fork(CHILD, [], { execArgv: ['--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    live.add(proc);
    await new Promise<void>((resolve, reject) => {
      proc.once('message', () => resolve());
      proc.once('exit', (code) => reject(new Error(`simulator process exited at start (${code})`)));
    });
    return new SimChild(proc);
  }

  ask<T>(op: Op, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.proc.send({ id, op, ...extra });
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Simulated agents of one coordinator, spread over child processes. */
export class SimFleet {
  private readonly children: SimChild[] = [];
  private total = 0;

  constructor(
    private readonly addr: string,
    private readonly admin: Credentials,
  ) {}

  /** Joins a group of simulated agents (as real agents join, over TLS) and starts their sessions, `perProcess` to a child. */
  async add(spec: SimSpec, perProcess = 5000): Promise<void> {
    const parts: SimSpec[] = [];
    for (let k = 0; k < spec.count; k += perProcess) parts.push({ ...spec, first: spec.first + k, count: Math.min(perProcess, spec.count - k) });
    await Promise.all(
      parts.map(async (p) => {
        const c = await SimChild.start();
        this.children.push(c);
        await c.ask('start', { addr: this.addr, admin: this.admin, spec: p });
      }),
    );
    this.total += spec.count;
  }

  get size(): number {
    return this.total;
  }

  async welcomed(): Promise<number> {
    return (await Promise.all(this.children.map((c) => c.ask<number>('welcomed')))).reduce((a, b) => a + b, 0);
  }

  /** Resolves when every simulated agent has a session (the coordinator welcomed it); the time it took. */
  async allWelcomed(timeoutMs: number, progress?: (n: number, ms: number) => void): Promise<number> {
    const began = Date.now();
    for (let last = began; ; ) {
      const n = await this.welcomed();
      if (progress && Date.now() - last >= 10_000) {
        last = Date.now();
        progress(n, last - began);
      }
      if (n === this.total) return Date.now() - began;
      if (Date.now() - began > timeoutMs) throw new Error(`${this.total - n} of ${this.total} simulated agents have no session after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** start_instance commands each host ran for a rollout (a command re-sent with its id is not run again). */
  async starts(rolloutId: string): Promise<Record<string, number>> {
    return Object.assign({}, ...(await Promise.all(this.children.map((c) => c.ask<Record<string, number>>('starts', { rolloutId })))));
  }

  /** Commands the agents' schemas refused: a coordinator that sends them is wrong. */
  async invalid(): Promise<string[]> {
    return (await Promise.all(this.children.map((c) => c.ask<string[]>('invalid')))).flat();
  }

  /** Sessions opened so far, over all agents (1 each, plus reconnects). */
  async sessions(): Promise<number> {
    return (await Promise.all(this.children.map((c) => c.ask<number>('sessions')))).reduce((a, b) => a + b, 0);
  }

  /** The shortest and the longest heartbeat interval the agents were told last. */
  async heartbeats(): Promise<[number, number]> {
    const r = await Promise.all(this.children.map((c) => c.ask<[number, number]>('heartbeats')));
    return [Math.min(...r.map((x) => x[0])), Math.max(...r.map((x) => x[1]))];
  }

  /** Why sessions ended, with how many, over all agents, most frequent first. */
  async ends(): Promise<[string, number][]> {
    const all: Record<string, number> = {};
    for (const r of await Promise.all(this.children.map((c) => c.ask<Record<string, number>>('ends')))) for (const [k, n] of Object.entries(r)) all[k] = (all[k] ?? 0) + n;
    return Object.entries(all).sort((a, b) => b[1] - a[1]);
  }

  /** Pids of the simulator's processes (to measure them apart from the coordinator). */
  pids(): number[] {
    return this.children.map((c) => c.proc.pid!);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (c) => {
        await Promise.race([c.ask('stop').catch(() => undefined), sleep(2000)]);
        const exited = new Promise((r) => c.proc.once('exit', r));
        c.proc.kill('SIGKILL');
        if (c.proc.exitCode === null && c.proc.signalCode === null) await exited;
      }),
    );
    this.children.length = 0;
  }
}
