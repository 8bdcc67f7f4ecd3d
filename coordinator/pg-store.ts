// The journal on PostgreSQL (--store postgres://…): the same statements as SQLite (store.ts), a
// schema of the same version, and leadership. Coordinators sharing the database take turns: the
// one holding the lease row leads under an epoch, and every write it makes is fenced by that epoch
// inside its own transaction, so a deposed leader's write is refused by the database itself.
import { ZddError } from '../lib/errors.js';
import { SyncPg, redactUrl, type SyncPgOptions } from './pg-sync.js';
import { SCHEMA_VERSION, SqlStore, type Holder, type SqlDb, type SqlStatement } from './store.js';

/** The version SCHEMA creates: the SQLite migrations' count when PostgreSQL came. */
const PG_BASE_VERSION = 6;

/** The schema at PG_BASE_VERSION, as the SQLite migrations leave it (bigint for every number: times are in ms). */
const SCHEMA = `
CREATE TABLE agents (
  id TEXT COLLATE "C" PRIMARY KEY, hostname TEXT NOT NULL, labels_json TEXT NOT NULL, advertise TEXT NOT NULL,
  port_offset BIGINT NOT NULL, edge_mode TEXT NOT NULL, agent_version TEXT NOT NULL, last_seen_ms BIGINT NOT NULL,
  cordoned_ms BIGINT NOT NULL DEFAULT 0, drain TEXT NOT NULL DEFAULT '');
CREATE TABLE services (
  name TEXT COLLATE "C" PRIMARY KEY, revision BIGINT NOT NULL, spec_json TEXT NOT NULL, live_version TEXT NOT NULL DEFAULT '',
  updated_ms BIGINT NOT NULL, previous_version TEXT NOT NULL DEFAULT '');
CREATE TABLE service_specs (
  name TEXT NOT NULL, revision BIGINT NOT NULL, spec_json TEXT NOT NULL, created_ms BIGINT NOT NULL, PRIMARY KEY (name, revision));
CREATE TABLE rollouts (
  rowid BIGSERIAL, id TEXT PRIMARY KEY, service TEXT NOT NULL, revision BIGINT NOT NULL, version TEXT NOT NULL,
  from_version TEXT NOT NULL, strategy TEXT NOT NULL, params_json TEXT NOT NULL, state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '', created_ms BIGINT NOT NULL, ended_ms BIGINT NOT NULL DEFAULT 0,
  forced_kills BIGINT NOT NULL DEFAULT 0, failed_hosts BIGINT NOT NULL DEFAULT 0, pause_reason TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL DEFAULT '', abort_reason TEXT NOT NULL DEFAULT '', abort_outcome TEXT NOT NULL DEFAULT '',
  promote_seq BIGINT NOT NULL DEFAULT 0, created_by TEXT NOT NULL DEFAULT '');
CREATE INDEX rollouts_by_service ON rollouts (service, created_ms);
CREATE TABLE steps (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id), seq BIGINT NOT NULL, batch BIGINT NOT NULL,
  phase BIGINT NOT NULL, kind TEXT NOT NULL, agent_id TEXT NOT NULL, args_json TEXT NOT NULL,
  state TEXT NOT NULL, attempt BIGINT NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '', result_json TEXT NOT NULL DEFAULT '', started_ms BIGINT NOT NULL DEFAULT 0,
  ended_ms BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (rollout_id, seq));
CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL, at_ms BIGINT NOT NULL, level TEXT NOT NULL,
  agent_id TEXT NOT NULL DEFAULT '', message TEXT NOT NULL, kind TEXT NOT NULL DEFAULT '');
CREATE INDEX events_by_rollout ON events (rollout_id, id);
CREATE TABLE traffic (service TEXT PRIMARY KEY, generation BIGINT NOT NULL, doc_json TEXT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE TABLE traffic_diffs (service TEXT NOT NULL, generation BIGINT NOT NULL, diff_json TEXT NOT NULL, PRIMARY KEY (service, generation));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('instance_id', substr(md5(random()::text || clock_timestamp()::text), 1, 8));
CREATE TABLE join_tokens (
  id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
  created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, used_ms BIGINT NOT NULL DEFAULT 0, created_by TEXT NOT NULL);
CREATE TABLE certificates (
  rowid BIGSERIAL, fingerprint TEXT PRIMARY KEY, kind TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, role TEXT NOT NULL,
  issued_ms BIGINT NOT NULL, not_after_ms BIGINT NOT NULL, revoked_ms BIGINT NOT NULL DEFAULT 0);
CREATE INDEX certificates_by_principal ON certificates (kind, name);
CREATE TABLE audit (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, principal TEXT NOT NULL, role TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE parked (
  service TEXT COLLATE "C" NOT NULL, agent_id TEXT COLLATE "C" NOT NULL, backend_json TEXT NOT NULL, reason TEXT NOT NULL,
  since_ms BIGINT NOT NULL, PRIMARY KEY (service, agent_id, backend_json));
CREATE FUNCTION zdd_fence(expected BIGINT) RETURNS void AS $fence$
DECLARE now_epoch BIGINT; live BOOLEAN;
BEGIN
  SELECT epoch, expires_at > clock_timestamp() INTO now_epoch, live FROM zdd_leader WHERE id = 1 FOR SHARE;
  IF now_epoch IS DISTINCT FROM expected OR NOT live THEN
    RAISE EXCEPTION 'ZDD_FENCE % %', now_epoch, live USING ERRCODE = 'ZD001';
  END IF;
  PERFORM set_config('zdd.epoch', expected::text, true);
END $fence$ LANGUAGE plpgsql;
CREATE TABLE zdd_leader (
  id INTEGER PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, holder_json TEXT NOT NULL,
  backend_pid INTEGER NOT NULL, backend_start TIMESTAMPTZ, expires_at TIMESTAMPTZ NOT NULL);
INSERT INTO zdd_leader VALUES (1, 0, '{}', 0, NULL, '-infinity');
INSERT INTO meta (key, value) VALUES ('schema_version', '${PG_BASE_VERSION}');`;

/**
 * Schema changes after the version SCHEMA creates, by the version they bring the schema to: each
 * the PostgreSQL form of the SQLite migration of the same number (store.ts MIGRATIONS). A
 * coordinator with a migration of SQLite's and none here refuses to start (INTERNAL).
 */
const MIGRATIONS_AFTER: Record<number, string> = {};

/** The schema versions SQLite has and PostgreSQL lacks a migration to (none, or a coordinator refuses to start on PostgreSQL). */
export const missingPgMigrations = (): number[] =>
  Array.from({ length: Math.max(0, SCHEMA_VERSION - PG_BASE_VERSION) }, (_, i) => PG_BASE_VERSION + 1 + i).filter((v) => !MIGRATIONS_AFTER[v]);

/**
 * Server settings of a leader's connections: a session idle inside a transaction (its process
 * frozen or cut off while it held the fence's lock) is ended well within a lease, so that a
 * standby's takeover is never stuck behind it; no statement waits long for a lock.
 */
export const journalSettings = (leaseMs: number) => ({ idle_in_transaction_session_timeout: Math.max(500, Math.round(leaseMs * 0.3)), lock_timeout: 2000, statement_timeout: 30_000 });
export const LEASE_SETTINGS = { lock_timeout: 1000, statement_timeout: 2500 };

/** Anything that names this session's backend: a leader's lease is void once its session is gone. */
const SESSION = `backend_pid = pg_backend_pid(), backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())`;
/**
 * Whether the lease row's session is still there. Another role's session shows its pid but not
 * its start (NULL): the pid alone decides then.
 */
const SESSION_LIVES = `EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid AND (a.backend_start IS NULL OR a.backend_start = l.backend_start))`;
const EXPIRES = `clock_timestamp() + $2::float8 * interval '1 millisecond'`;

export interface Leader {
  epoch: number;
  holder: Holder | undefined;
  /** its lease runs and its session is there */
  live: boolean;
}

/** `?` and `@name` placeholders as PostgreSQL's $1, $2…, with a function that orders the arguments. */
function translate(sql: string): { text: string; values: (args: unknown[]) => unknown[] } {
  const names: string[] = [];
  const text = sql.replace(/@([A-Za-z_]\w*)|\?/g, (_m, name: string | undefined) => {
    names.push(name ?? '');
    return `$${names.length}`;
  });
  const named = names.some(Boolean);
  return {
    text,
    values: (args) => (named ? names.map((n) => (args[0] as Record<string, unknown>)[n] ?? null) : args.map((v) => v ?? null)),
  };
}

/** Opens the connection and brings the schema to this coordinator's version (refusing a database that is not zdd's). */
export function openPg(url: string, opts: SyncPgOptions = {}): SyncPg {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ZddError('INVALID_ARGUMENT', `--store ${redactUrl(url)} is not a PostgreSQL URL`, { hint: 'write postgres://USER:PASSWORD@HOST:5432/DATABASE, or leave --store out for SQLite (--db)' });
  }
  const pg = new SyncPg(url, opts);
  try {
    pg.tx(() => {
      // coordinators starting together migrate one after the other
      pg.query("SELECT pg_advisory_xact_lock(hashtext('zdd-schema'))");
      const tables = pg.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'").rows.map((r) => String(r.table_name));
      if (tables.length && !tables.includes('zdd_leader')) {
        throw new ZddError('DB_ERROR', `${redactUrl(url)} holds tables that are not zdd's (${tables.slice(0, 5).join(', ')}…); nothing was changed`, {
          hint: 'give zdd a database (or a schema, with ?options=-c%20search_path%3Dzdd) of its own',
        });
      }
      if (!tables.length) pg.query(SCHEMA);
      const version = Number(pg.query("SELECT value FROM meta WHERE key = 'schema_version'").rows[0]?.value ?? 0);
      if (version > SCHEMA_VERSION) {
        throw new ZddError('DB_ERROR', `${redactUrl(url)} has schema version ${version}, newer than this coordinator's ${SCHEMA_VERSION}; nothing was changed`, {
          hint: 'run the newer zdd-coordinator that wrote it',
        });
      }
      for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
        const sql = MIGRATIONS_AFTER[v];
        if (!sql) throw new ZddError('INTERNAL', `no PostgreSQL migration to schema version ${v}`);
        pg.query(sql);
      }
      if (version !== SCHEMA_VERSION) pg.query("UPDATE meta SET value = $1 WHERE key = 'schema_version'", [String(SCHEMA_VERSION)]);
    });
  } catch (err) {
    pg.close();
    throw err;
  }
  return pg;
}

/**
 * The lease row (zdd_leader): who leads, under which epoch, until when, and from which database
 * session. Its clock is the database's, so coordinators' clocks need not agree.
 */
export class Leadership {
  constructor(readonly pg: SyncPg) {}

  /**
   * Takes the lease if it ran out, or if its holder's session is gone (its process died, or lost
   * its connection: a leader stops acting the moment its own session is gone, so it cannot lead on
   * unaware). The new epoch, or 0.
   */
  lead(h: Holder, ttlMs: number): number {
    const r = this.pg.query(
      `UPDATE zdd_leader l SET epoch = l.epoch + 1, holder_json = $1, ${SESSION}, expires_at = ${EXPIRES}
       WHERE l.id = 1 AND (l.expires_at < clock_timestamp() OR NOT ${SESSION_LIVES})
       RETURNING epoch`,
      [JSON.stringify(h), ttlMs],
    );
    return r.rows.length ? Number(r.rows[0].epoch) : 0;
  }

  /** Extends the lease of `epoch`; false when another coordinator leads now. */
  renew(epoch: number, ttlMs: number): boolean {
    return this.pg.query(`UPDATE zdd_leader SET expires_at = ${EXPIRES}, ${SESSION} WHERE id = 1 AND epoch = $1`, [epoch, ttlMs]).rowCount === 1;
  }

  /** Gives the lease up at once (a clean stop): a standby need not wait it out, and the term's epoch is over (its writes are refused). */
  resign(epoch: number): void {
    this.pg.query("UPDATE zdd_leader SET epoch = epoch + 1, expires_at = '-infinity', backend_pid = 0 WHERE id = 1 AND epoch = $1", [epoch]);
  }

  leader(): Leader {
    const r = this.pg.query(
      `SELECT epoch, holder_json, expires_at > clock_timestamp() AND ${SESSION_LIVES} AS live FROM zdd_leader l WHERE id = 1`,
    ).rows[0];
    const holder = r && r.holder_json !== '{}' ? (JSON.parse(String(r.holder_json)) as Holder) : undefined;
    return { epoch: Number(r?.epoch ?? 0), holder, live: !!r?.live };
  }
}

/**
 * The journal of one term of leadership: its writes are refused (DB_HELD) once another
 * coordinator took the lease, or the term's lease ran out or was given up, checked inside each
 * write's own transaction. The row is locked for share, so a takeover waits for a write under way
 * (a session idle in a transaction is ended by the server: journalSettings) and every later write
 * sees the new epoch.
 */
export class PostgresStore extends SqlStore {
  constructor(
    pg: SyncPg,
    readonly epoch: number,
    onDeposed: (epochNow: number) => void = () => undefined,
  ) {
    // the fence runs in the database, in the same hop as BEGIN: zdd_fence() raises when another
    // epoch leads or the lease ran out, and keeps the epoch with the transaction (zdd.epoch)
    const fence = [{ sql: 'SELECT zdd_fence($1)', params: [epoch] }];
    const fenced = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        const m = /ZDD_FENCE (\d+) /.exec(err instanceof Error ? err.message : '');
        if (!m) throw err;
        const now = Number(m[1]);
        onDeposed(now);
        throw new ZddError('DB_HELD', now !== epoch ? `another coordinator leads now (epoch ${now}; this one led epoch ${epoch}): nothing was written` : `this coordinator's lease (epoch ${epoch}) ran out: nothing was written`, {
          hint: 'this coordinator stops acting and waits as a standby',
        });
      }
    };
    const db: SqlDb = {
      prepare(sql: string): SqlStatement {
        const { text, values } = translate(sql);
        return {
          // a write outside a transaction is one of its own, fenced like the others, in one hop
          run: (...a) => ({ changes: fenced(() => pg.atomically({ sql: text, params: values(a) }, fence)).rowCount }),
          get: (...a) => pg.query(text, values(a)).rows[0],
          all: (...a) => pg.query(text, values(a)).rows,
        };
      },
      tx: (fn) => fenced(() => pg.tx(fn, fence)),
      get inTransaction() {
        return pg.inTransaction;
      },
      close: () => pg.close(),
    };
    super(db);
  }
}
