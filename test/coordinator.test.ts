// The coordinator refuses to start where it would be unsafe, and says why.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from '../lib/paths.js';
import { runCoordinator } from './support/fleet.js';

const coordinator = runCoordinator;

test('plaintext gRPC on a non-loopback address is refused without --insecure', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-coord-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = coordinator(['--listen', '0.0.0.0:0', '--plaintext', '--db', path.join(dir, 'zdd.db')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /refusing plaintext gRPC on 0\.0\.0\.0:0/);
  t.regex(r.stderr, /drop --plaintext to serve TLS, or add --insecure/);
  t.false(fs.existsSync(path.join(dir, 'zdd.db')), 'nothing was created');
});

test("a database that is not zdd's is refused and left unmodified", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-coord-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'other.db');
  const db = new Database(file);
  db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (9.5);");
  db.close();
  const before = fs.readFileSync(file);
  const r = coordinator(['--listen', '127.0.0.1:0', '--db', file]);
  t.is(r.status, 1);
  t.regex(r.stderr, /is a SQLite database that does not belong to zdd; it was not modified/);
  t.true(fs.readFileSync(file).equals(before));
});

test('an agent refuses an advertise address that is not an IP: nginx could not reach it', (t) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/zdd-agent.js'), '--coordinator', '127.0.0.1:1', '--advertise', 'app1.internal', '--state-dir', os.tmpdir()], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  t.is(r.status, 1);
  t.regex(r.stderr, /--advertise app1\.internal must be an IP address/);
});
