// The journal on PostgreSQL, on a server of this file's own: the lease and its fencing, refusals of
// databases that are not zdd's or are newer, and `zddctl store migrate` from a SQLite journal. (The
// store's behaviour under the executor runs against both engines: executor-pg.test.ts.)
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../lib/paths.js';
import { TestPostgres } from '../testkit/postgres.js';
import { SyncPg } from '../coordinator/pg-sync.js';
import { Leadership, PostgresStore, missingPgMigrations, openPg } from '../coordinator/pg-store.js';
import { SCHEMA_VERSION, SqliteStore, pendingStep } from '../coordinator/store.js';
import { newPgDatabase, testHolder } from './support/stores.js';

let server: TestPostgres | undefined;
test.before(async () => {
  server = await TestPostgres.start();
});
test.after.always(() => server?.stop());

const event = (message: string) => ({ rolloutId: '', atMs: Date.now(), level: 'info' as const, agentId: '', message });
const count = (pg: SyncPg, sql: string) => Number(pg.query(sql).rows[0].n);

test('one leader at a time: a second is refused while the lease runs and the leader lives; a write of a deposed leader is refused by the database and writes nothing', async (t) => {
  const url = newPgDatabase(server!.url);
  const aLease = openPg(url);
  const aJournal = openPg(url);
  const bLease = openPg(url);
  const bJournal = openPg(url);
  const check = openPg(url);
  t.teardown(() => [aLease, aJournal, bLease, bJournal, check].forEach((c) => c.close()));
  const a = new Leadership(aLease);
  const b = new Leadership(bLease);
  const ea = a.lead(testHolder('10.0.0.1:7700'), 60_000);
  t.is(ea, 1);
  let deposed = 0;
  const storeA = new PostgresStore(aJournal, ea, (now) => (deposed = now));
  storeA.addEvent(event('written by the leader'));
  t.is(b.lead(testHolder('10.0.0.2:7700'), 60_000), 0, 'the lease runs and its holder lives: refused');
  t.deepEqual(b.leader().holder?.listen, '10.0.0.1:7700', 'a standby can name the leader');
  t.true(b.leader().live);
  // the leader's process dies: its session ends, and the lease with it, however long it had
  aLease.close();
  // as soon as PostgreSQL has seen the connection close: milliseconds when quiet, a few seconds on
  // a busy CI machine; the lease itself would have run for a minute
  const closedAt = Date.now();
  let eb = 0;
  while (!(eb = b.lead(testHolder('10.0.0.2:7700'), 60_000)) && Date.now() - closedAt < 20_000) await new Promise((r) => setTimeout(r, 20));
  const tookMs = Date.now() - closedAt;
  t.is(eb, 2, 'taken over under the next epoch');
  t.true(tookMs < 20_000, `long before the lease (60 s) ran out: ${tookMs} ms`);
  const before = count(check, 'SELECT count(*) AS n FROM events');
  t.throws(() => storeA.addEvent(event('written by a deposed leader')), { message: /another coordinator leads now \(epoch 2; this one led epoch 1\): nothing was written/ });
  t.throws(() => storeA.batch(() => storeA.setLiveVersion('web', 'v9')), { message: /another coordinator leads now/ });
  t.is(deposed, 2, 'the deposed leader is told');
  t.is(count(check, 'SELECT count(*) AS n FROM events'), before, 'nothing of it reached the journal');
  t.false(new Leadership(check).renew(ea, 60_000), 'and its lease cannot be renewed');
  const storeB = new PostgresStore(bJournal, eb);
  storeB.addEvent(event('written by the new leader'));
  t.is(count(check, 'SELECT count(*) AS n FROM events'), before + 1);
});

test('a leader that stops renewing (frozen, cut off) loses the lease when it runs out, not before', async (t) => {
  const url = newPgDatabase(server!.url);
  const aLease = openPg(url);
  const bLease = openPg(url);
  t.teardown(() => [aLease, bLease].forEach((c) => c.close()));
  const a = new Leadership(aLease);
  const b = new Leadership(bLease);
  const ea = a.lead(testHolder('a:1'), 1500);
  t.true(a.renew(ea, 1500));
  t.is(b.lead(testHolder('b:1'), 1500), 0, 'its session lives and its lease runs');
  await new Promise((r) => setTimeout(r, 1700));
  t.false(b.leader().live);
  t.is(b.lead(testHolder('b:1'), 1500), ea + 1, 'taken once it ran out');
  t.false(a.renew(ea, 1500));
  b.resign(ea + 1);
  t.is(a.lead(testHolder('a:1'), 1500), ea + 3, 'a clean stop hands over at once (and ends its epoch)');
});

test('a transaction whose connection is lost fails whole: nothing of it commits, and nothing after the loss runs on a new connection', (t) => {
  const url = newPgDatabase(server!.url);
  const lost: string[] = [];
  const journal = openPg(url, { onLost: (why) => lost.push(why) });
  const other = openPg(url);
  t.teardown(() => [journal, other].forEach((c) => c.close()));
  journal.query('CREATE TABLE probe (x INTEGER)');
  const pid = Number(journal.query('SELECT pg_backend_pid() AS p').rows[0].p);
  t.throws(() =>
    journal.tx(() => {
      journal.query('INSERT INTO probe VALUES (1)');
      other.query('SELECT pg_terminate_backend($1)', [pid]);
      journal.query('INSERT INTO probe VALUES (2)');
    }),
  { message: /is unreachable/ });
  t.is(count(other, 'SELECT count(*) AS n FROM probe'), 0, 'neither row');
  t.true(lost.length >= 1, 'the loss is reported');
  journal.query('INSERT INTO probe VALUES (3)');
  t.is(count(other, 'SELECT count(*) AS n FROM probe'), 1, 'the next statement connects again');
});

test('every schema version of SQLite has its PostgreSQL migration', (t) => {
  t.deepEqual(missingPgMigrations(), [], 'add the PostgreSQL form of the new SQLite migration to MIGRATIONS_AFTER in coordinator/pg-store.ts');
});

test('a database with tables that are not zdd\'s, or a schema newer than this zdd, is refused untouched', (t) => {
  const foreign = newPgDatabase(server!.url);
  const raw = new SyncPg(foreign);
  t.teardown(() => raw.close());
  raw.query('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
  t.throws(() => openPg(foreign), { message: /holds tables that are not zdd's \(invoices…\); nothing was changed/ });
  t.is(count(raw, "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"), 1);
  const newer = newPgDatabase(server!.url);
  openPg(newer).close();
  const r2 = new SyncPg(newer);
  t.teardown(() => r2.close());
  r2.query(`UPDATE meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`);
  t.throws(() => openPg(newer), { message: new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this coordinator's ${SCHEMA_VERSION}; nothing was changed`) });
  t.throws(() => openPg('mysql://x@y/z'), { message: /is not a PostgreSQL URL/ });
});

test('zddctl store migrate copies a SQLite journal whole (rollouts, steps, events, traffic, certificates, the instance id), and refuses a database that has one', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-migrate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zdd.db');
  const src = new SqliteStore(file);
  src.applyService('web', '{"name":"web"}', 1);
  const r = src.createRollout(
    { service: 'web', revision: 1, version: 'v1', fromVersion: '', strategy: 'rolling', paramsJson: '{}', state: 'succeeded', error: '', createdMs: 5, endedMs: 6, forcedKills: 0, failedHosts: 0 },
    [pendingStep({ seq: 1, batch: 0, phase: 0, agentId: '', kind: 'finalize', args: {} } as any)],
  );
  src.updateStep(r.id, 1, { state: 'done' }, { service: 'web', generation: 3, backends: [{ addr: '10.0.0.1:8001', track: 'stable', weight: 1, agentId: 'h1', slot: 'a', version: 'v1' }] });
  for (let i = 0; i < 1200; i++) src.addEvent({ ...event(`event ${i}`), rolloutId: r.id });
  src.addCertificate({ fingerprint: 'ab', kind: 'operator', name: 'alice', role: 'admin', issuedMs: 1, notAfterMs: 2, revokedMs: 0 });
  src.upsertAgent({ id: 'h1', hostname: 'h1', labels: { zone: 'a' }, advertise: '10.0.0.1', portOffset: 0, edgeMode: '', agentVersion: '0.1.0', lastSeenMs: 1 });
  const instance = src.instanceId();
  const events = src.events(r.id);
  src.close();
  const url = newPgDatabase(server!.url);
  const run = () => spawnSync(process.execPath, [path.join(ROOT, 'bin/zddctl.js'), 'store', 'migrate', '--from', file, '--to', url], { encoding: 'utf8', timeout: 60_000 });
  const out = run();
  t.is(out.status, 0, out.stderr);
  t.regex(out.stdout, /copied .*1 rollouts, 1 steps, 1200 events/);
  const pg = openPg(url);
  t.teardown(() => pg.close());
  const epoch = new Leadership(pg).lead(testHolder('check'), 60_000);
  t.true(epoch > 0, 'the copy gave the lease up');
  const dst = new PostgresStore(pg, epoch);
  t.is(dst.instanceId(), instance, 'command ids go on with the same instance id');
  t.deepEqual(dst.getRollout(r.id)?.version, 'v1');
  t.is(dst.steps(r.id)[0].state, 'done');
  t.deepEqual(dst.events(r.id), events, 'events with their ids');
  t.is(dst.traffic('web')?.generation, 3);
  t.deepEqual(dst.agent('h1')?.labels, { zone: 'a' });
  t.is(dst.latestCertificate('operator', 'alice')?.fingerprint, 'ab');
  dst.addEvent({ ...event('after'), rolloutId: r.id });
  t.is(dst.events(r.id).at(-1)!.id, events.at(-1)!.id! + 1, 'new events follow the copied ids');
  new Leadership(pg).resign(epoch);
  t.throws(() => new SqliteStore(file), { message: /was moved to PostgreSQL .*; it was not modified/ }, 'the file is marked: a coordinator started on it refuses');
  const again = run();
  t.is(again.status, 1);
  t.regex(again.stderr, /was moved to PostgreSQL/);
  const other = path.join(dir, 'other.db');
  const o = new SqliteStore(other);
  o.applyService('api', '{"name":"api"}', 1);
  o.close();
  const into = spawnSync(process.execPath, [path.join(ROOT, 'bin/zddctl.js'), 'store', 'migrate', '--from', other, '--to', url], { encoding: 'utf8', timeout: 60_000 });
  t.is(into.status, 1);
  t.regex(into.stderr, /already holds a zdd journal; nothing was copied/);
  t.notThrows(() => new SqliteStore(other).close(), 'a refused copy leaves its file usable');
});
