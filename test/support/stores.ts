// The journal a unit test runs against: SQLite in the test's directory, or, when the file was
// loaded by a *-pg test (ZDD_TEST_PG_URL set), a new database on that test's own PostgreSQL.
import path from 'node:path';
import { SqliteStore, type SqlStore } from '../../coordinator/store.js';
import { Leadership, PostgresStore, openPg } from '../../coordinator/pg-store.js';
import { SyncPg } from '../../coordinator/pg-sync.js';

let made = 0;

export const testHolder = (listen: string) => ({ token: listen, pid: process.pid, startTicks: 0, hostname: 'test', bootId: '', listen, startedMs: Date.now(), renewedMs: Date.now() });

/** A database of its own on the PostgreSQL at `url` (same server, new name). */
export function newPgDatabase(url: string): string {
  const name = `t${process.pid}_${++made}`;
  const admin = new SyncPg(url);
  try {
    admin.query(`CREATE DATABASE ${name}`);
  } finally {
    admin.close();
  }
  return url.replace(/\/[^/]*$/, `/${name}`);
}

export function journalStore(dir: string): SqlStore {
  const url = process.env.ZDD_TEST_PG_URL;
  if (!url) return new SqliteStore(path.join(dir, 'db'));
  const pg = openPg(newPgDatabase(url));
  const epoch = new Leadership(pg).lead(testHolder('test'), 3_600_000);
  return new PostgresStore(pg, epoch);
}
