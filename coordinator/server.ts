// Wires the coordinator together: store, agent gateway, executor and control API on one gRPC server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { ZddError } from '../lib/errors.js';
import { SERVER_OPTIONS, isLoopback, plaintextServerCredentials, protos, toServiceError } from '../lib/grpc.js';
import { errorMessage } from '../lib/errors.js';
import { FleetTrust } from './trust.js';
import { SqliteStore, type Holder, type Store } from './store.js';
import { redactUrl } from './pg-sync.js';
import { startWithLeaders } from './leadership.js';
import fs from 'node:fs';
import net from 'node:net';
import { AgentHub } from './agent-hub.js';
import { Executor, systemClock } from './executor.js';
import { Control } from './control.js';
import { Membership } from './membership.js';
import { KeyedLock } from '../lib/keyed-lock.js';
import { processStartTicks } from '../lib/proc.js';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { CoordinatorMetrics, metricsAddress } from './metrics.js';

export const COORDINATOR_VERSION = '0.1.0';

export interface CoordinatorConfig {
  listen: string;
  /** the address agents and operators reach it at, when not the listen address (told by standbys) */
  advertise?: string;
  db: string;
  /** postgres://…: the journal on PostgreSQL, with leaders and standbys (coordinator/leadership.ts); db is unused then */
  store?: string;
  /** with store: the leader's lease (5 s by default) */
  leaseMs?: number;
  /** serve plaintext gRPC instead of mutual TLS (loopback, or with insecure) */
  plaintext: boolean;
  insecure: boolean;
  /** the fleet CA and the coordinator's certificates */
  pkiDir: string;
  /** names and addresses clients dial besides the listen address */
  tlsSans: string[];
  agentCertTtlMs: number;
  operatorCertTtlMs: number;
  heartbeatMs: number;
  agentGraceMs: number;
  /** how long an agent may be gone before its host leaves the pool */
  hostGraceMs: number;
  /** how long a resumed rollout waits for its agents to reconnect before going on without them */
  resumeWaitMs: number;
  /** where Prometheus scrapes /metrics (coordinator/metrics.ts); off when absent */
  metricsListen?: string;
  log: Logger;
}

export interface Coordinator {
  port: number;
  /** over TLS: the fleet CA's sha256 and the local admin's zddctl config */
  caSha256?: string;
  adminConfig?: string;
  shutdown(): Promise<void>;
}

export async function startCoordinator(cfg: CoordinatorConfig): Promise<Coordinator> {
  if (cfg.store) return startWithLeaders(cfg);
  if (cfg.plaintext) plaintextServerCredentials(cfg.listen, cfg.insecure); // refuses a plaintext non-loopback listen without --insecure
  // one coordinator per database: a second one refuses to start and names the first
  const holder = holderOf(cfg);
  // the database's directory is made here, as the agent makes its state directory
  fs.mkdirSync(path.dirname(path.resolve(cfg.db)), { recursive: true, mode: 0o700 });
  // on this host (same name, same boot) the process table says whether the holder runs; elsewhere, or when it cannot tell, the lease's freshness
  const alive = (h: Holder) => (h.hostname === holder.hostname && h.bootId && h.bootId === holder.bootId && h.startTicks ? processStartTicks(h.pid) === h.startTicks : undefined);
  const store = new SqliteStore(cfg.db, { beforeMigrate: (s) => s.acquire(holder, Date.now(), LEASE_TTL_MS, alive) });
  let served: Coordinator;
  try {
    served = await serve(cfg, store);
  } catch (err) {
    store.close();
    throw err;
  }
  const lease = setInterval(() => {
    let held = false;
    try {
      held = store.renew(holder.token, Date.now());
    } catch (err) {
      cfg.log.warn({ err: errorMessage(err) }, 'lease not renewed');
      return;
    }
    if (!held) {
      // another coordinator took the database (this one was stopped too long): stop at once
      cfg.log.fatal({ db: cfg.db }, 'another coordinator holds the database now; exiting');
      process.exit(3);
    }
  }, LEASE_TTL_MS / 5);
  lease.unref();
  return {
    ...served,
    async shutdown() {
      clearInterval(lease);
      await served.shutdown();
      try {
        store.release(holder.token);
      } catch {
        /* the next coordinator waits out the lease */
      }
      store.close();
    },
  };
}

/** This process as the holder of a database or of the leader's lease. */
export function holderOf(cfg: CoordinatorConfig): Holder {
  const now = Date.now();
  return { token: crypto.randomUUID(), pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0, hostname: os.hostname(), bootId: bootId(), listen: advertised(cfg), startedMs: now, renewedMs: now };
}

/** The address clients reach this coordinator at: --advertise, else the listen address (this host's name for a wildcard). */
export function advertised(cfg: Pick<CoordinatorConfig, 'listen' | 'advertise'>): string {
  if (cfg.advertise) return cfg.advertise;
  const { host, port } = splitListen(cfg.listen);
  return host === '0.0.0.0' || host === '::' ? `${os.hostname()}:${port}` : cfg.listen;
}

/** What a leader's term gives the coordinator it runs: its epoch, and whether it may still act. */
export interface Term {
  epoch: number;
  /** the lease, which agents are told */
  ttlMs: number;
  leading(): boolean;
}

/**
 * The coordinator itself over a store: agent gateway, executor, control API and membership on one
 * gRPC server; rollouts interrupted before it started resume. With a term (PostgreSQL), every
 * command carries its epoch and none leaves once its lease has run out.
 */
export async function serve(cfg: CoordinatorConfig, store: Store, term?: Term): Promise<Coordinator> {
  let trust: FleetTrust | undefined;
  if (!cfg.plaintext) {
    trust = await FleetTrust.open(
      { dir: cfg.pkiDir, listen: cfg.listen, sans: cfg.tlsSans, agentCertTtlMs: cfg.agentCertTtlMs, operatorCertTtlMs: cfg.operatorCertTtlMs },
      store,
      cfg.log.child({ part: 'trust' }),
    );
  }
  const creds = trust ? trust.credentials() : plaintextServerCredentials(cfg.listen, cfg.insecure);
  // plaintext metrics, like the plaintext control API, stay on loopback unless told otherwise
  const metricsAt = cfg.metricsListen ? metricsAddress(cfg.metricsListen) : undefined;
  if (metricsAt && !trust && !cfg.insecure && !isLoopback(`${metricsAt.host}:${metricsAt.port}`)) {
    throw new ZddError('INVALID_ARGUMENT', `a plaintext coordinator serves metrics on loopback only, not ${cfg.metricsListen}`, { hint: 'serve TLS (drop --plaintext), or give a loopback address, or --insecure' });
  }
  if (!trust) {
    cfg.log.warn(
      { listen: cfg.listen },
      'PLAINTEXT: no TLS and no authentication; anyone who can reach this address can run commands on every host. Use only on loopback or a network you fully control.',
    );
  }
  const hub = new AgentHub(
    store,
    cfg.log.child({ part: 'gateway' }),
    { heartbeatMs: cfg.heartbeatMs, graceMs: cfg.agentGraceMs, coordinatorVersion: COORDINATOR_VERSION, epoch: term?.epoch, leading: term?.leading, leaseMs: term?.ttlMs, advertise: advertised(cfg) },
    trust,
  );
  let control: Control | undefined;
  const trafficLock = new KeyedLock();
  const metrics = cfg.metricsListen ? new CoordinatorMetrics(store, hub, cfg.log.child({ part: 'metrics' })) : undefined;
  const membership = new Membership(store, hub, trafficLock, cfg.log.child({ part: 'membership' }), { hostGraceMs: cfg.hostGraceMs }, (service) => {
    const r = store.activeRollout(service);
    return !!r && (r.state === 'running' || r.state === 'paused');
  });
  const executor = new Executor(store, hub, systemClock, cfg.log.child({ part: 'executor' }), (id, seq) => control?.changes.emit('change', id, seq), {
    onPausedInMemory: (id, reason) => control?.pausedInMemory.set(id, reason),
    pauseRequested: (id) => control?.pausedInMemory.has(id) ?? false,
    hostOut: (id) => membership.whyOut(id),
    trafficLock,
    observe: metrics,
  });
  control = new Control(store, hub, executor, cfg.log.child({ part: 'control' }), trust, membership);

  const server = new grpc.Server(SERVER_OPTIONS);
  const { agent, control: ctl } = protos();
  server.addService(agent.zdd.v1.AgentGateway.service, { Session: (call: any) => hub.handle(call) });
  server.addService(ctl.zdd.v1.Control.service, control.handlers());
  if (trust) {
    const t = trust;
    server.addService(agent.zdd.v1.Enrollment.service, {
      Enroll: (call: any, cb: any) => {
        const { token, csr_pem } = call.request as { token: string; csr_pem: string };
        t.enroll(token, csr_pem).then(
          ({ certPem, row }) => cb(null, { cert_pem: certPem, ca_pem: t.caPem, kind: row.kind, name: row.name, role: row.role, not_after_ms: row.notAfterMs }),
          (err) => {
            cfg.log.warn({ err: errorMessage(err) }, 'enrolment refused');
            cb(toServiceError(err));
          },
        );
      },
    });
  }
  const { port, listener } = await listen(server, creds, cfg);
  let metricsServer: { close(): void } | undefined;
  if (metrics && cfg.metricsListen) {
    try {
      metricsServer = await metrics.serve(cfg.metricsListen, trust);
    } catch (err) {
      listener.close();
      await stopServer(server);
      throw err;
    }
  }
  let adminConfig: string | undefined;
  if (trust) {
    const host = cfg.listen.replace(/:\d+$/, '');
    const address = `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
    adminConfig = await trust.ensureBootstrapAdmin(address);
  }
  cfg.log.info({ listen: cfg.listen, port, db: cfg.store ? redactUrl(cfg.store) : cfg.db, epoch: term?.epoch, tls: !!trust, caSha256: trust?.caSha256, adminConfig }, 'coordinator listening');
  membership.start();
  // Rollouts this coordinator was running when it stopped continue where they were.
  void control.resumeInterrupted(term ? Date.now() : Math.round(performance.timeOrigin), cfg.resumeWaitMs, term ? `leadership moved to ${advertised(cfg)} (epoch ${term.epoch})` : undefined).catch((err) => cfg.log.error({ err }, 'resume failed'));
  return {
    port,
    caSha256: trust?.caSha256,
    adminConfig,
    async shutdown() {
      membership.stop();
      executor.stop();
      hub.close();
      listener.close();
      metricsServer?.close();
      await stopServer(server);
    },
  };
}

/**
 * zdd's own listener, handing each connection to grpc-js: grpc-js listens with node's default
 * backlog of 511, and ten thousand agents dialling a restarted coordinator at once overflow it
 * (dropped SYNs are retried by TCP after 1, 3, 7, 15… s: the last agents came back minutes late).
 */
export async function listen(server: grpc.Server, creds: grpc.ServerCredentials, cfg: Pick<CoordinatorConfig, 'listen' | 'log'>): Promise<{ port: number; listener: net.Server }> {
  const injector = server.createConnectionInjector(creds);
  const listener = net.createServer((socket) => injector.injectConnection(socket));
  const port = await new Promise<number>((resolve, reject) => {
    const { host, port: wanted } = splitListen(cfg.listen);
    listener.once('error', (err) => reject(new ZddError('INVALID_ARGUMENT', `cannot listen on ${cfg.listen}: ${err.message}`, { cause: err })));
    listener.listen({ host, port: wanted, backlog: LISTEN_BACKLOG }, () => resolve((listener.address() as net.AddressInfo).port));
  });
  listener.on('error', (err) => cfg.log.error({ err: errorMessage(err) }, 'listener error'));
  return { port, listener };
}

/** Stops a gRPC server: calls under way get 2 s to finish. */
export function stopServer(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** How many connections may wait to be accepted (Linux caps it at net.core.somaxconn, 4096 by default). */
const LISTEN_BACKLOG = 8192;

/** "HOST:PORT" or "[IPV6]:PORT" as --listen takes it. */
export function splitListen(listen: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]*):(\d+)$/.exec(listen);
  if (!m) throw new ZddError('INVALID_ARGUMENT', `--listen ${listen} is not HOST:PORT`, { hint: 'for example 127.0.0.1:7700, 0.0.0.0:7700 or [::]:7700' });
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** A coordinator on another host that stopped renewing holds the database this long. */
const LEASE_TTL_MS = 15_000;
