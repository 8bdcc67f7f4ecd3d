// The journal's own failures: a database that cannot be written pauses the rollout before any
// side effect without its entry; databases that are not zdd's, are corrupt or come from a newer
// zdd are refused untouched.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fleetFor, load, rolloutNow, runCoordinator, status, until, versionsServed } from './support/fleet.js';
import { SqliteStore, TRAFFIC_DIFF_MIN_BACKENDS, TRAFFIC_DIFFS_MAX } from '../coordinator/store.js';
import { applyOps, trafficDiff, type TrafficDoc } from '../lib/traffic.js';

const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;

(canMount ? test : test.skip)(
  canMount
    ? 'a journal whose disk fills up pauses the rollout; no traffic moves without its entry; resume finishes it once there is room'
    : 'journal on a full disk (skipped: needs root to mount a small tmpfs)',
  async (t) => {
    const dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-journal-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dbDir]);
    t.teardown(() => {
      spawnSync('umount', ['-l', dbDir]);
      fs.rmSync(dbDir, { recursive: true, force: true });
    });
    const fleet = await fleetFor(t, { dbDir });
    fleet.writeRelease('v1');
    fleet.writeRelease('v2');
    // a slow health gate: the disk fills up while batch 1's new instance is gated
    const spec = fleet.spec({ health: { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, minHealthy: '4s', deadline: '20s' } });
    t.is((await fleet.apply(spec)).code, 0);
    t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%'])).code, 0);
    const gen = load(fleet, 150, 8);
    t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--detach'])).code, 0);
    // asked in-process: a zddctl per look takes seconds on a busy machine, and the gated window is short
    await until('batch 1 to be starting', async () => (await rolloutNow(fleet, 'web-2'))?.steps.some((s: any) => s.kind === 'start' && s.state === 'running'));
    const filler = path.join(dbDir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
    } catch (err) {
      t.is((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    const s = await until('the rollout to pause', async () => {
      const x = await status(fleet, 'web-2');
      return x.state === 'paused' ? x : undefined;
    });
    t.regex(s.pause_reason, /the journal cannot be written: database or disk is full/);
    // SQLite may still fit a write or two into its WAL after the disk is full, so the pause can come
    // a step later; what must hold is that the edge never runs traffic the journal does not record
    const journalled = JSON.parse(s.traffic_json);
    const edgeGen = Number(await (await fetch(`http://${fleet.adminAddr}/zdd/traffic/web`)).text());
    t.is(edgeGen, journalled.generation, 'the edge runs exactly the journalled generation');
    const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
    t.deepEqual(sorted(await versionsServed(fleet.nginxPort)), sorted(journalled.backends.map((b: any) => b.version)), 'and serves exactly its versions');
    let r = await fleet.zddctl(['resume', 'web-2']);
    t.is(r.code, 1);
    t.regex(r.stderr, /the journal still cannot be written/);
    fs.rmSync(filler);
    r = await fleet.zddctl(['resume', 'web-2']);
    t.is(r.code, 0, r.stdout + r.stderr);
    const stats = await gen.stop();
    t.is(stats.failed, 0, JSON.stringify(stats.failures));
    t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
    const starts = [1, 2, 3].map((i) => fleet.executed(i, 'start_instance'));
    t.deepEqual(starts, [2, 2, 2], 'v1 once and v2 once per host: nothing ran twice across the pause');
  },
);

const coordinator = (db: string) => runCoordinator(['--listen', '127.0.0.1:0', '--db', db]);

test('a corrupt database file is refused and left as it was', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-db-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zdd.db');
  const junk = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4096, 0xa5)]);
  fs.writeFileSync(file, junk);
  const r = coordinator(file);
  t.is(r.status, 1);
  t.regex(r.stderr, /is not a readable SQLite database/);
  t.true(fs.readFileSync(file).equals(junk));
});

test('a database written by a newer zdd is refused and left as it was', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-db-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zdd.db');
  const db = new Database(file);
  db.pragma('application_id = 2053399553');
  db.pragma('user_version = 99');
  db.exec('CREATE TABLE future (x)');
  db.close();
  const before = fs.readFileSync(file);
  const r = coordinator(file);
  t.is(r.status, 1);
  t.regex(r.stderr, /has schema version 99, newer than this coordinator's \d+; it was not modified/);
  t.true(fs.readFileSync(file).equals(before));
});

test('the lease: a second holder is refused while the first runs, takes over when it is gone, and the first then cannot renew', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-lease-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zdd.db');
  const holder = (token: string) => ({ token, pid: 1, startTicks: 1, hostname: 'h', bootId: 'b', listen: `127.0.0.1:${token}`, startedMs: 0, renewedMs: Date.now() });
  const a = new SqliteStore(file, { beforeMigrate: (s) => s.acquire(holder('7701'), Date.now(), 15_000, () => undefined) });
  t.teardown(() => a.close());
  t.true(a.renew('7701', Date.now()));
  // the first still runs: refused, naming it
  const err = t.throws(() => new SqliteStore(file, { beforeMigrate: (s) => s.acquire(holder('7702'), Date.now(), 15_000, () => true) }));
  t.regex(err!.message, /held by another coordinator: pid 1 on h, listening on 127\.0\.0\.1:7701/);
  // a fresh lease of a holder elsewhere: refused too
  t.throws(() => new SqliteStore(file, { beforeMigrate: (s) => s.acquire(holder('7702'), Date.now(), 15_000, () => undefined) }), { message: /held by another coordinator/ });
  // the first is gone: the second takes over, and the first's renewal fails from then on
  const b = new SqliteStore(file, { beforeMigrate: (s) => s.acquire(holder('7702'), Date.now(), 15_000, () => false) });
  t.teardown(() => b.close());
  t.false(a.renew('7701', Date.now()));
  t.true(b.renew('7702', Date.now()));
});

test('a large traffic document is journalled as differences between whole copies, and read back the same after a restart', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-traffic-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zdd.db');
  const b = (i: number, version: string) => ({ addr: `10.0.${i >> 8}.${i & 255}:9100`, track: 'stable', weight: 1, agentId: `h${i}`, slot: 'a', version });
  const event = { rolloutId: '', atMs: 0, level: 'info', agentId: '', message: 'x' } as const;
  let store = new SqliteStore(file);
  let doc: TrafficDoc = applyOps(undefined, 'web', [{ op: 'add', backends: [...Array(TRAFFIC_DIFF_MIN_BACKENDS + 50)].map((_, i) => b(i, 'v1')) }], 1);
  store.changeTraffic(doc, [], [], event);
  const rows = (sql: string) => { const db = new Database(file, { readonly: true }); try { return db.prepare(sql).all() as any[]; } finally { db.close(); } };
  // one host at a time: differences, then a whole copy after TRAFFIC_DIFFS_MAX of them
  for (let g = 2; g <= TRAFFIC_DIFFS_MAX + 3; g++) {
    doc = applyOps(doc, 'web', [{ op: 'swap', moves: [{ agentId: `h${g}`, backend: b(g, 'v2') }] }], g);
    store.changeTraffic(doc, [], [], event);
    if (g === 10) {
      t.is(rows('SELECT count(*) AS n FROM traffic_diffs')[0].n, 9);
      t.true(Math.max(...rows('SELECT length(diff_json) AS n FROM traffic_diffs').map((r) => r.n)) < 1000, 'a one-host change journals a few hundred bytes');
      store.close();
      store = new SqliteStore(file);
      t.deepEqual(store.traffic('web'), doc, 'read back from the whole copy and its differences');
    }
  }
  t.is(rows('SELECT generation FROM traffic')[0].generation, TRAFFIC_DIFFS_MAX + 2, 'a whole copy once the differences reach the limit');
  t.is(rows('SELECT count(*) AS n FROM traffic_diffs')[0].n, 1);
  store.close();
  store = new SqliteStore(file);
  t.deepEqual(store.traffic('web'), doc);
  store.close();
  // a difference that does not add up (the file changed by hand) is a clear error, not a wrong document
  const db = new Database(file);
  db.prepare('DELETE FROM traffic_diffs').run();
  db.prepare('INSERT INTO traffic_diffs (service, generation, diff_json) VALUES (?, ?, ?)').run('web', 999, JSON.stringify({ ...trafficDiff(doc, { ...doc, generation: 999 }), base: 998 }));
  db.close();
  store = new SqliteStore(file);
  t.teardown(() => store.close());
  t.throws(() => store.traffic('web'), { message: /the journalled traffic of web does not add up/ });
});
