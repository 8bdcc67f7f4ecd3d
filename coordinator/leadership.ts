// Coordinators sharing one PostgreSQL (--store postgres://…): one leads, the others wait as
// standbys, and PostgreSQL decides which (the lease row of pg-store.ts). A standby listens and
// answers every call UNAVAILABLE with the leader's address (agents and zddctl follow it); it polls
// for the lease and, once it holds it, runs the same coordinator a restart runs (server.ts serve),
// which resumes interrupted rollouts from the journal. A leader acts only while its lease runs by
// its own clock: a renewal that fails for the lease's length less a margin ends its term at once
// (nothing more is sent), and any write after another took the lease is refused by the database.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { SERVER_OPTIONS, plaintextServerCredentials, protos, toServiceError } from '../lib/grpc.js';
import type { Logger } from '../lib/log.js';
import { DEFAULT_LEASE_MS } from '../lib/backoff.js';
import { LEASE_SETTINGS, Leadership, PostgresStore, journalSettings, openPg } from './pg-store.js';
import { advertised, holderOf, listen, serve, splitListen, stopServer, type Coordinator, type CoordinatorConfig, type Term } from './server.js';
import { FleetTrust } from './trust.js';
import { JournalUnavailable } from './run-context.js';

/**
 * A leader's lease by default (--lease): a standby takes over this long after the leader last
 * renewed (at once when its process dies). The leader renews it every fifth of it, and stops
 * acting when 30 % of it is left by its own clock.
 */
/** a standby asks for the lease this often */
const POLL_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One term of leadership: renews the lease, and ends when it cannot (or another took it). */
class LeaderTerm implements Term {
  private validUntil: number;
  private over = false;
  private failures = 0;
  private readonly timers: NodeJS.Timeout[];
  readonly ended: Promise<string>;
  private end!: (why: string) => void;

  private readonly margin: number;
  /** the lease connection's count when the lease was taken (SyncPg.connectionCount) */
  private readonly session: number;

  constructor(
    private readonly leadership: Leadership,
    readonly epoch: number,
    askedAt: number,
    /** the lease */
    readonly ttlMs: number,
    private readonly log: Logger,
  ) {
    this.margin = Math.round(ttlMs * 0.3);
    this.validUntil = askedAt + ttlMs - this.margin;
    this.session = leadership.pg.connectionCount();
    this.ended = new Promise((r) => (this.end = r));
    this.timers = [setInterval(() => this.renew(), ttlMs / 5), setInterval(() => this.leading(), 200)];
  }

  /** Whether this coordinator may still act: its lease runs by its own clock. Checked before every command. */
  readonly leading = (): boolean => {
    if (this.over) return false;
    // the session the lease names is gone: a standby may lead already (it takes a lease whose session is gone)
    if (this.leadership.pg.connectionCount() !== this.session) {
      this.lose("the leader's database session was lost");
      return false;
    }
    if (performance.now() < this.validUntil) return true;
    this.lose(this.failures ? `the lease could not be renewed for ${this.ttlMs - this.margin}ms (PostgreSQL unreachable)` : 'the lease ran out (this process was stopped or starved)');
    return false;
  };

  private renew() {
    if (this.over) return;
    const askedAt = performance.now();
    let held: boolean;
    try {
      held = this.leadership.renew(this.epoch, this.ttlMs);
    } catch (err) {
      if (!this.failures++) this.log.warn({ err: errorMessage(err) }, 'lease not renewed');
      return;
    }
    if (!held) return this.lose('another coordinator took the lease');
    // the lease runs from when the renewal was asked for, at the earliest
    this.validUntil = askedAt + this.ttlMs - this.margin;
    if (this.failures) this.log.info({ failures: this.failures }, 'lease renewed again');
    this.failures = 0;
  }

  /** the term gave itself up (the lease is still its own): it resigns, so that a leader (perhaps this process again) need not wait it out */
  handsOver = false;

  /** Ends the term: nothing more is sent; the coordinator stops and waits as a standby. */
  lose(why: string, handOver = false) {
    if (this.over) return;
    this.over = true;
    this.handsOver = handOver;
    for (const t of this.timers) clearInterval(t);
    if (why !== 'stopping') this.log.error({ epoch: this.epoch, why }, 'leadership lost: this coordinator stops acting and waits as a standby');
    this.end(why);
  }
}

/** A standby's server: every call is answered UNAVAILABLE (NOT_LEADER) with the leader's address in zdd-leader. */
async function startStandby(cfg: CoordinatorConfig, leadership: Leadership, creds: grpc.ServerCredentials): Promise<{ port: number; close(): Promise<void> }> {
  const self = advertised(cfg);
  let cache = { at: 0, leader: undefined as string | undefined, why: '' };
  const leader = () => {
    if (Date.now() - cache.at > 500) {
      let addr: string | undefined;
      let why = 'none leads right now (a standby takes over within seconds of a leader\'s end)';
      try {
        const l = leadership.leader();
        addr = l.live && l.holder?.listen !== self ? l.holder?.listen : undefined;
      } catch (err) {
        why = `it cannot learn the leader: ${errorMessage(err)}`;
      }
      cache = { at: Date.now(), leader: addr, why };
    }
    return cache;
  };
  const refusal = () => {
    const { leader: addr, why } = leader();
    const err = toServiceError(
      new ZddError('NOT_LEADER', addr ? `${self} is a standby coordinator; the leader is ${addr}` : `${self} is a standby coordinator, and ${why}`, {
        hint: addr ? `zddctl follows it when --coordinator lists it (or: --coordinator ${addr})` : 'try again in a few seconds; if it lasts, check the coordinators and PostgreSQL',
      }),
    );
    if (addr) err.metadata!.set('zdd-leader', addr);
    return err;
  };
  const server = new grpc.Server(SERVER_OPTIONS);
  const { agent, control } = protos();
  for (const def of [agent.zdd.v1.AgentGateway.service, agent.zdd.v1.Enrollment.service, control.zdd.v1.Control.service] as grpc.ServiceDefinition[]) {
    const handlers: Record<string, unknown> = {};
    for (const [name, m] of Object.entries(def)) {
      handlers[name] = m.responseStream || m.requestStream ? (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', refusal()) : (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(refusal());
    }
    server.addService(def, handlers as grpc.UntypedServiceImplementation);
  }
  const { port, listener } = await listen(server, creds, cfg);
  return {
    port,
    async close() {
      listener.close();
      await stopServer(server);
    },
  };
}

/**
 * The fleet CA this coordinator serves with must be the one of the others on this database (the
 * first one records it): agents and operators pin it. Checked before a new CA would be made.
 */
function checkFleetCa(cfg: CoordinatorConfig, leadership: Leadership): (sha256: string) => void {
  const recorded = () => leadership.pg.query("SELECT value FROM meta WHERE key = 'ca_sha256'").rows[0]?.value as string | undefined;
  const before = recorded();
  if (before && !fs.existsSync(path.join(cfg.pkiDir, 'ca.crt'))) {
    throw new ZddError('INVALID_ARGUMENT', `${cfg.pkiDir} has no fleet CA, and the coordinators of this database use one (sha256 ${before}); nothing was changed`, {
      hint: `copy ca.key and ca.crt (mode 0600) from another coordinator's --pki-dir into ${cfg.pkiDir}, then start this one again`,
    });
  }
  return (sha256) => {
    leadership.pg.query("INSERT INTO meta (key, value) VALUES ('ca_sha256', $1) ON CONFLICT (key) DO NOTHING", [sha256]);
    const now = recorded();
    if (now !== sha256) {
      throw new ZddError('INVALID_ARGUMENT', `this coordinator's fleet CA (${cfg.pkiDir}/ca.crt, sha256 ${sha256}) is not the one of the other coordinators of this database (sha256 ${now}); nothing was changed`, {
        hint: `copy ca.key and ca.crt (mode 0600) from another coordinator's --pki-dir into ${cfg.pkiDir}`,
      });
    }
  };
}

/** Starts as a standby, leads when the lease is free, and goes back to waiting when a term ends. */
export async function startWithLeaders(first: CoordinatorConfig): Promise<Coordinator> {
  const log = first.log;
  const leaseMs = first.leaseMs ?? DEFAULT_LEASE_MS;
  const leadership = new Leadership(openPg(first.store!, { timeoutMs: 3000, settings: LEASE_SETTINGS }));
  let stopping = false;
  let term: LeaderTerm | undefined;
  let standby: { port: number; close(): Promise<void> } | undefined;
  let caSha256: string | undefined;
  let creds: grpc.ServerCredentials;
  try {
    if (first.plaintext) creds = plaintextServerCredentials(first.listen, first.insecure);
    else {
      const check = checkFleetCa(first, leadership);
      // a standby's own certificate, from the fleet CA (the leader's term opens it again)
      const trust = await FleetTrust.open(
        { dir: first.pkiDir, listen: first.listen, sans: first.tlsSans, agentCertTtlMs: first.agentCertTtlMs, operatorCertTtlMs: first.operatorCertTtlMs },
        new PostgresStore(leadership.pg, 0),
        log.child({ part: 'trust' }),
      );
      check(trust.caSha256);
      caSha256 = trust.caSha256;
      creds = trust.credentials();
    }
    standby = await startStandby(first, leadership, creds);
  } catch (err) {
    leadership.pg.close();
    throw err;
  }
  // later listens take the port the first got (a --listen with port 0 keeps it)
  const cfg = { ...first, listen: `${splitListen(first.listen).host}:${standby.port}` };
  const holder = holderOf(cfg);
  log.info({ listen: cfg.listen, advertise: holder.listen }, 'coordinator started as a standby; waiting for the lease');
  const loop = (async () => {
    while (!stopping) {
      const askedAt = performance.now();
      let epoch = 0;
      try {
        epoch = leadership.lead(holder, leaseMs);
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'cannot ask PostgreSQL for the lease');
      }
      if (!epoch) {
        await sleep(POLL_MS);
        continue;
      }
      const t = (term = new LeaderTerm(leadership, epoch, askedAt, leaseMs, log));
      log.info({ epoch }, 'leading');
      // the store's reads and writes can fail now (SQLite's did not): one that escapes ends the
      // term, and the next one starts from the journal, as after a restart
      const escaped = (err: unknown) => {
        if ((err instanceof ZddError && (err.code === 'DB_ERROR' || err.code === 'DB_HELD')) || err instanceof JournalUnavailable) {
          log.error({ err: errorMessage(err) }, 'the journal failed outside a rollout step; starting this term again from the journal');
          t.lose(`the journal failed: ${errorMessage(err)}`, true);
        } else {
          log.fatal({ err: errorMessage(err), stack: (err as Error)?.stack }, 'uncaught error');
          process.exit(1);
        }
      };
      process.on('uncaughtException', escaped);
      process.on('unhandledRejection', escaped);
      let served: Coordinator | undefined;
      let store: PostgresStore | undefined;
      try {
        await standby?.close();
        standby = undefined;
        // its connection lost (a COMMIT's outcome unknown, PostgreSQL restarted): the term ends, and
        // the next one (perhaps this process's again) starts from the journal
        const journal = openPg(cfg.store!, { settings: journalSettings(leaseMs), onLost: (why) => t.lose(`the journal's connection was lost: ${why}`, true) });
        store = new PostgresStore(journal, epoch, (now) => t.lose(now === epoch ? 'the lease ran out' : `another coordinator leads (epoch ${now})`));
        served = await serve(cfg, store, t);
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'could not start leading');
        t.lose('could not start');
      }
      const why = await t.ended;
      await served?.shutdown().catch((err) => log.warn({ err: errorMessage(err) }, 'stopping the term'));
      store?.close();
      process.off('uncaughtException', escaped);
      process.off('unhandledRejection', escaped);
      if (why === 'stopping' || t.handsOver) {
        try {
          // a clean stop hands over at once
          leadership.resign(epoch);
        } catch {
          /* the standby waits out the lease */
        }
        if (why === 'stopping') break;
      }
      while (!stopping && !standby) {
        try {
          standby = await startStandby(cfg, leadership, creds);
        } catch (err) {
          log.error({ err: errorMessage(err) }, 'cannot listen as a standby; trying again');
          await sleep(1000);
        }
      }
      await sleep(POLL_MS);
    }
  })();
  return {
    port: standby.port,
    caSha256,
    async shutdown() {
      stopping = true;
      term?.lose('stopping');
      await loop;
      await standby?.close();
      leadership.pg.close();
    },
  };
}
