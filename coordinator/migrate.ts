// zddctl store migrate: an existing SQLite journal copied whole into an empty PostgreSQL database,
// for coordinators that will share it. The coordinator must be stopped (the SQLite file's lease
// says so), and no coordinator may lead on PostgreSQL (the copy takes the lease itself, fenced like
// any leader's write, and gives it up): the file is read in one snapshot and written in one
// transaction, all or nothing. The file is then marked as moved, and a coordinator refuses it.
import os from 'node:os';
import Database from 'better-sqlite3';
import { ZddError } from '../lib/errors.js';
import { processStartTicks } from '../lib/proc.js';
import { Leadership, PostgresStore, openPg } from './pg-store.js';
import { redactUrl } from './pg-sync.js';
import { SqliteStore, type Holder } from './store.js';
import { bootId } from './server.js';

/** In an order that keeps references whole (a step's rollout first), each with the column that orders it. */
const TABLES: [name: string, order: string, serial?: string][] = [
  ['meta', 'key'],
  ['agents', 'id'],
  ['services', 'name'],
  ['service_specs', 'name, revision'],
  ['rollouts', 'rowid'],
  ['steps', 'rollout_id, seq'],
  ['events', 'id', 'id'],
  ['traffic', 'service'],
  ['traffic_diffs', 'service, generation'],
  ['join_tokens', 'id'],
  ['certificates', 'rowid'],
  ['audit', 'id', 'id'],
  ['parked', 'service, agent_id'],
];

const ROWS_PER_INSERT = 500;

export function migrateSqliteToPostgres(file: string, url: string, nowMs = Date.now()): Record<string, number> {
  const holder: Holder = { token: `migrate-${process.pid}-${nowMs}`, pid: process.pid, startTicks: processStartTicks(process.pid) ?? 0, hostname: os.hostname(), bootId: bootId(), listen: 'zddctl store migrate', startedMs: nowMs, renewedMs: nowMs };
  // opened as the coordinator opens it: refused while a coordinator holds it, and brought to this version's schema
  const alive = (h: Holder) => (h.hostname === holder.hostname && h.bootId === holder.bootId && h.startTicks ? processStartTicks(h.pid) === h.startTicks : undefined);
  new SqliteStore(file, { beforeMigrate: (s) => s.acquire(holder, nowMs, 15_000, alive) }).close();
  const sqlite = new Database(file, { readonly: true, fileMustExist: true });
  const pg = openPg(url);
  const counts: Record<string, number> = {};
  try {
    const leadership = new Leadership(pg);
    const epoch = leadership.lead(holder, 60_000);
    if (!epoch) {
      const l = leadership.leader();
      throw new ZddError('DB_HELD', `a coordinator leads on ${redactUrl(url)} (${l.holder?.listen ?? 'unknown'}); nothing was copied`, { hint: 'migrate into a database no coordinator uses yet: stop them, or give the copy a new database' });
    }
    try {
      const store = new PostgresStore(pg, epoch);
      if (store.listRollouts(undefined, 1).length || store.agentCount() || store.certificates().length) {
        throw new ZddError('INVALID_ARGUMENT', `${redactUrl(url)} already holds a zdd journal; nothing was copied`, { hint: 'migrate into a new, empty database' });
      }
      // every table read in one snapshot of the file
      const tables = sqlite.transaction(() => TABLES.map(([table, order]) => sqlite.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Record<string, unknown>[]))();
      store.batch(() => {
        // the schema's own rows give way to the copied ones (the instance id above all: command ids carry it)
        pg.query("DELETE FROM meta WHERE key IN ('instance_id')");
        for (const [i, [table, , serial]] of TABLES.entries()) {
          let rows = tables[i];
          if (table === 'meta') rows = rows.filter((r) => r.key === 'instance_id');
          counts[table] = rows.length;
          for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
            const chunk = rows.slice(i, i + ROWS_PER_INSERT);
            const cols = Object.keys(chunk[0]);
            const values: unknown[] = [];
            const tuples = chunk.map((r) => `(${cols.map((c) => `$${values.push(r[c])}`).join(', ')})`);
            pg.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${tuples.join(', ')}`, values);
          }
          if (serial && rows.length) pg.query(`SELECT setval(pg_get_serial_sequence('${table}', '${serial}'), (SELECT max(${serial}) FROM ${table}))`);
        }
      });
    } finally {
      leadership.resign(epoch);
    }
  } finally {
    pg.close();
    sqlite.close();
    const s = new SqliteStore(file);
    s.release(holder.token);
    s.close();
  }
  // the file is marked: a coordinator started on it by mistake (systemd's restart, an old unit)
  // refuses, instead of running rollouts beside the leader on PostgreSQL
  const marked = new Database(file);
  try {
    marked.prepare("INSERT INTO meta (key, value) VALUES ('migrated_to', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(`${redactUrl(url)} at ${new Date(nowMs).toISOString()}`);
  } finally {
    marked.close();
  }
  return counts;
}
