// The fleet simulator: agents that speak the real agent protocol over real gRPC sessions with their
// own certificates (hello, heartbeats, acknowledgements, results, reconnects with the agent's own
// jittered backoff) and answer every command at once, with none of the agent's work behind them.
// Every command is validated against the agent's own schemas (lib/commands.ts) and run once per
// command id, as the real agent does: a repeated id is answered from the record. Benchmarks and
// size tests measure the coordinator's own cost with it; `executed` says what each host really did.
import * as grpc from '@grpc/grpc-js';
import type { LocalFleet } from './local-fleet.js';
import { CLIENT_OPTIONS, fleetClientCredentials, plaintextClientCredentials, protos } from '../lib/grpc.js';
import { createCsr } from '../lib/pki.js';
import { CommandArgs, type CommandKind } from '../lib/commands.js';
import { reconnectDelay } from '../lib/backoff.js';
import { applyDiff, isTrafficDiff, type TrafficDoc } from '../lib/traffic.js';
import { pooled } from '../coordinator/run-context.js';
import type { Client } from '../cli/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A distinct loopback address per simulated agent (127.0.0.0/8). */
export const simAddress = (i: number) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

interface SimInstance {
  service: string;
  slot: string;
  version: string;
  port: number;
  pid: number;
  state: string;
  started_at_ms: number;
  log_file: string;
  restarts: number;
}

interface Command {
  command_id: string;
  kind: string;
  args_json: string;
}

export interface SimOptions {
  /** what a real host would report besides: labels, instances */
  labels?: Record<string, string>;
  instances?: unknown[];
  /** an edge agent (dynamic mode) */
  edge?: boolean;
  /** answer commands (default); a hello-only agent leaves every command pending */
  answer?: boolean;
}

/** One simulated agent. */
export class SimAgent {
  welcomed = false;
  /** the heartbeat interval the coordinator told it last */
  heartbeatMs = 0;
  /** sessions opened (1 + reconnects) */
  sessions = 0;
  /** why sessions ended, with how many: "after welcome: …" or "before welcome: …" */
  readonly ends = new Map<string, number>();
  private stopped = false;
  private readonly client: grpc.Client & { Session: () => grpc.ClientDuplexStream<unknown, { welcome?: { heartbeat_ms: number }; command?: Command }> };
  /** answers by command id: a repeated id is answered from here, never run twice */
  private readonly record = new Map<string, { ok: boolean; code: string; message: string; json: string }>();
  private readonly instances = new Map<string, SimInstance>();
  /** commands run (not replayed), in order: "KIND COMMAND_ID" */
  readonly executed: string[] = [];
  /** commands refused by the agent's schemas */
  readonly invalid: string[] = [];
  /** an edge's live traffic generation per service */
  private readonly generations: Record<string, number> = {};
  /** an edge's traffic document per service: the base of the next difference */
  private readonly docs = new Map<string, TrafficDoc>();

  constructor(
    addr: string,
    readonly id: string,
    creds: grpc.ChannelCredentials,
    private readonly advertise = '127.0.0.1',
    private readonly o: SimOptions = {},
  ) {
    const { AgentGateway } = protos().agent.zdd.v1;
    // a pool of its own, as a real agent (one channel per process) has: thousands of channels in
    // one process would otherwise search grpc-js's shared pool at every connection
    this.client = new AgentGateway(addr, creds, { ...CLIENT_OPTIONS, 'grpc.use_local_subchannel_pool': 1 }) as never;
    for (const i of (o.instances ?? []) as SimInstance[]) this.instances.set(`${i.service}/${i.slot}`, i);
  }

  async run() {
    for (let attempt = 0; !this.stopped; attempt++) {
      await new Promise<void>((resolve) => {
        const s = this.client.Session();
        this.sessions++;
        let heartbeat: NodeJS.Timeout | undefined;
        const end = (e?: grpc.ServiceError) => {
          const why = `${this.welcomed ? 'after' : 'before'} welcome: ${e ? (e.details || e.message).replace(/\d+(\.\d+)?/g, 'N').slice(0, 80) : 'ended by the coordinator'}`;
          this.ends.set(why, (this.ends.get(why) ?? 0) + 1);
          this.welcomed = false;
          clearInterval(heartbeat);
          s.removeAllListeners();
          s.on('error', () => undefined);
          s.cancel();
          resolve();
        };
        s.on('data', (m) => {
          if (m.welcome) {
            this.welcomed = true;
            attempt = 0;
            // a welcome again on the same session: a new interval
            clearInterval(heartbeat);
            this.heartbeatMs = m.welcome.heartbeat_ms || 5000;
            heartbeat = setInterval(() => s.write({ heartbeat: { facts: null, instances: this.list(), ejected: [] } }), this.heartbeatMs);
          } else if (m.command && this.o.answer !== false) this.answer(s, m.command);
        });
        s.on('error', end);
        s.on('end', () => end());
        s.write({
          hello: {
            agent_id: this.id,
            agent_version: 'sim',
            labels: this.o.labels ?? { role: 'sim' },
            advertise: this.advertise,
            port_offset: 0,
            facts: null,
            instances: this.list(),
            edge: this.o.edge ? { mode: 'dynamic', listen_host: '127.0.0.1' } : null,
            releases_roots: [],
          },
        });
      });
      if (this.stopped) return;
      await sleep(reconnectDelay(attempt));
    }
  }

  private list(): SimInstance[] {
    return [...this.instances.values()];
  }

  private answer(s: grpc.ClientDuplexStream<unknown, unknown>, c: Command) {
    const known = this.record.get(c.command_id);
    s.write({ accepted: { command_id: c.command_id, replayed: !!known } });
    const r = known ?? this.run1(c);
    if (!known) this.record.set(c.command_id, r);
    s.write({ result: { command_id: c.command_id, ok: r.ok, error_code: r.code, error_message: r.message, result_json: r.json } });
  }

  /** Runs a command once: validated as the agent validates it, answered as the agent would. */
  private run1(c: Command): { ok: boolean; code: string; message: string; json: string } {
    const schema = CommandArgs[c.kind as CommandKind];
    const parsed = schema ? schema.safeParse(JSON.parse(c.args_json)) : undefined;
    if (!parsed?.success) {
      this.invalid.push(`${c.kind} ${c.command_id}: ${parsed ? parsed.error.message : 'unknown kind'}`);
      return { ok: false, code: 'INVALID_ARGUMENT', message: `${c.kind}: arguments refused by the agent's schema`, json: '' };
    }
    this.executed.push(`${c.kind} ${c.command_id}`);
    const a = parsed.data as any;
    const ok = (v: unknown) => ({ ok: true, code: '', message: '', json: JSON.stringify(v) });
    switch (c.kind as CommandKind) {
      case 'start_instance': {
        const port = a.spec.ports[a.slot] as number;
        this.instances.set(`${a.spec.name}/${a.slot}`, { service: a.spec.name, slot: a.slot, version: a.version, port, pid: 1, state: 'healthy', started_at_ms: Date.now(), log_file: '', restarts: 0 });
        return ok({ slot: a.slot, port, pid: 1, version: a.version, healthyAfterMs: 0 });
      }
      case 'stop_instance': {
        const had = this.instances.delete(`${a.service}/${a.slot}`);
        return ok({ forced: false, stoppedAfterMs: 0, alreadyStopped: !had });
      }
      case 'configure_edge':
        return ok({ mode: 'dynamic', changed: false, reloadMs: 0 });
      case 'apply_traffic': {
        // a difference is rebuilt against the document held, as the agent does (TRAFFIC_BASE when it holds another)
        let doc: TrafficDoc;
        try {
          doc = isTrafficDiff(a) ? applyDiff(this.docs.get(a.service), a) : a;
        } catch (err) {
          return { ok: false, code: 'TRAFFIC_BASE', message: (err as Error).message, json: '' };
        }
        this.docs.set(a.service, doc);
        this.generations[a.service] = a.generation;
        return ok({ mode: 'dynamic', generation: a.generation, switchMs: 0, noop: false });
      }
      case 'await_idle':
        return ok({ idle: true, waitedMs: 0, inflight: 0 });
      case 'stage_release':
        return ok({ dir: `/sim/${a.service}/${a.version}`, bytes: 0, reused: true, ms: 0, pruned: [], output: '' });
      case 'run_hook':
        return ok({ ms: 0, output: '' });
      case 'verify':
        return ok({ passed: [], output: '' });
      case 'analyze':
        return ok({ counters: {}, window: {}, figures: {} });
      case 'inspect':
        return ok({ instances: this.list(), liveGenerations: this.generations });
      default:
        return ok({});
    }
  }

  /** start_instance commands run for a rollout (a re-sent command id is not run again). */
  starts(rolloutId: string): number {
    return this.executed.filter((e) => e.startsWith('start_instance ') && e.includes(`:${rolloutId}/`)).length;
  }

  stop() {
    this.stopped = true;
    this.client.close();
  }
}

/** Join credentials for simulated agent `name`: a token, a key of its own, a CSR, as a real agent joins. */
export async function joinSim(admin: Client, coordinatorAddr: string, caPem: string, name: string): Promise<grpc.ChannelCredentials> {
  const tok = await admin.call('CreateJoinToken', { kind: 'agent', name, role: '', ttl_ms: 3_600_000 });
  const { keyPem, csrPem } = await createCsr({ kind: 'agent', name });
  const { Enrollment } = protos().agent.zdd.v1;
  const e = new Enrollment(coordinatorAddr, fleetClientCredentials({ caPem }), CLIENT_OPTIONS);
  try {
    const cert = await new Promise<string>((resolve, reject) =>
      e.Enroll({ token: tok.token, csr_pem: csrPem }, (err: grpc.ServiceError | null, r?: { cert_pem: string }) => (err ? reject(err) : resolve(r!.cert_pem))),
    );
    return fleetClientCredentials({ caPem, keyPem, certPem: cert });
  } finally {
    e.close();
  }
}

/** Runs fn over 0..n-1, `width` at a time (the executor's pool). */
export const inParallel = <T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> => pooled([...Array(n).keys()], width, fn);

/**
 * Credentials for n simulated agents "sim-0" … : each joins as a real one does (16 at a time), or
 * plaintext ones for a plaintext fleet.
 */
export async function joinSims(fleet: LocalFleet, n: number, plaintext = false): Promise<grpc.ChannelCredentials[]> {
  if (plaintext) return [...Array(n)].map(() => plaintextClientCredentials());
  const c = fleet.client();
  try {
    const caPem = (fleet.credentials() as { caPem: string }).caPem;
    return await inParallel(n, 16, (i) => joinSim(c, fleet.coordinatorAddr, caPem, `sim-${i}`));
  } finally {
    c.close();
  }
}
