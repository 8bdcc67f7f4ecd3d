// The agent gateway: one bidirectional session per agent (the agent dials). Commands are written
// down the session with their id; results come back as messages and settle the caller's promise.
// A command whose agent drops is re-sent with the same id when the agent is back (the agent
// answers a repeated id from its record), and fails only after a grace period. Over TLS the
// agent is who its certificate names (coordinator/trust.ts), and a command's result counts only
// from the session the command was last sent down.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { ZddError, errorCode, errorMessage, type ErrorCode } from '../lib/errors.js';
import { trafficDiff, type TrafficDoc } from '../lib/traffic.js';
import { toServiceError } from '../lib/grpc.js';
import { checkHeartbeat, checkHello, checkNotice, MAX_RESULT_BYTES } from './agent-input.js';
import type { FleetTrust, Principal } from './trust.js';
import type { AgentMessage__Output } from '../proto/gen/zdd/v1/AgentMessage.js';
import type { CoordinatorMessage } from '../proto/gen/zdd/v1/CoordinatorMessage.js';
import type { Hello__Output } from '../proto/gen/zdd/v1/Hello.js';
import type { HostFacts__Output } from '../proto/gen/zdd/v1/HostFacts.js';
import type { Instance__Output } from '../proto/gen/zdd/v1/Instance.js';
import type { AgentRow, Store } from './store.js';
import type { FleetHost } from './planner.js';
import type { ArgsOf, CommandKind, ResultOf } from '../lib/commands.js';

type SessionCall = grpc.ServerDuplexStream<AgentMessage__Output, CoordinatorMessage>;

export interface AgentSession {
  hello: Hello__Output;
  facts: HostFacts__Output | null;
  instances: Instance__Output[];
  call: SessionCall;
  connectedAt: number;
  lastSeen: number;
  /** over TLS: the certificate the session was opened with */
  principal?: Principal;
  renewing?: boolean;
  /** edges: "SERVICE ADDR SINCE_MS" per backend nginx has ejected, from the latest heartbeat */
  ejected: string[];
  /** the heartbeat interval the agent was told last (at hello, or since as the fleet changed) */
  heartbeatMs: number;
  /** the longer interval it was told before, until its next message: it may still be waiting that long */
  heartbeatWasMs?: number;
}

interface Pending {
  agentId: string;
  kind: CommandKind;
  argsJson: string;
  /** everyone waiting for this command id (a repeated call attaches instead of sending again) */
  waiters: { resolve: (v: unknown) => void; reject: (e: Error) => void }[];
  onProgress?: (m: string) => void;
  /** the session the command was last written to: the only one whose result counts */
  sentOn?: SessionCall;
  deadline: NodeJS.Timeout;
  grace?: NodeJS.Timeout;
}

/** how much an agent's heartbeat interval stretches per connected agent */
const HEARTBEAT_MS_PER_AGENT = 5;

export interface CallOptions {
  timeoutMs: number;
  onProgress?: (message: string) => void;
}

/** The narrow interface the executor uses. */
export interface AgentPort {
  /** Sends a command (or attaches to the one pending under the same id) and resolves with its result. */
  call<K extends CommandKind>(agentId: string, kind: K, args: ArgsOf<K>, commandId: string, opts: CallOptions): Promise<ResultOf<K>>;
}

/** Whether a hello tells the journal nothing new about an agent (its last-seen time aside). */
function sameAgent(a: AgentRow | undefined, b: AgentRow): boolean {
  if (!a) return false;
  const la = Object.entries(a.labels);
  return (
    a.hostname === b.hostname &&
    a.advertise === b.advertise &&
    a.portOffset === b.portOffset &&
    a.edgeMode === b.edgeMode &&
    a.agentVersion === b.agentVersion &&
    la.length === Object.keys(b.labels).length &&
    la.every(([k, v]) => b.labels[k] === v)
  );
}

/** A session that has not said hello by then is closed: an open stream holds a slot and a certificate's standing. */
const HELLO_WITHIN_MS = 10_000;

export class AgentHub implements AgentPort {
  private readonly sessions = new Map<string, AgentSession>();
  private readonly pending = new Map<string, Pending>();
  /** per edge and service ("AGENT\0SERVICE"), the traffic document it applied last from this process */
  private readonly edgeDocs = new Map<string, TrafficDoc>();
  /** edges whose agent refused a difference as unknown arguments (older than differences), until they connect again */
  private readonly noDiffs = new Set<string>();
  /** every open stream by the principal of its certificate, hello or not: a revocation ends them all */
  private readonly streams = new Map<string, Set<SessionCall>>();
  /** when each agent's last session ended, in this coordinator's life */
  private readonly endedAt = new Map<string, number>();
  /** connected agents by the address they advertise: agents on one machine share one */
  private readonly byAddress = new Map<string, Set<string>>();
  /** when this coordinator started: an agent not back since is gone since then, at the latest */
  readonly startedMs = Date.now();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: {
      heartbeatMs: number;
      graceMs: number;
      coordinatorVersion: string;
      /** the leader's term with PostgreSQL (0 with SQLite): every welcome and command carries it */
      epoch?: number;
      /** whether this coordinator may still act (its lease runs): no command leaves it otherwise */
      leading?: () => boolean;
      /** with leaders: the lease, and the address standbys name this coordinator by (agents are told both) */
      leaseMs?: number;
      advertise?: string;
    },
    /** absent over plaintext: then an agent is whoever its hello says */
    private readonly trust?: FleetTrust,
  ) {
    this.silenceTimer = setInterval(() => {
      this.endSilent();
      this.retune();
    }, 5000);
    this.silenceTimer.unref();
  }

  private readonly silenceTimer: NodeJS.Timeout;

  /**
   * A session that has sent nothing for three heartbeats (and 5 s more) is over: its host or the
   * network in between is gone. The heartbeats an agent sends anyway tell this, so the coordinator
   * does not also ping every session (lib/grpc.ts: the server's keepalive is rare).
   */
  private endSilent(now = Date.now()) {
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen <= 3 * Math.max(s.heartbeatMs, s.heartbeatWasMs ?? 0) + 5000) continue;
      this.log.warn({ agentId: id, silentMs: now - s.lastSeen }, 'agent silent for three heartbeats; its session is over');
      this.unregister(id, s.call);
      s.call.emit('error', toServiceError(new ZddError('AGENT_UNAVAILABLE', `no heartbeat for ${now - s.lastSeen}ms`)));
    }
  }

  /**
   * Agents told an interval when the fleet was a quarter smaller or larger than now are told the
   * current one (a welcome again; 500 agents every 5 s, so a fleet that grew to ten thousand is
   * not retold all at once). Without it, agents that joined an empty coordinator first would keep
   * its shortest interval.
   */
  private retune() {
    const target = this.heartbeatMs();
    let told = 0;
    for (const s of this.sessions.values()) {
      if (told >= 500) break;
      if (Math.abs(s.heartbeatMs - target) <= target / 4) continue;
      // told a shorter one, the agent may still wait out the longer one first
      if (target < s.heartbeatMs) s.heartbeatWasMs = s.heartbeatMs;
      s.heartbeatMs = target;
      s.call.write(this.welcome(target));
      told++;
    }
  }

  /** With leaders (PostgreSQL) heartbeats are answered: an agent whose coordinator froze finds the leader. */
  private welcome(heartbeatMs: number) {
    const epoch = this.opts.epoch ?? 0;
    const leaders = epoch > 0 ? { lease_ms: this.opts.leaseMs ?? 0, advertise: this.opts.advertise ?? '' } : {};
    return { welcome: { coordinator_version: this.opts.coordinatorVersion, heartbeat_ms: heartbeatMs, epoch, acks_heartbeats: epoch > 0, ...leaders } };
  }

  /**
   * A command leaves only while this coordinator may act (its lease runs), with its epoch: one
   * that lost its lease sends nothing, and an agent that has seen a later leader refuses the rest.
   * Held back, a command waits as if unsent (its deadline, or the next session, decide).
   */
  private writeCommand(call: SessionCall, commandId: string, kind: string, argsJson: string) {
    if (this.opts.leading && !this.opts.leading()) {
      this.log.warn({ commandId }, 'not sent: this coordinator no longer holds the lease');
      return;
    }
    call.write({ command: { command_id: commandId, kind, args_json: argsJson, epoch: this.opts.epoch ?? 0 } });
  }

  /** Ends a session with a status the agent sees (INVALID_ARGUMENT, UNAUTHENTICATED, ...). */
  private refuse(call: SessionCall, err: unknown, agentId?: string) {
    this.log.warn({ agentId, err: errorMessage(err) }, 'agent session refused');
    call.emit('error', toServiceError(err));
  }

  /** Serves one AgentGateway.Session stream. */
  handle(call: SessionCall): void {
    let agentId: string | undefined;
    let principal: Principal | undefined;
    try {
      principal = this.trust?.authenticate(call);
      if (principal && principal.kind !== 'agent') throw new ZddError('PERMISSION_DENIED', `${principal.label} is an operator; only agents open sessions`);
    } catch (err) {
      this.refuse(call, err);
      return;
    }
    const key = principal?.label;
    if (key) {
      const set = this.streams.get(key) ?? new Set();
      set.add(call);
      this.streams.set(key, set);
    }
    const helloTimer = setTimeout(() => this.refuse(call, new ZddError('INVALID_ARGUMENT', `no hello within ${HELLO_WITHIN_MS / 1000}s`)), HELLO_WITHIN_MS);
    call.on('data', (m: AgentMessage__Output) => {
      try {
        // revoked since the stream opened: nothing more from it counts (after a renewal over the
        // session, the session's certificate is the renewed one)
        const current = (agentId && this.sessions.get(agentId)?.principal) || principal;
        if (current) this.trust!.recheck(current);
        if (!agentId) {
          if (!m.hello) throw new ZddError('INVALID_ARGUMENT', 'the first message of a session must be a hello');
          clearTimeout(helloTimer);
          agentId = this.register(call, m.hello, principal);
          return;
        }
        this.onMessage(agentId, call, m);
      } catch (err) {
        this.refuse(call, err, agentId);
      }
    });
    const closed = () => {
      clearTimeout(helloTimer);
      if (key) {
        const set = this.streams.get(key);
        set?.delete(call);
        if (!set?.size) this.streams.delete(key);
      }
      if (agentId) this.unregister(agentId, call);
    };
    call.on('end', () => {
      closed();
      call.end();
    });
    call.on('error', closed);
    call.on('cancelled', closed);
    call.on('close', closed);
  }

  private register(call: SessionCall, hello: Hello__Output, principal: Principal | undefined): string {
    checkHello(hello);
    const id = hello.agent_id;
    if (principal && principal.name !== id) {
      throw new ZddError('PERMISSION_DENIED', `this certificate is agent ${principal.name}'s; its hello names ${id}`, { hint: `start the agent with --id ${principal.name}, or join as ${id} with a token for it` });
    }
    this.refuseOverlap(hello);
    const previous = this.sessions.get(id);
    if (previous && previous.call !== call) {
      this.log.warn({ agentId: id }, 'agent reconnected; closing its previous session');
      previous.call.end();
    }
    const now = Date.now();
    const heartbeatMs = this.heartbeatMs();
    this.sessions.set(id, { hello, facts: hello.facts, instances: hello.instances, call, connectedAt: now, lastSeen: now, principal, ejected: [], heartbeatMs });
    this.endedAt.delete(id);
    this.abandoned.delete(id);
    this.noDiffs.delete(id);
    if (previous) this.byAddress.get(previous.hello.advertise || '127.0.0.1')?.delete(id);
    const addr = hello.advertise || '127.0.0.1';
    this.byAddress.set(addr, (this.byAddress.get(addr) ?? new Set()).add(id));
    const row = this.rowOf(id, this.sessions.get(id)!);
    // a hello costs a disk sync only when it changes what the journal knows of the agent: ten
    // thousand agents back after a coordinator restart write nothing (while connected, an agent
    // is seen now; its last-seen time is written when its session ends)
    if (!sameAgent(this.store.agent(id), row)) this.saveAgent(row);
    call.write(this.welcome(heartbeatMs));
    this.log.info({ agentId: id, edge: hello.edge?.mode || null, instances: hello.instances.length }, 'agent connected');
    for (const [cid, p] of this.pending) {
      if (p.agentId !== id) continue;
      clearTimeout(p.grace);
      p.grace = undefined;
      p.sentOn = call;
      this.writeCommand(call, cid, p.kind, p.argsJson);
    }
    return id;
  }

  /** Closes every stream of an agent at once, with or without a hello (its certificate was revoked); true if it was connected. */
  disconnect(id: string, reason: string): boolean {
    const s = this.sessions.get(id);
    if (s) this.unregister(id, s.call);
    const calls = new Set([...(this.streams.get(`agent/${id}`) ?? []), ...(s ? [s.call] : [])]);
    for (const call of calls) call.emit('error', toServiceError(new ZddError('UNAUTHENTICATED', reason)));
    return !!s;
  }

  /**
   * Two agents that advertise one address must not share a port: the second would find the
   * first's instance on its port. Refused at hello, naming both, with every applied service's
   * ports in view.
   */
  private refuseOverlap(hello: Hello__Output) {
    const addr = hello.advertise || '127.0.0.1';
    let ports: number[] | undefined;
    const loopback = /^127\.|^::1$/.test(addr);
    for (const other of this.byAddress.get(addr) ?? []) {
      const s = this.sessions.get(other);
      if (other === hello.agent_id || !s) continue;
      // a loopback address is each machine's own: agents on two machines that left --advertise
      // at its default share nothing
      const [h1, h2] = [hello.facts?.hostname, s.facts?.hostname];
      if (loopback && h1 && h2 && h1 !== h2) continue;
      ports ??= this.store.listServices().flatMap((r) => {
        const p = (JSON.parse(r.specJson) as { ports: { a: number; b: number } }).ports;
        return [p.a, p.b];
      });
      const mine = new Set(ports.map((p) => p + hello.port_offset));
      const clash = hello.port_offset === s.hello.port_offset ? 'the same port offset' : ports.map((p) => p + s.hello.port_offset).find((p) => mine.has(p));
      if (clash !== undefined) {
        throw new ZddError(
          'PORT_IN_USE',
          `agents ${hello.agent_id} and ${other} both advertise ${addr} and their ports overlap (${typeof clash === 'number' ? `both would use port ${clash}` : clash}; port offsets ${hello.port_offset} and ${s.hello.port_offset})`,
          { hint: `give ${hello.agent_id} a --port-offset whose ports no other agent on ${addr} uses (or another --advertise address)` },
        );
      }
    }
  }

  /** When the agent's session ended (0 while connected); an agent not seen since this coordinator started counts from its start. */
  goneSince(id: string, lastSeenMs: number): number {
    if (this.sessions.has(id)) return 0;
    return this.endedAt.get(id) ?? Math.max(lastSeenMs, this.startedMs);
  }

  /** hosts gone past the host grace: a command to one fails at once, until its next hello */
  private readonly abandoned = new Map<string, string>();

  /** The host is gone for good (past the host grace): its pending commands end now, as HOST_GONE, and so do new ones. */
  abandon(id: string, reason: string): number {
    // once per absence: its pending commands ended then, and new ones fail at once since
    if (this.sessions.has(id) || this.abandoned.has(id)) return 0;
    this.abandoned.set(id, reason);
    let n = 0;
    for (const [cid, p] of this.pending) {
      if (p.agentId !== id || this.sessions.has(id)) continue;
      this.settle(cid, new ZddError('HOST_GONE', reason));
      n++;
    }
    return n;
  }

  private unregister(id: string, call: SessionCall) {
    const s = this.sessions.get(id);
    if (!s || s.call !== call) return;
    this.sessions.delete(id);
    this.endedAt.set(id, Date.now());
    this.byAddress.get(s.hello.advertise || '127.0.0.1')?.delete(id);
    this.seenLast({ ...this.rowOf(id, s), lastSeenMs: Date.now() });
    this.log.warn({ agentId: id }, 'agent disconnected');
    for (const [cid, p] of this.pending) {
      if (p.agentId !== id || p.grace) continue;
      p.grace = setTimeout(() => {
        this.settle(cid, new ZddError('AGENT_UNAVAILABLE', `agent ${id} disconnected during ${p.kind} and did not return within ${this.opts.graceMs}ms`));
      }, this.opts.graceMs);
    }
  }

  /** agents whose session ended, written together once a second: a thousand sessions ending at once cost one sync */
  private readonly lastSeen = new Map<string, Parameters<Store['upsertAgent']>[0]>();
  private lastSeenTimer: NodeJS.Timeout | undefined;

  private seenLast(row: Parameters<Store['upsertAgent']>[0]) {
    this.lastSeen.set(row.id, row);
    this.lastSeenTimer ??= setTimeout(() => this.writeLastSeen(), 1000);
  }

  /**
   * A removed host's record must stay removed: a session that ended within the last second still
   * has its last-seen row waiting to be written, and writing it would bring the host back.
   */
  forget(id: string) {
    this.lastSeen.delete(id);
  }

  private writeLastSeen() {
    clearTimeout(this.lastSeenTimer);
    this.lastSeenTimer = undefined;
    const rows = [...this.lastSeen.values()];
    this.lastSeen.clear();
    try {
      this.store.batch(() => rows.forEach((r) => this.store.upsertAgent(r)));
    } catch (err) {
      this.log.warn({ agents: rows.length, err: (err as Error).message }, 'agent records not saved');
    }
  }

  /** An agent stays usable when its row cannot be written (a full disk pauses rollouts, not sessions). */
  private saveAgent(row: Parameters<Store['upsertAgent']>[0]) {
    try {
      this.store.upsertAgent(row);
    } catch (err) {
      this.log.warn({ agentId: row.id, err: (err as Error).message }, 'agent record not saved');
    }
  }

  private rowOf(id: string, s: AgentSession) {
    return {
      id,
      hostname: s.facts?.hostname ?? '',
      labels: s.hello.labels,
      advertise: s.hello.advertise || '127.0.0.1',
      portOffset: s.hello.port_offset,
      edgeMode: s.hello.edge?.mode ?? '',
      agentVersion: s.hello.agent_version,
      lastSeenMs: s.lastSeen,
    };
  }

  private onMessage(id: string, call: SessionCall, m: AgentMessage__Output) {
    const s = this.sessions.get(id);
    if (!s || s.call !== call) return;
    s.lastSeen = Date.now();
    s.heartbeatWasMs = undefined;
    if (m.heartbeat) {
      checkHeartbeat(m.heartbeat);
      s.facts = m.heartbeat.facts ?? s.facts;
      s.instances = m.heartbeat.instances;
      s.ejected = m.heartbeat.ejected;
      if (this.opts.epoch) call.write({ heartbeat_ack: {} });
    } else if (m.notice) {
      const n = checkNotice(m.notice);
      // what the agent did on its own (a restart): an event of the fleet's log
      try {
        this.store.addEvent({ rolloutId: '', atMs: Date.now(), level: n.level as 'info' | 'warn' | 'error', agentId: id, message: n.message, kind: 'instance' });
      } catch (err) {
        this.log.warn({ agentId: id, err: errorMessage(err) }, 'notice not journalled');
      }
      this.log[n.level === 'error' ? 'error' : n.level === 'warn' ? 'warn' : 'info']({ agentId: id, service: n.service, slot: n.slot }, n.message);
    } else if (m.progress) {
      const p = this.pending.get(m.progress.command_id);
      if (p?.sentOn === call) p.onProgress?.(m.progress.message.slice(0, 4096));
    } else if (m.result) {
      const r = m.result;
      const p = this.pending.get(r.command_id);
      // a result for a command this session was not given (another agent's, or one sent down a
      // newer session since) settles nothing
      if (!p || p.sentOn !== call) {
        if (p) this.log.warn({ agentId: id, commandId: r.command_id.slice(0, 200) }, 'result from a session the command was not sent to; ignored');
        return;
      }
      if (r.result_json.length + r.error_message.length > MAX_RESULT_BYTES) {
        this.settle(r.command_id, new ZddError('INVALID_ARGUMENT', `agent ${id} answered ${p.kind} with more than 1 MB`));
        return;
      }
      if (r.ok) {
        let value: unknown = {};
        try {
          value = r.result_json ? JSON.parse(r.result_json) : {};
        } catch {
          value = {};
        }
        this.settle(r.command_id, undefined, value);
      } else {
        this.settle(r.command_id, new ZddError((r.error_code || 'INTERNAL') as ErrorCode, r.error_message || 'command failed'));
      }
    } else if (m.renew) {
      this.renew(s, m.renew.csr_pem);
    } else if (m.hello) {
      throw new ZddError('INVALID_ARGUMENT', 'hello sent twice in one session');
    }
  }

  /** A new certificate for the session's own identity; one request at a time. */
  private renew(s: AgentSession, csrPem: string) {
    if (!this.trust || !s.principal) throw new ZddError('INVALID_ARGUMENT', 'this coordinator serves plaintext: there is no certificate to renew');
    if (s.renewing) return;
    s.renewing = true;
    this.trust
      .renew(s.principal, csrPem)
      .then((c) => {
        s.principal = { ...s.principal!, fingerprint: c.fingerprint, notAfterMs: c.notAfterMs };
        s.call.write({ certificate: { cert_pem: c.certPem, not_after_ms: c.notAfterMs } });
      })
      .catch((err) => this.log.warn({ agentId: s.principal?.name, err: errorMessage(err) }, 'certificate renewal refused'))
      .finally(() => (s.renewing = false));
  }

  private settle(commandId: string, err: Error | undefined, value?: unknown) {
    const p = this.pending.get(commandId);
    if (!p) return;
    this.pending.delete(commandId);
    clearTimeout(p.deadline);
    clearTimeout(p.grace);
    for (const w of p.waiters) (err ? w.reject(err) : w.resolve(value));
  }

  call<K extends CommandKind>(agentId: string, kind: K, args: ArgsOf<K>, commandId: string, opts: CallOptions): Promise<ResultOf<K>> {
    if (kind === 'apply_traffic') return this.applyTraffic(agentId, args as TrafficDoc, commandId, opts) as Promise<ResultOf<K>>;
    // the agent validated the arguments and answers with the kind's result (lib/commands.ts)
    return this.send(agentId, kind, args, commandId, opts) as Promise<ResultOf<K>>;
  }

  /**
   * A traffic change to an edge: as a difference from the document the edge applied last through
   * this process, or whole when there is none (or the edge holds another: an agent restarted, a
   * coordinator restarted). At 10,000 backends a one-host change is a few hundred bytes for the
   * edge to check and apply, not a megabyte.
   */
  private async applyTraffic(agentId: string, doc: TrafficDoc, commandId: string, opts: CallOptions): Promise<ResultOf<'apply_traffic'>> {
    const key = `${agentId}\0${doc.service}`;
    const base = this.noDiffs.has(agentId) ? undefined : this.edgeDocs.get(key);
    this.edgeDocs.delete(key);
    const whole = () => this.send(agentId, 'apply_traffic', doc, `${commandId}/whole`, opts) as Promise<ResultOf<'apply_traffic'>>;
    let r: ResultOf<'apply_traffic'>;
    try {
      r = (await this.send(agentId, 'apply_traffic', base && base.generation < doc.generation ? trafficDiff(base, doc) : doc, commandId, opts)) as ResultOf<'apply_traffic'>;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'INVALID_ARGUMENT' && base) {
        // an agent older than differences refuses them as arguments it does not know: whole
        // documents to it until it connects again (perhaps upgraded)
        this.noDiffs.add(agentId);
        r = await whole();
      } else if (code === 'TRAFFIC_BASE') {
        // the edge holds another generation (its agent restarted), or a restarted coordinator
        // sent an id again that was refused as a difference
        r = await whole();
      } else throw err;
    }
    this.edgeDocs.set(key, doc);
    return r;
  }

  private send(agentId: string, kind: CommandKind, args: unknown, commandId: string, opts: CallOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const gone = this.abandoned.get(agentId);
      if (gone && !this.sessions.has(agentId)) return reject(new ZddError('HOST_GONE', gone));
      const existing = this.pending.get(commandId);
      if (existing) {
        if (existing.agentId !== agentId) {
          return reject(new ZddError('INTERNAL', `command id ${commandId} is already pending on agent ${existing.agentId}`));
        }
        existing.waiters.push({ resolve, reject });
        return;
      }
      const argsJson = JSON.stringify(args);
      const p: Pending = {
        agentId,
        kind,
        argsJson,
        waiters: [{ resolve, reject }],
        onProgress: opts.onProgress,
        deadline: setTimeout(
          () => this.settle(commandId, new ZddError('AGENT_UNAVAILABLE', `agent ${agentId} did not finish ${kind} within ${opts.timeoutMs}ms`)),
          opts.timeoutMs,
        ),
      };
      this.pending.set(commandId, p);
      const s = this.sessions.get(agentId);
      if (s) {
        p.sentOn = s.call;
        this.writeCommand(s.call, commandId, kind, argsJson);
      }
      else
        p.grace = setTimeout(
          () => this.settle(commandId, new ZddError('AGENT_UNAVAILABLE', `agent ${agentId} is not connected`)),
          this.opts.graceMs,
        );
    });
  }

  /**
   * The heartbeat interval an agent is told at hello (and again as the fleet grows or shrinks):
   * the configured one, stretched so that the whole fleet sends at most about 200 heartbeats a
   * second (10,000 agents: every 50 s; Nomad's servers allow 50 a second by default). Over TLS each
   * heartbeat costs the coordinator about 0.3 ms. A changed instance is reported at once anyway
   * (the agent's early heartbeat), and an edge stops sending requests to a dead backend at its
   * first refused connection, long before its host's silence ends its session.
   */
  heartbeatMs(): number {
    return Math.max(this.opts.heartbeatMs, HEARTBEAT_MS_PER_AGENT * this.sessions.size);
  }

  connectedCount(): number {
    return this.sessions.size;
  }

  /** Edge agents connected now. */
  connectedEdges(): string[] {
    return [...this.sessions].filter(([, s]) => s.hello.edge?.mode).map(([id]) => id);
  }

  session(id: string): AgentSession | undefined {
    return this.sessions.get(id);
  }

  /** Every known agent, connected or not, as the planner sees it. */
  fleet(): FleetHost[] {
    return this.store.listAgents().map((a) => {
      const s = this.sessions.get(a.id);
      return {
        agentId: a.id,
        labels: s?.hello.labels ?? a.labels,
        advertise: s?.hello.advertise || a.advertise,
        portOffset: s?.hello.port_offset ?? a.portOffset,
        connected: !!s,
        edge: !!(s?.hello.edge?.mode ?? a.edgeMode),
        ...(a.cordonedMs ? { cordoned: true } : {}),
        ...(s?.hello.releases_roots.length ? { releasesRoots: s.hello.releases_roots } : {}),
        ...(s?.facts ? { loadPct: s.facts.load_pct, cores: s.facts.cores } : {}),
      };
    });
  }

  close(): void {
    clearInterval(this.silenceTimer);
    this.writeLastSeen();
    for (const s of this.sessions.values()) s.call.end();
    for (const [cid] of this.pending) this.settle(cid, new ZddError('AGENT_UNAVAILABLE', 'coordinator shutting down'));
  }
}
