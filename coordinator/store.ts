// The coordinator's state in one SQLite file (better-sqlite3, WAL, synchronous=FULL): agents,
// services and their spec history, rollouts, steps, events and the journalled traffic per service.
// Callers use the Store interface so another engine can replace SQLite later.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { ZddError, errorMessage } from '../lib/errors.js';
import { applyDiff, trafficDiff, type TrafficDiff, type TrafficDoc } from '../lib/traffic.js';
import { parseStepArgs, type PlannedArgs, type TypedStep } from './steps.js';
import type { RolloutState, RollbackOutcome } from './rollout-state.js';

export type { RolloutState, RollbackOutcome };
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface AgentRow {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  advertise: string;
  portOffset: number;
  edgeMode: string;
  agentVersion: string;
  lastSeenMs: number;
  /** membership, set by operators (zddctl cordon / drain): never overwritten by a hello */
  cordonedMs?: number;
  /** '' | 'draining' | 'drained' | 'failed: why' */
  drain?: string;
}

/** A backend taken out of a service's traffic because its host is gone or drained: put back from here. */
export interface ParkedRow {
  service: string;
  agentId: string;
  backendJson: string;
  reason: 'gone' | 'drain';
  sinceMs: number;
}

/** Who holds the database: one coordinator at a time (the lease the HA work builds on). */
export interface Holder {
  token: string;
  pid: number;
  startTicks: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id: the same host name after a reboot, or on another machine, is another host */
  bootId: string;
  listen: string;
  startedMs: number;
  renewedMs: number;
}

export interface ServiceRow {
  name: string;
  revision: number;
  specJson: string;
  liveVersion: string;
  /** the version live before the current one: what `zddctl rollback` returns to */
  previousVersion: string;
}

export type RolloutStatus = Pick<RolloutRow, 'state' | 'outcome' | 'abortReason' | 'abortOutcome' | 'promoteSeq'>;

export interface RolloutRow {
  id: string;
  service: string;
  revision: number;
  version: string;
  fromVersion: string;
  strategy: string;
  paramsJson: string;
  state: RolloutState;
  error: string;
  createdMs: number;
  endedMs: number;
  forcedKills: number;
  failedHosts: number;
  pauseReason: string;
  /** set when the rollout turned into a return to its old version: how it will end */
  outcome: RollbackOutcome | '';
  /** an operator's request to return to the old version, not yet acted on */
  abortReason: string;
  abortOutcome: RollbackOutcome | '';
  /** the latest step seq an operator promoted (ended the wait of) */
  promoteSeq: number;
  /** the operator who started it ("" before operators existed, or over plaintext) */
  createdBy: string;
}

export type Role = 'viewer' | 'deployer' | 'admin';
export type PrincipalKind = 'agent' | 'operator';

/** A one-time join token: only the sha256 of its secret is kept. */
export interface JoinTokenRow {
  id: string;
  secretSha256: string;
  kind: PrincipalKind;
  name: string;
  /** operators: the role the certificate will carry */
  role: Role | '';
  createdMs: number;
  expiresMs: number;
  usedMs: number;
  createdBy: string;
}

/** A certificate the fleet CA issued, keyed by its sha256 fingerprint; a revoked one is refused. */
export interface CertificateRow {
  fingerprint: string;
  kind: PrincipalKind | 'coordinator';
  name: string;
  role: Role | '';
  issuedMs: number;
  notAfterMs: number;
  revokedMs: number;
}

/** A mutating control call, allowed or refused, with who made it. */
export interface AuditRow {
  atMs: number;
  principal: string;
  role: string;
  action: string;
  target: string;
  outcome: 'ok' | 'refused' | 'failed';
  detail: string;
}

/** A journalled step: its place in the plan, its typed kind and arguments (steps.ts), and its progress. */
export type StepRow = StepRecord & TypedStep;
/** A step as the planner or a return hands it to the store. */
export type NewStep = Omit<StepRecord, 'rolloutId'> & PlannedArgs;
/** What a step's journal entry can change: never its kind or arguments. */
export type StepPatch = Partial<Omit<StepRecord, 'rolloutId' | 'seq' | 'batch' | 'phase' | 'agentId'>>;

/** A planned step as it enters the journal: pending, never tried. */
export const pendingStep = <T extends Omit<NewStep, 'state' | 'attempt' | 'detail' | 'error' | 'resultJson' | 'startedMs' | 'endedMs'>>(s: T): NewStep =>
  // field by field, not spread: a plan of 10,000 one-host batches has 40,000 of them
  ({ seq: s.seq, batch: s.batch, phase: s.phase, agentId: s.agentId, kind: s.kind, args: s.args, state: 'pending', attempt: 0, detail: '', error: '', resultJson: '', startedMs: 0, endedMs: 0 }) as NewStep;

export interface StepRecord {
  rolloutId: string;
  seq: number;
  batch: number;
  phase: number;
  agentId: string;
  state: StepState;
  attempt: number;
  detail: string;
  error: string;
  resultJson: string;
  startedMs: number;
  endedMs: number;
}

export interface EventRow {
  /** its place in the journal (set when read back): pages of events go by it */
  id?: number;
  rolloutId: string;
  atMs: number;
  level: 'info' | 'warn' | 'error';
  agentId: string;
  message: string;
  /** marks events the coordinator reads back: 'interrupted', 'resumed' */
  kind?: string;
}

/** A step as the control API shows it: its record and kind, without its arguments. */
export type StepView = StepRecord & { kind: string };

/** A rollout's steps counted, for the control API's summary: what every page carries. */
export interface StepSummary {
  steps: number;
  byState: Record<StepState, number>;
  /** hosts with a start step, and by that step's state */
  hosts: number;
  hostsStarted: number;
  hostsFailed: number;
  batches: number;
  /** batches whose every step has ended */
  batchesDone: number;
  /** the first batch with a step not yet ended (0 when none) */
  currentBatch: number;
}

export type RolloutPatch = Partial<Pick<RolloutRow, 'state' | 'error' | 'endedMs' | 'forcedKills' | 'failedHosts' | 'pauseReason' | 'abortReason' | 'abortOutcome' | 'promoteSeq'>>;

export interface Store {
  upsertAgent(a: AgentRow): void;
  listAgents(): AgentRow[];
  agent(id: string): AgentRow | undefined;
  agentCount(): number;
  /** Agents an operator cordoned or drained. */
  membershipIds(): string[];
  /** An operator's membership change (cordon, drain state). */
  setMembership(id: string, m: { cordonedMs?: number; drain?: string }): void;
  /** Forgets an agent and what was parked of it. */
  removeAgent(id: string): void;
  listServices(): ServiceRow[];
  parked(): ParkedRow[];
  /**
   * A traffic change made outside a rollout (a host gone, drained or back), in one transaction:
   * the new document, the backends parked or put back, and the event that says why.
   */
  changeTraffic(doc: TrafficDoc, park: ParkedRow[], unpark: { service: string; agentId: string }[], event: EventRow): void;
  /** Events of the fleet itself (rollout id ''), newest first. */
  fleetEvents(agentId: string, limit: number): EventRow[];
  getService(name: string): ServiceRow | undefined;
  /** Stores a new revision when the spec differs; returns the row and whether it changed. */
  applyService(name: string, specJson: string, nowMs: number): { row: ServiceRow; changed: boolean };
  setLiveVersion(name: string, version: string): void;
  activeRollout(service: string): RolloutRow | undefined;
  /** Inserts a rollout and its planned steps in one transaction. */
  createRollout(r: NewRollout, steps: NewStep[]): RolloutRow;
  /**
   * Turns a rollout into a return to its old version, in one transaction: pending steps are
   * skipped, the return's steps appended, the outcome recorded, and (optionally) a step ended.
   * Does nothing when the rollout already has an outcome.
   */
  appendRollback(rolloutId: string, outcome: RollbackOutcome, error: string, steps: NewStep[], endStep?: { seq: number; patch: StepPatch }): boolean;
  getRollout(id: string): RolloutRow | undefined;
  /** The columns a running rollout checks at every phase, without its parameters (a 10,000-host plan's are large). */
  rolloutStatus(id: string): RolloutStatus | undefined;
  latestRollout(): RolloutRow | undefined;
  listRollouts(service: string | undefined, limit: number): RolloutRow[];
  runningRollouts(): RolloutRow[];
  /** how many rollouts are in each state */
  rolloutCounts(): Record<string, number>;
  /** Counters and operator requests; never the state (transitionRollout changes that). */
  updateRollout(id: string, patch: Omit<RolloutPatch, 'state'>): void;
  /**
   * Changes a rollout's state only if it still is `from`, with other columns and an event, in one
   * transaction; false (and nothing written) when it is not. Use rollout-state.ts transition().
   */
  transitionRollout(id: string, from: RolloutState, patch: RolloutPatch & { state: RolloutState }, event?: EventRow): boolean;
  steps(rolloutId: string): StepRow[];
  /** The highest step seq of a rollout (0 without steps): a return appends steps after it. */
  lastSeq(rolloutId: string): number;
  /** Steps after `afterSeq`, at most `limit`, in order; without their arguments (nothing is parsed). */
  stepPage(rolloutId: string, afterSeq: number, limit: number): StepView[];
  /** Whether a rollout has a step still to run (or running) besides its finalize step. */
  hasWorkLeft(rolloutId: string): boolean;
  /** Steps after a seq, at most `limit`, with their arguments: a large rollout read a page at a time. */
  stepsAfter(rolloutId: string, afterSeq: number, limit: number): StepRow[];
  /** These steps, by seq, without their arguments. */
  stepsBySeq(rolloutId: string, seqs: number[]): StepView[];
  stepSummary(rolloutId: string): StepSummary;
  /** Steps running or failed, in order, at most `limit`: the ones an operator looks for at any size. */
  notableSteps(rolloutId: string, limit: number): StepView[];
  /** The latest step of a kind that has a result (the latest analysis figures). */
  lastResult(rolloutId: string, kind: string): StepView | undefined;
  /** Steps running that wait for time or for an operator (analyze, window, pause), with their arguments. */
  runningWaits(rolloutId: string): StepRow[];
  /** Runs fn in one transaction: the executor commits a phase's transitions together. */
  batch(fn: () => void): void;
  updateStep(rolloutId: string, seq: number, patch: StepPatch, alsoTraffic?: TrafficDoc): void;
  addEvent(e: EventRow): void;
  events(rolloutId: string): EventRow[];
  /** Events after event id `afterId`, oldest first, at most `limit`. */
  eventsAfter(rolloutId: string, afterId: number, limit: number): EventRow[];
  /** The newest `limit` events, oldest first. */
  latestEvents(rolloutId: string, limit: number): EventRow[];
  eventCount(rolloutId: string): number;
  /** when the rollout was resumed, oldest first */
  resumedAt(rolloutId: string): number[];
  traffic(service: string): TrafficDoc | undefined;
  /** random per database: command ids carry it, so a new database never reuses an agent's recorded id */
  instanceId(): string;
  addJoinToken(t: JoinTokenRow): void;
  joinToken(id: string): JoinTokenRow | undefined;
  /**
   * Spends a join token and records the certificate issued for it, in one transaction; throws
   * UNAUTHENTICATED (with the reason) when the token is unknown, spent or expired.
   */
  redeemJoinToken(id: string, secretSha256: string, nowMs: number, issue: (t: JoinTokenRow) => CertificateRow): CertificateRow;
  addCertificate(c: CertificateRow): void;
  certificate(fingerprint: string): CertificateRow | undefined;
  /** The certificate issued last to a principal (a renewal supersedes the one before). */
  latestCertificate(kind: PrincipalKind, name: string): CertificateRow | undefined;
  /** Revokes every certificate of a principal; the number revoked. */
  revokePrincipal(kind: PrincipalKind, name: string, nowMs: number): number;
  certificates(): CertificateRow[];
  addAudit(a: AuditRow): void;
  audit(limit: number): AuditRow[];
  close(): void;
}

export type NewRollout = Omit<RolloutRow, 'id' | 'pauseReason' | 'outcome' | 'abortReason' | 'abortOutcome' | 'promoteSeq' | 'createdBy'> & { createdBy?: string };

/** The token if it can still be spent; UNAUTHENTICATED with the reason if not. */
export function usableToken(t: JoinTokenRow | undefined, secretSha256: string, nowMs: number): JoinTokenRow {
  const refuse = (why: string) => new ZddError('UNAUTHENTICATED', `join token refused: ${why}`, { hint: 'ask an admin for a new one: zddctl token create' });
  if (!t || t.secretSha256 !== secretSha256) throw refuse('it is not a token of this coordinator');
  if (t.usedMs) throw refuse(`it was already used at ${new Date(t.usedMs).toISOString()}; a token joins once`);
  if (t.expiresMs <= nowMs) throw refuse(`it expired at ${new Date(t.expiresMs).toISOString()}`);
  return t;
}

/** A start step's arguments journalled without the spec, with it put back. */
const withSpec = (argsJson: string, spec: unknown) => JSON.stringify({ ...(JSON.parse(argsJson) as object), spec });

/** "zdd\x01": marks the file as zdd's, so the coordinator never writes into someone else's database. */
const APPLICATION_ID = 0x7a646401;

const MIGRATIONS: string[] = [
  `CREATE TABLE agents (
     id TEXT PRIMARY KEY, hostname TEXT NOT NULL, labels_json TEXT NOT NULL, advertise TEXT NOT NULL,
     port_offset INTEGER NOT NULL, edge_mode TEXT NOT NULL, agent_version TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
   CREATE TABLE services (
     name TEXT PRIMARY KEY, revision INTEGER NOT NULL, spec_json TEXT NOT NULL, live_version TEXT NOT NULL DEFAULT '',
     updated_ms INTEGER NOT NULL);
   CREATE TABLE service_specs (
     name TEXT NOT NULL, revision INTEGER NOT NULL, spec_json TEXT NOT NULL, created_ms INTEGER NOT NULL,
     PRIMARY KEY (name, revision));
   CREATE TABLE rollouts (
     id TEXT PRIMARY KEY, service TEXT NOT NULL, revision INTEGER NOT NULL, version TEXT NOT NULL,
     from_version TEXT NOT NULL, strategy TEXT NOT NULL, params_json TEXT NOT NULL, state TEXT NOT NULL,
     error TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL DEFAULT 0,
     forced_kills INTEGER NOT NULL DEFAULT 0, failed_hosts INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX rollouts_by_service ON rollouts (service, created_ms);
   CREATE TABLE steps (
     rollout_id TEXT NOT NULL REFERENCES rollouts(id), seq INTEGER NOT NULL, batch INTEGER NOT NULL,
     phase INTEGER NOT NULL, kind TEXT NOT NULL, agent_id TEXT NOT NULL, args_json TEXT NOT NULL,
     state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '',
     error TEXT NOT NULL DEFAULT '', result_json TEXT NOT NULL DEFAULT '', started_ms INTEGER NOT NULL DEFAULT 0,
     ended_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rollout_id, seq));
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, at_ms INTEGER NOT NULL, level TEXT NOT NULL,
     agent_id TEXT NOT NULL DEFAULT '', message TEXT NOT NULL);
   CREATE INDEX events_by_rollout ON events (rollout_id, id);
   CREATE TABLE traffic (
     service TEXT PRIMARY KEY, generation INTEGER NOT NULL, doc_json TEXT NOT NULL, updated_ms INTEGER NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(4))));`,
  `ALTER TABLE rollouts ADD COLUMN pause_reason TEXT NOT NULL DEFAULT '';
   ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT '';`,
  `ALTER TABLE rollouts ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
   ALTER TABLE rollouts ADD COLUMN abort_reason TEXT NOT NULL DEFAULT '';
   ALTER TABLE rollouts ADD COLUMN abort_outcome TEXT NOT NULL DEFAULT '';
   ALTER TABLE rollouts ADD COLUMN promote_seq INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE services ADD COLUMN previous_version TEXT NOT NULL DEFAULT '';`,
  `CREATE TABLE join_tokens (
     id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
     created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL DEFAULT 0, created_by TEXT NOT NULL);
   CREATE TABLE certificates (
     fingerprint TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, issued_ms INTEGER NOT NULL,
     not_after_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX certificates_by_principal ON certificates (kind, name);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, principal TEXT NOT NULL, role TEXT NOT NULL,
     action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
   ALTER TABLE rollouts ADD COLUMN created_by TEXT NOT NULL DEFAULT '';`,
  `ALTER TABLE agents ADD COLUMN cordoned_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE agents ADD COLUMN drain TEXT NOT NULL DEFAULT '';
   CREATE TABLE parked (
     service TEXT NOT NULL, agent_id TEXT NOT NULL, backend_json TEXT NOT NULL, reason TEXT NOT NULL, since_ms INTEGER NOT NULL,
     PRIMARY KEY (service, agent_id, backend_json));`,
  // a large traffic document is journalled whole now and then, and as differences in between
  `CREATE TABLE traffic_diffs (
     service TEXT NOT NULL, generation INTEGER NOT NULL, diff_json TEXT NOT NULL, PRIMARY KEY (service, generation));`,
];

/** Documents of more backends than this are journalled as differences between whole copies... */
export const TRAFFIC_DIFF_MIN_BACKENDS = 200;
/** ...of which a service keeps at most this many before the next whole copy (read once, at start). */
export const TRAFFIC_DIFFS_MAX = 100;

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A statement as both engines run it: positional (?) or named (@name) parameters. */
export interface SqlStatement {
  run(...params: any[]): { changes: number };
  get(...params: any[]): unknown;
  all(...params: any[]): unknown[];
}

/** What the journal needs of an engine: statements, transactions (nested ones as savepoints), close. */
export interface SqlDb {
  prepare(sql: string): SqlStatement;
  tx<T>(fn: () => T): T;
  readonly inTransaction: boolean;
  close(): void;
}

/**
 * The journal over SQL, the same for SQLite and PostgreSQL: the statements are written in the SQL
 * both understand, and the engines differ only in how they open, migrate and decide who writes.
 */
export abstract class SqlStore implements Store {
  /** statements compiled once each: a 10,000-host rollout runs the same few tens of thousands of times */
  private readonly statements = new Map<string, SqlStatement>();
  protected stmt(sql: string): SqlStatement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  constructor(protected readonly db: SqlDb) {}

  /**
   * The agents and the traffic documents, as last written: read on every membership look and every
   * traffic change, written only here, so kept in memory (callers share them: agent rows are frozen).
   */
  private agentMap: Map<string, AgentRow> | undefined;
  private agentList: AgentRow[] | undefined;
  private readonly trafficCache = new Map<string, TrafficDoc | undefined>();
  /** per service, the differences journalled since its whole document */
  private readonly trafficDiffs = new Map<string, number>();

  private agentRows(): Map<string, AgentRow> {
    this.agentMap ??= new Map(
      (this.stmt('SELECT * FROM agents ORDER BY id').all() as any[]).map((r) => [
        r.id,
        Object.freeze({
          id: r.id,
          hostname: r.hostname,
          labels: JSON.parse(r.labels_json),
          advertise: r.advertise,
          portOffset: r.port_offset,
          edgeMode: r.edge_mode,
          agentVersion: r.agent_version,
          lastSeenMs: r.last_seen_ms,
          cordonedMs: r.cordoned_ms,
          drain: r.drain,
        }),
      ]),
    );
    return this.agentMap;
  }

  /** Keeps the in-memory rows in step with a write that succeeded. */
  private cacheAgent(id: string, row: AgentRow | undefined) {
    if (!this.agentMap) return;
    if (row) this.agentMap.set(id, Object.freeze(row));
    else this.agentMap.delete(id);
    this.agentList = undefined;
  }

  agent(id: string): AgentRow | undefined {
    return this.agentRows().get(id);
  }

  agentCount(): number {
    return this.agentRows().size;
  }

  membershipIds(): string[] {
    return (this.stmt("SELECT id FROM agents WHERE cordoned_ms > 0 OR drain != ''").all() as { id: string }[]).map((r) => r.id);
  }

  upsertAgent(a: AgentRow): void {
    this.stmt(
        `INSERT INTO agents (id, hostname, labels_json, advertise, port_offset, edge_mode, agent_version, last_seen_ms)
         VALUES (@id, @hostname, @labels, @advertise, @portOffset, @edgeMode, @agentVersion, @lastSeenMs)
         ON CONFLICT(id) DO UPDATE SET hostname = excluded.hostname, labels_json = excluded.labels_json,
           advertise = excluded.advertise, port_offset = excluded.port_offset, edge_mode = excluded.edge_mode,
           agent_version = excluded.agent_version, last_seen_ms = excluded.last_seen_ms`,
      )
      .run({ ...a, labels: JSON.stringify(a.labels) });
    const had = this.agentMap?.get(a.id);
    this.cacheAgent(a.id, { ...a, labels: { ...a.labels }, cordonedMs: had?.cordonedMs ?? 0, drain: had?.drain ?? '' });
  }

  listAgents(): AgentRow[] {
    this.agentList ??= [...this.agentRows().values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return this.agentList;
  }

  setMembership(id: string, m: { cordonedMs?: number; drain?: string }): void {
    // read first: the row as it was, to keep in memory with the change
    const had = this.agentRows().get(id);
    if (m.cordonedMs !== undefined) this.stmt('UPDATE agents SET cordoned_ms = ? WHERE id = ?').run(m.cordonedMs, id);
    if (m.drain !== undefined) this.stmt('UPDATE agents SET drain = ? WHERE id = ?').run(m.drain, id);
    if (had) this.cacheAgent(id, { ...had, ...(m.cordonedMs !== undefined ? { cordonedMs: m.cordonedMs } : {}), ...(m.drain !== undefined ? { drain: m.drain } : {}) });
  }

  removeAgent(id: string): void {
    this.db.tx(() => {
      this.stmt('DELETE FROM parked WHERE agent_id = ?').run(id);
      this.stmt('DELETE FROM agents WHERE id = ?').run(id);
    });
    this.cacheAgent(id, undefined);
  }

  listServices(): ServiceRow[] {
    return (this.stmt('SELECT name FROM services ORDER BY name').all() as { name: string }[]).map((r) => this.getService(r.name)!);
  }

  parked(): ParkedRow[] {
    return (this.stmt('SELECT * FROM parked ORDER BY service, agent_id').all() as any[]).map((r) => ({
      service: r.service,
      agentId: r.agent_id,
      backendJson: r.backend_json,
      reason: r.reason,
      sinceMs: r.since_ms,
    }));
  }

  changeTraffic(doc: TrafficDoc, park: ParkedRow[], unpark: { service: string; agentId: string }[], event: EventRow): void {
    this.tx(() => {
      this.writeTraffic(doc);
      for (const u of unpark) this.stmt('DELETE FROM parked WHERE service = ? AND agent_id = ?').run(u.service, u.agentId);
      for (const p of park) {
        this
          .stmt(`INSERT INTO parked (service, agent_id, backend_json, reason, since_ms) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (service, agent_id, backend_json) DO UPDATE SET reason = excluded.reason, since_ms = excluded.since_ms`)
          .run(p.service, p.agentId, p.backendJson, p.reason, p.sinceMs);
      }
      this.addEvent(event);
    });
  }

  fleetEvents(agentId: string, limit: number): EventRow[] {
    const rows = agentId
      ? this.stmt("SELECT * FROM events WHERE rollout_id = '' AND agent_id = ? ORDER BY id DESC LIMIT ?").all(agentId, limit)
      : this.stmt("SELECT * FROM events WHERE rollout_id = '' ORDER BY id DESC LIMIT ?").all(limit);
    return (rows as any[]).map((r) => ({ rolloutId: '', atMs: r.at_ms, level: r.level, agentId: r.agent_id, message: r.message, kind: r.kind }));
  }

  getService(name: string): ServiceRow | undefined {
    const r = this.stmt('SELECT * FROM services WHERE name = ?').get(name) as any;
    return r && { name: r.name, revision: r.revision, specJson: r.spec_json, liveVersion: r.live_version, previousVersion: r.previous_version };
  }

  applyService(name: string, specJson: string, nowMs: number): { row: ServiceRow; changed: boolean } {
    return this.db.tx(() => {
      const cur = this.getService(name);
      if (cur && cur.specJson === specJson) return { row: cur, changed: false };
      const revision = (cur?.revision ?? 0) + 1;
      this.stmt('INSERT INTO service_specs (name, revision, spec_json, created_ms) VALUES (?, ?, ?, ?)').run(name, revision, specJson, nowMs);
      this
        .stmt(
          `INSERT INTO services (name, revision, spec_json, updated_ms) VALUES (?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET revision = excluded.revision, spec_json = excluded.spec_json, updated_ms = excluded.updated_ms`,
        )
        .run(name, revision, specJson, nowMs);
      return { row: this.getService(name)!, changed: true };
    });
  }

  setLiveVersion(name: string, version: string): void {
    this.stmt("UPDATE services SET previous_version = CASE WHEN live_version != ? AND live_version != '' THEN live_version ELSE previous_version END, live_version = ? WHERE name = ?")
      .run(version, version, name);
  }

  appendRollback(rolloutId: string, outcome: RollbackOutcome, error: string, steps: NewStep[], endStep?: { seq: number; patch: StepPatch }): boolean {
    return this.db.tx(() => {
      const r = this.getRollout(rolloutId);
      if (!r || r.outcome) return false;
      if (endStep) this.updateStep(rolloutId, endStep.seq, endStep.patch);
      this.stmt("UPDATE steps SET state = 'skipped', detail = ? WHERE rollout_id = ? AND state = 'pending'").run(`skipped: ${outcome === 'aborted' ? 'aborted' : 'rolled back'}`, rolloutId);
      this.insertSteps(rolloutId, steps);
      this.stmt('UPDATE rollouts SET outcome = ?, error = ? WHERE id = ?').run(outcome, error, rolloutId);
      this.statusCache.delete(rolloutId);
      return true;
    });
  }

  /** A step enters the journal only if it can be read back: every one is checked before any is written. */
  /**
   * The spec a rollout runs with (its parameters hold it), as JSON: a start step whose spec is this
   * one is journalled without it, and given it back when read. Ten thousand start steps do not
   * each carry a copy of the spec.
   */
  private rolloutSpec(rolloutId: string): { json: string; value: unknown } | undefined {
    const r = this.stmt('SELECT params_json FROM rollouts WHERE id = ?').get(rolloutId) as { params_json: string } | undefined;
    const spec = r ? (JSON.parse(r.params_json) as { spec?: unknown }).spec : undefined;
    return spec === undefined ? undefined : { json: JSON.stringify(spec), value: spec };
  }

  private insertSteps(rolloutId: string, steps: NewStep[]): void {
    this.lastSeqCache.delete(rolloutId);
    const shared = this.rolloutSpec(rolloutId);
    // the planner hands every start step the same spec object: compared once
    const sameAsShared = new Map<unknown, boolean>();
    const argsText = (s: NewStep): string => {
      if (s.kind !== 'start' || !shared) return JSON.stringify(s.args);
      const { spec, ...rest } = s.args as { spec: unknown };
      let same = sameAsShared.get(spec);
      if (same === undefined) sameAsShared.set(spec, (same = JSON.stringify(spec) === shared.json));
      return JSON.stringify(same ? rest : s.args);
    };
    // hosts of a batch share their arguments: each distinct text is checked once
    const checked = new Set<string>();
    const rows = steps.map((s) => {
      const argsJson = argsText(s);
      const key = `${s.kind}\u0000${argsJson}`;
      if (!checked.has(key)) {
        parseStepArgs(s.kind, s.kind === 'start' && shared && !argsJson.includes('"spec"') ? withSpec(argsJson, shared.value) : argsJson);
        checked.add(key);
      }
      return { s, argsJson };
    });
    const ins = this.stmt(
      `INSERT INTO steps (rollout_id, seq, batch, phase, kind, agent_id, args_json, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const { s, argsJson } of rows) ins.run(rolloutId, s.seq, s.batch, s.phase, s.kind, s.agentId, argsJson, s.state);
  }

  private rollout(r: any): RolloutRow {
    return {
      id: r.id,
      service: r.service,
      revision: r.revision,
      version: r.version,
      fromVersion: r.from_version,
      strategy: r.strategy,
      paramsJson: r.params_json,
      state: r.state,
      error: r.error,
      createdMs: r.created_ms,
      endedMs: r.ended_ms,
      forcedKills: r.forced_kills,
      failedHosts: r.failed_hosts,
      pauseReason: r.pause_reason,
      outcome: r.outcome,
      abortReason: r.abort_reason,
      abortOutcome: r.abort_outcome,
      promoteSeq: r.promote_seq,
      createdBy: r.created_by,
    };
  }

  activeRollout(service: string): RolloutRow | undefined {
    const r = this.stmt("SELECT * FROM rollouts WHERE service = ? AND state IN ('running', 'paused')").get(service);
    return r ? this.rollout(r) : undefined;
  }

  createRollout(r: NewRollout, steps: NewStep[]): RolloutRow {
    return this.db.tx(() => {
      if (this.activeRollout(r.service)) throw new ZddError('ROLLOUT_ACTIVE', `a rollout of ${r.service} is already active`);
      const n = (this.stmt('SELECT count(*) AS n FROM rollouts WHERE service = ?').get(r.service) as { n: number }).n;
      const id = `${r.service}-${n + 1}`;
      this
        .stmt(
          `INSERT INTO rollouts (id, service, revision, version, from_version, strategy, params_json, state, error, created_ms, created_by)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, r.service, r.revision, r.version, r.fromVersion, r.strategy, r.paramsJson, r.state, r.error, r.createdMs, r.createdBy ?? '');
      this.insertSteps(id, steps);
      return this.getRollout(id)!;
    });
  }

  getRollout(id: string): RolloutRow | undefined {
    const r = this.stmt('SELECT * FROM rollouts WHERE id = ?').get(id);
    return r ? this.rollout(r) : undefined;
  }

  /**
   * What a running rollout checks at every phase (its status, its last step), as last written:
   * only this store writes them (one coordinator writes a database: SQLite's lease, PostgreSQL's
   * fenced epoch), and with PostgreSQL each read is a round trip.
   */
  private readonly statusCache = new Map<string, RolloutStatus | undefined>();
  private readonly lastSeqCache = new Map<string, number>();

  rolloutStatus(id: string): RolloutStatus | undefined {
    if (this.statusCache.has(id)) return this.statusCache.get(id);
    const r = this.stmt('SELECT state, outcome, abort_reason, abort_outcome, promote_seq FROM rollouts WHERE id = ?').get(id) as any;
    const status = r ? Object.freeze({ state: r.state, outcome: r.outcome, abortReason: r.abort_reason, abortOutcome: r.abort_outcome, promoteSeq: r.promote_seq }) : undefined;
    if (status && !this.db.inTransaction) this.statusCache.set(id, status);
    return status;
  }

  latestRollout(): RolloutRow | undefined {
    const r = this.stmt('SELECT * FROM rollouts ORDER BY created_ms DESC, rowid DESC LIMIT 1').get();
    return r ? this.rollout(r) : undefined;
  }

  listRollouts(service: string | undefined, limit: number): RolloutRow[] {
    const rows = service
      ? this.stmt('SELECT * FROM rollouts WHERE service = ? ORDER BY created_ms DESC, rowid DESC LIMIT ?').all(service, limit)
      : this.stmt('SELECT * FROM rollouts ORDER BY created_ms DESC, rowid DESC LIMIT ?').all(limit);
    return rows.map((r) => this.rollout(r));
  }

  runningRollouts(): RolloutRow[] {
    return this.stmt("SELECT * FROM rollouts WHERE state = 'running'").all().map((r) => this.rollout(r));
  }

  rolloutCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.stmt('SELECT state, count(*) AS n FROM rollouts GROUP BY state').all() as { state: string; n: number | string }[]) out[r.state] = Number(r.n);
    return out;
  }

  transitionRollout(id: string, from: RolloutState, patch: RolloutPatch & { state: RolloutState }, event?: EventRow): boolean {
    return this.db.tx(() => {
      if (this.getRollout(id)?.state !== from) return false;
      this.writeRollout(id, patch);
      if (event) this.addEvent(event);
      return true;
    });
  }

  updateRollout(id: string, patch: Omit<RolloutPatch, 'state'>): void {
    this.writeRollout(id, patch);
  }

  private writeRollout(id: string, patch: RolloutPatch): void {
    this.statusCache.delete(id);
    const cols: Record<string, string> = {
      state: 'state', error: 'error', endedMs: 'ended_ms', forcedKills: 'forced_kills', failedHosts: 'failed_hosts', pauseReason: 'pause_reason',
      abortReason: 'abort_reason', abortOutcome: 'abort_outcome', promoteSeq: 'promote_seq',
    };
    const keys = Object.keys(patch) as (keyof typeof patch)[];
    if (!keys.length) return;
    this.stmt(`UPDATE rollouts SET ${keys.map((k) => `${cols[k]} = @${k}`).join(', ')} WHERE id = @id`).run({ ...patch, id });
  }

  steps(rolloutId: string): StepRow[] {
    return this.stepRows(this.stmt('SELECT * FROM steps WHERE rollout_id = ? ORDER BY seq').all(rolloutId));
  }

  hasWorkLeft(rolloutId: string): boolean {
    return !!this.stmt("SELECT 1 FROM steps WHERE rollout_id = ? AND state IN ('pending', 'running') AND kind != 'finalize' LIMIT 1").get(rolloutId);
  }

  stepsAfter(rolloutId: string, afterSeq: number, limit: number): StepRow[] {
    return this.stepRows(this.stmt('SELECT * FROM steps WHERE rollout_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(rolloutId, afterSeq, limit));
  }

  private stepRows(rows: unknown[]): StepRow[] {
    // the hosts of a batch carry the same arguments: each distinct text is checked against the
    // step contract once per read, not once per host; a start step journalled without its spec
    // gets the rollout's back
    const parsed = new Map<string, ReturnType<typeof parseStepArgs>>();
    const specs = new Map<string, unknown>();
    const argsOf = (rolloutId: string, kind: string, json: string) => {
      const key = `${kind}\u0000${json}`;
      let v = parsed.get(key);
      if (!v) {
        if (kind === 'start' && !json.includes('"spec"')) {
          if (!specs.has(rolloutId)) specs.set(rolloutId, this.rolloutSpec(rolloutId)?.value);
          const spec = specs.get(rolloutId);
          if (spec !== undefined) json = withSpec(json, spec);
        }
        parsed.set(key, (v = parseStepArgs(kind, json)));
      }
      return v;
    };
    return (rows as any[]).map((r) => {
      const v = this.stepView(r) as StepView & { args?: unknown };
      v.args = argsOf(r.rollout_id, r.kind, r.args_json).args;
      return v as StepRow;
    });
  }

  lastSeq(rolloutId: string): number {
    const hit = this.lastSeqCache.get(rolloutId);
    if (hit !== undefined) return hit;
    const n = (this.stmt('SELECT max(seq) AS n FROM steps WHERE rollout_id = ?').get(rolloutId) as { n: number | null }).n ?? 0;
    if (!this.db.inTransaction) this.lastSeqCache.set(rolloutId, n);
    return n;
  }

  private stepView = (r: any): StepView => ({
    rolloutId: r.rollout_id,
    seq: r.seq,
    batch: r.batch,
    phase: r.phase,
    kind: r.kind,
    agentId: r.agent_id,
    state: r.state,
    attempt: r.attempt,
    detail: r.detail,
    error: r.error,
    resultJson: r.result_json,
    startedMs: r.started_ms,
    endedMs: r.ended_ms,
  });

  private static readonly VIEW_COLUMNS = 'rollout_id, seq, batch, phase, kind, agent_id, state, attempt, detail, error, result_json, started_ms, ended_ms';

  stepPage(rolloutId: string, afterSeq: number, limit: number): StepView[] {
    return this.stmt(`SELECT ${SqlStore.VIEW_COLUMNS} FROM steps WHERE rollout_id = ? AND seq > ? ORDER BY seq LIMIT ?`).all(rolloutId, afterSeq, limit).map(this.stepView);
  }

  stepsBySeq(rolloutId: string, seqs: number[]): StepView[] {
    if (!seqs.length) return [];
    const q = this.stmt(`SELECT ${SqlStore.VIEW_COLUMNS} FROM steps WHERE rollout_id = ? AND seq = ?`);
    return seqs.flatMap((seq) => {
      const r = q.get(rolloutId, seq);
      return r ? [this.stepView(r)] : [];
    });
  }

  notableSteps(rolloutId: string, limit: number): StepView[] {
    return this.stmt(`SELECT ${SqlStore.VIEW_COLUMNS} FROM steps WHERE rollout_id = ? AND state IN ('running', 'failed') ORDER BY seq LIMIT ?`).all(rolloutId, limit).map(this.stepView);
  }

  lastResult(rolloutId: string, kind: string): StepView | undefined {
    const r = this.stmt(`SELECT ${SqlStore.VIEW_COLUMNS} FROM steps WHERE rollout_id = ? AND kind = ? AND result_json != '' ORDER BY seq DESC LIMIT 1`).get(rolloutId, kind);
    return r ? this.stepView(r) : undefined;
  }

  runningWaits(rolloutId: string): StepRow[] {
    return this.stepRows(this.stmt("SELECT * FROM steps WHERE rollout_id = ? AND state = 'running' AND kind IN ('analyze', 'window', 'pause') ORDER BY seq").all(rolloutId));
  }

  stepSummary(rolloutId: string): StepSummary {
    const byState: Record<StepState, number> = { pending: 0, running: 0, done: 0, failed: 0, skipped: 0 };
    let steps = 0;
    let hosts = 0;
    let hostsStarted = 0;
    let hostsFailed = 0;
    for (const r of this.stmt('SELECT kind, state, count(*) AS n, count(DISTINCT agent_id) AS h FROM steps WHERE rollout_id = ? GROUP BY kind, state').all(rolloutId) as { kind: string; state: StepState; n: number; h: number }[]) {
      byState[r.state] += r.n;
      steps += r.n;
      if (r.kind === 'start') {
        hosts += r.h;
        if (r.state === 'done') hostsStarted += r.h;
        if (r.state === 'failed') hostsFailed += r.h;
      }
    }
    const b = this
      .stmt(
        `SELECT max(batch) AS batches, min(CASE WHEN state IN ('pending', 'running') THEN batch END) AS cur,
           count(DISTINCT CASE WHEN state IN ('pending', 'running') THEN batch END) AS open
         FROM steps WHERE rollout_id = ? AND batch > 0`,
      )
      .get(rolloutId) as { batches: number | null; cur: number | null; open: number };
    const batches = b.batches ?? 0;
    return { steps, byState, hosts, hostsStarted, hostsFailed, batches, batchesDone: batches - b.open, currentBatch: b.cur ?? 0 };
  }

  batch(fn: () => void): void {
    this.tx(fn);
  }

  /** A transaction; when it fails (rolled back), what the in-memory rows learnt inside it is forgotten with it. */
  private tx<T>(fn: () => T): T {
    try {
      return this.db.tx(fn);
    } catch (err) {
      this.agentMap = undefined;
      this.agentList = undefined;
      this.trafficCache.clear();
      this.trafficDiffs.clear();
      this.statusCache.clear();
      this.lastSeqCache.clear();
      throw err;
    }
  }

  updateStep(rolloutId: string, seq: number, patch: StepPatch, alsoTraffic?: TrafficDoc): void {
    const cols: Record<string, string> = {
      state: 'state', attempt: 'attempt',
      detail: 'detail', error: 'error', resultJson: 'result_json', startedMs: 'started_ms', endedMs: 'ended_ms',
    };
    const keys = Object.keys(patch) as (keyof typeof patch)[];
    this.tx(() => {
      if (keys.length) {
        this
          .stmt(`UPDATE steps SET ${keys.map((k) => `${cols[k]} = @${k}`).join(', ')} WHERE rollout_id = @rolloutId AND seq = @seq`)
          .run({ ...patch, rolloutId, seq });
      }
      if (alsoTraffic) this.writeTraffic(alsoTraffic);
    });
  }

  /** Always inside tx(): a failed transaction forgets the document kept here. */
  private writeTraffic(doc: TrafficDoc) {
    const prev = this.traffic(doc.service);
    const diffs = this.trafficDiffs.get(doc.service) ?? 0;
    this.trafficCache.set(doc.service, doc);
    if (prev && prev.generation < doc.generation && doc.backends.length > TRAFFIC_DIFF_MIN_BACKENDS && diffs < TRAFFIC_DIFFS_MAX) {
      // a one-host change to 10,000 backends: a few hundred bytes, not a megabyte
      this.stmt('INSERT INTO traffic_diffs (service, generation, diff_json) VALUES (?, ?, ?)').run(doc.service, doc.generation, JSON.stringify(trafficDiff(prev, doc)));
      this.trafficDiffs.set(doc.service, diffs + 1);
      return;
    }
    if (diffs) this.stmt('DELETE FROM traffic_diffs WHERE service = ?').run(doc.service);
    this.trafficDiffs.set(doc.service, 0);
    this.stmt(
        `INSERT INTO traffic (service, generation, doc_json, updated_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT(service) DO UPDATE SET generation = excluded.generation, doc_json = excluded.doc_json, updated_ms = excluded.updated_ms`,
      )
      .run(doc.service, doc.generation, JSON.stringify(doc), Date.now());
  }

  addEvent(e: EventRow): void {
    this.stmt('INSERT INTO events (rollout_id, at_ms, level, agent_id, message, kind) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.rolloutId, e.atMs, e.level, e.agentId, e.message, e.kind ?? '');
  }

  events(rolloutId: string): EventRow[] {
    return this.stmt('SELECT * FROM events WHERE rollout_id = ? ORDER BY id').all(rolloutId).map(this.eventRow);
  }

  private eventRow = (r: any): EventRow => ({ id: r.id, rolloutId: r.rollout_id, atMs: r.at_ms, level: r.level, agentId: r.agent_id, message: r.message, kind: r.kind });

  eventsAfter(rolloutId: string, afterId: number, limit: number): EventRow[] {
    return this.stmt('SELECT * FROM events WHERE rollout_id = ? AND id > ? ORDER BY id LIMIT ?').all(rolloutId, afterId, limit).map(this.eventRow);
  }

  latestEvents(rolloutId: string, limit: number): EventRow[] {
    return this.stmt('SELECT * FROM events WHERE rollout_id = ? ORDER BY id DESC LIMIT ?').all(rolloutId, limit).map(this.eventRow).reverse();
  }

  eventCount(rolloutId: string): number {
    return (this.stmt('SELECT count(*) AS n FROM events WHERE rollout_id = ?').get(rolloutId) as { n: number }).n;
  }

  resumedAt(rolloutId: string): number[] {
    return (this.stmt("SELECT at_ms FROM events WHERE rollout_id = ? AND kind = 'resumed' ORDER BY id").all(rolloutId) as { at_ms: number }[]).map((r) => r.at_ms);
  }

  traffic(service: string): TrafficDoc | undefined {
    if (this.trafficCache.has(service)) return this.trafficCache.get(service);
    const r = this.stmt('SELECT doc_json FROM traffic WHERE service = ?').get(service) as { doc_json: string } | undefined;
    let doc = r ? (JSON.parse(r.doc_json) as TrafficDoc) : undefined;
    const diffs = this.stmt('SELECT diff_json FROM traffic_diffs WHERE service = ? ORDER BY generation').all(service) as { diff_json: string }[];
    for (const d of diffs) {
      try {
        doc = applyDiff(doc, JSON.parse(d.diff_json) as TrafficDiff);
      } catch (err) {
        throw new ZddError('DB_ERROR', `the journalled traffic of ${service} does not add up: ${errorMessage(err)}`, {
          hint: 'the database was changed by hand or is damaged; restore it from a backup',
        });
      }
    }
    this.trafficCache.set(service, doc);
    this.trafficDiffs.set(service, diffs.length);
    return doc;
  }

  private cachedInstanceId: string | undefined;
  instanceId(): string {
    this.cachedInstanceId ??= (this.stmt("SELECT value FROM meta WHERE key = 'instance_id'").get() as { value: string }).value;
    return this.cachedInstanceId;
  }

  addJoinToken(t: JoinTokenRow): void {
    this.stmt(
        `INSERT INTO join_tokens (id, secret_sha256, kind, name, role, created_ms, expires_ms, used_ms, created_by)
         VALUES (@id, @secretSha256, @kind, @name, @role, @createdMs, @expiresMs, @usedMs, @createdBy)`,
      )
      .run(t);
  }

  joinToken(id: string): JoinTokenRow | undefined {
    const r = this.stmt('SELECT * FROM join_tokens WHERE id = ?').get(id) as any;
    return r && { id: r.id, secretSha256: r.secret_sha256, kind: r.kind, name: r.name, role: r.role, createdMs: r.created_ms, expiresMs: r.expires_ms, usedMs: r.used_ms, createdBy: r.created_by };
  }

  redeemJoinToken(id: string, secretSha256: string, nowMs: number, issue: (t: JoinTokenRow) => CertificateRow): CertificateRow {
    return this.db.tx(() => {
      const t = usableToken(this.joinToken(id), secretSha256, nowMs);
      this.stmt('UPDATE join_tokens SET used_ms = ? WHERE id = ?').run(nowMs, id);
      const cert = issue({ ...t, usedMs: nowMs });
      this.addCertificate(cert);
      return cert;
    });
  }

  addCertificate(c: CertificateRow): void {
    this.stmt(
        `INSERT INTO certificates (fingerprint, kind, name, role, issued_ms, not_after_ms, revoked_ms)
         VALUES (@fingerprint, @kind, @name, @role, @issuedMs, @notAfterMs, @revokedMs)`,
      )
      .run(c);
  }

  private certRow = (r: any): CertificateRow => ({
    fingerprint: r.fingerprint, kind: r.kind, name: r.name, role: r.role, issuedMs: r.issued_ms, notAfterMs: r.not_after_ms, revokedMs: r.revoked_ms,
  });

  /** certificates on record by fingerprint, as read: asked on every message of every agent session; a revocation forgets them */
  private readonly certCache = new Map<string, CertificateRow>();

  certificate(fingerprint: string): CertificateRow | undefined {
    const hit = this.certCache.get(fingerprint);
    if (hit) return hit;
    const r = this.stmt('SELECT * FROM certificates WHERE fingerprint = ?').get(fingerprint);
    if (!r) return undefined;
    const row = Object.freeze(this.certRow(r));
    if (!this.db.inTransaction) this.certCache.set(fingerprint, row);
    return row;
  }

  latestCertificate(kind: PrincipalKind, name: string): CertificateRow | undefined {
    const r = this.stmt('SELECT * FROM certificates WHERE kind = ? AND name = ? ORDER BY issued_ms DESC, rowid DESC LIMIT 1').get(kind, name);
    return r ? this.certRow(r) : undefined;
  }

  revokePrincipal(kind: PrincipalKind, name: string, nowMs: number): number {
    this.certCache.clear();
    return this.stmt('UPDATE certificates SET revoked_ms = ? WHERE kind = ? AND name = ? AND revoked_ms = 0').run(nowMs, kind, name).changes;
  }

  certificates(): CertificateRow[] {
    return this.stmt('SELECT * FROM certificates ORDER BY kind, name, issued_ms').all().map(this.certRow);
  }

  addAudit(a: AuditRow): void {
    this.stmt('INSERT INTO audit (at_ms, principal, role, action, target, outcome, detail) VALUES (@atMs, @principal, @role, @action, @target, @outcome, @detail)')
      .run(a);
  }

  audit(limit: number): AuditRow[] {
    return (this.stmt('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as any[]).map((r) => ({
      atMs: r.at_ms, principal: r.principal, role: r.role, action: r.action, target: r.target, outcome: r.outcome, detail: r.detail,
    }));
  }

  close(): void {
    this.db.close();
  }
}

export class SqliteStore extends SqlStore {
  private readonly sqlite: Database.Database;

  /**
   * `beforeMigrate` runs on a database that already has a schema, before it is migrated: a
   * coordinator takes its lease there, so a newer one refused never migrates a live database.
   */
  constructor(file: string, opts: { beforeMigrate?: (store: SqliteStore) => void } = {}) {
    const existed = fs.existsSync(file) && fs.statSync(file).size > 0;
    let sqlite: Database.Database;
    try {
      sqlite = new Database(file, { fileMustExist: false });
    } catch (err) {
      throw new ZddError('DB_ERROR', `cannot open database ${file}: ${(err as Error).message}`, { cause: err });
    }
    super({
      prepare: (sql) => sqlite.prepare(sql),
      tx: (fn) => sqlite.transaction(fn)(),
      get inTransaction() {
        return sqlite.inTransaction;
      },
      close: () => sqlite.close(),
    });
    this.sqlite = sqlite;
    try {
      this.check(file, existed);
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('synchronous = FULL');
      sqlite.pragma('foreign_keys = ON');
      sqlite.pragma('busy_timeout = 5000');
      const hasSchema = (sqlite.pragma('user_version', { simple: true }) as number) > 0;
      const moved = hasSchema ? (this.stmt("SELECT value FROM meta WHERE key = 'migrated_to'").get() as { value: string } | undefined) : undefined;
      if (moved) {
        throw new ZddError('DB_ERROR', `${file} was moved to PostgreSQL (${moved.value}); it was not modified`, {
          hint: `start the coordinator with --store (ZDD_STORE); to go back to this file instead, remove the mark: DELETE FROM meta WHERE key = 'migrated_to'`,
        });
      }
      if (hasSchema) opts.beforeMigrate?.(this);
      this.migrate();
      if (!hasSchema) opts.beforeMigrate?.(this);
    } catch (err) {
      sqlite.close();
      throw err;
    }
  }

  /** Refuses files that are not zdd's, are corrupt, or come from a newer zdd; writes nothing then. */
  private check(file: string, existed: boolean) {
    if (!existed) return;
    let appId: number;
    let version: number;
    let tables: number;
    try {
      appId = this.sqlite.pragma('application_id', { simple: true }) as number;
      version = this.sqlite.pragma('user_version', { simple: true }) as number;
      tables = (this.stmt("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    } catch (err) {
      throw new ZddError('DB_ERROR', `${file} is not a readable SQLite database: ${(err as Error).message}`, {
        cause: err,
        hint: 'point --db at the coordinator database, or at a new path to start empty',
      });
    }
    if (appId !== APPLICATION_ID && tables > 0) {
      throw new ZddError('DB_ERROR', `${file} is a SQLite database that does not belong to zdd; it was not modified`, {
        hint: 'point --db at the coordinator database, or at a new path to start empty',
      });
    }
    if (version > SCHEMA_VERSION) {
      throw new ZddError('DB_ERROR', `${file} has schema version ${version}, newer than this coordinator's ${SCHEMA_VERSION}; it was not modified`, {
        hint: 'run the newer zdd-coordinator that wrote it',
      });
    }
  }

  private migrate() {
    const current = this.sqlite.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.sqlite.transaction(() => {
        this.sqlite.exec(MIGRATIONS[v]);
        this.sqlite.pragma(`application_id = ${APPLICATION_ID}`);
        this.sqlite.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  acquire(h: Holder, nowMs: number, ttlMs: number, alive: (h: Holder) => boolean | undefined): void {
    // IMMEDIATE: two coordinators starting at once cannot both read "free" and both write
    this.sqlite.transaction(() => {
      const r = this.stmt("SELECT value FROM meta WHERE key = 'holder'").get() as { value: string } | undefined;
      const cur = r ? (JSON.parse(r.value) as Holder) : undefined;
      if (cur && cur.token !== h.token) {
        const running = alive(cur);
        // on this host the process table decides; elsewhere, whether its lease is fresh
        if (running === true || (running === undefined && cur.renewedMs + ttlMs > nowMs)) {
          const since = new Date(cur.startedMs).toISOString();
          throw new ZddError('DB_HELD', `this database is held by another coordinator: pid ${cur.pid} on ${cur.hostname}, listening on ${cur.listen}, since ${since}; nothing was changed`, {
            hint: running === true ? `stop that coordinator first (kill ${cur.pid}), or give this one another --db` : `if that coordinator is gone, this one can start once its lease runs out (${Math.ceil((cur.renewedMs + ttlMs - nowMs) / 1000)}s)`,
          });
        }
      }
      this.stmt("INSERT INTO meta (key, value) VALUES ('holder', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(JSON.stringify(h));
    }).immediate();
  }

  renew(token: string, nowMs: number): boolean {
    // compare and set: never over a holder that took the database meanwhile
    return (
      this
        .stmt("UPDATE meta SET value = json_set(value, '$.renewedMs', ?) WHERE key = 'holder' AND json_extract(value, '$.token') = ?")
        .run(nowMs, token).changes === 1
    );
  }

  release(token: string): void {
    const r = this.stmt("SELECT value FROM meta WHERE key = 'holder'").get() as { value: string } | undefined;
    if (r && (JSON.parse(r.value) as Holder).token === token) this.stmt("DELETE FROM meta WHERE key = 'holder'").run();
  }
}
