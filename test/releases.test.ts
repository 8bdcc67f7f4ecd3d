// Staging releases on a host (agent/releases.ts) against the real file system, tar and HTTP: what
// an artifact may contain, what a bad one leaves behind (nothing), and which releases are kept.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Releases, checkMembers, tarMembers } from '../agent/releases.js';
import { ZddError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { writeTarGz, type TarEntry } from './support/tar.js';
import { runBounded, commandEnv } from '../agent/run.js';
import { processStartTicks } from '../lib/proc.js';
import { until } from './support/fleet.js';

const tmp = (t: { teardown(fn: () => void): void }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-releases-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const app: TarEntry[] = [
  { name: 'server.js', data: 'console.log("hi")\n' },
  { name: 'lib/', type: '5', mode: 0o755 },
  { name: 'lib/util.js', data: 'export {}\n' },
  { name: 'current', type: '2', linkname: 'lib/util.js' },
];

const nothingLeft = (root: string, service = 'web') =>
  fs.existsSync(path.join(root, service)) ? fs.readdirSync(path.join(root, service)).filter((f) => f !== 'v1') : [];

async function fails(p: Promise<unknown>): Promise<ZddError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ZddError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

test('a release is fetched, checked, unpacked into RELEASES/SERVICE/VERSION and prepared; staging it again reuses it', async (t) => {
  const dir = tmp(t);
  const a = writeTarGz(path.join(dir, 'web-v1.tar.gz'), app);
  const r = new Releases(path.join(dir, 'releases'), silentLogger, () => []);
  const args = { service: 'web', version: 'v1', url: a.file, sha256: a.sha256, keep: 3, env: { GREETING: 'hello' }, prepare: { argv: ['/bin/sh', '-c', 'echo "$GREETING $ZDD_VERSION" > prepared.txt; pwd'], timeoutMs: 5000 } };
  const res = await r.stage(args, () => undefined);
  const rel = path.join(dir, 'releases/web/v1');
  t.is(res.dir, rel);
  t.false(res.reused);
  t.is(fs.readFileSync(path.join(rel, 'server.js'), 'utf8'), 'console.log("hi")\n');
  t.is(fs.readlinkSync(path.join(rel, 'current')), 'lib/util.js');
  t.is(fs.readFileSync(path.join(rel, 'prepared.txt'), 'utf8'), 'hello v1\n');
  t.true(r.has('web', 'v1'));
  t.true((await r.stage(args, () => undefined)).reused);
  // a version's release never changes
  const other = writeTarGz(path.join(dir, 'other.tar.gz'), [{ name: 'server.js', data: 'other' }]);
  const err = await fails(r.stage({ ...args, url: other.file, sha256: other.sha256 }, () => undefined));
  t.regex(err.message, /already staged on this host from another artifact/);
});

test('a checksum mismatch, an unreachable URL, an HTTP error and a failing prepare command stage nothing', async (t) => {
  const dir = tmp(t);
  const a = writeTarGz(path.join(dir, 'web-v2.tar.gz'), app);
  const root = path.join(dir, 'releases');
  const r = new Releases(root, silentLogger, () => []);
  const base = { service: 'web', version: 'v2', keep: 3, env: {} };

  let err = await fails(r.stage({ ...base, url: a.file, sha256: 'b'.repeat(64) }, () => undefined));
  t.is(err.code, 'CHECKSUM_MISMATCH');
  t.regex(err.message, new RegExp(`has sha256 ${a.sha256}, not the expected b{64}; nothing was staged`));

  err = await fails(r.stage({ ...base, url: 'http://127.0.0.1:1/web-v2.tar.gz', sha256: a.sha256 }, () => undefined));
  t.is(err.code, 'ARTIFACT_UNAVAILABLE');
  t.regex(err.message, /cannot fetch the artifact http:\/\/127\.0\.0\.1:1\/web-v2\.tar\.gz: ECONNREFUSED/);

  const server = http.createServer((req, res) => {
    if (req.url === '/web-v2.tar.gz') return fs.createReadStream(a.file).pipe(res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  err = await fails(r.stage({ ...base, url: `http://127.0.0.1:${port}/missing.tar.gz`, sha256: a.sha256 }, () => undefined));
  t.regex(err.message, /HTTP 404; nothing was staged/);

  err = await fails(r.stage({ ...base, url: `http://127.0.0.1:${port}/web-v2.tar.gz`, sha256: a.sha256, prepare: { argv: ['/bin/sh', '-c', 'echo cannot build >&2; exit 4'], timeoutMs: 5000 } }, () => undefined));
  t.is(err.code, 'PREPARE_FAILED');
  t.regex(err.message, /exit status 4\): cannot build/);
  t.deepEqual(nothingLeft(root), [], 'no release, staging directory or download is left');

  // the same URL over HTTP, now without the failing prepare: staged
  const ok = await r.stage({ ...base, url: `http://127.0.0.1:${port}/web-v2.tar.gz`, sha256: a.sha256 }, () => undefined);
  t.is(ok.bytes, fs.statSync(a.file).size);
  t.true(fs.existsSync(path.join(root, 'web/v2/server.js')));
});

test('members that would land outside the release directory, links out of it and special files are refused before anything is unpacked', async (t) => {
  const dir = tmp(t);
  const root = path.join(dir, 'releases');
  const r = new Releases(root, silentLogger, () => []);
  const outside = path.join(dir, 'escaped.txt');
  const bad: [string, TarEntry][] = [
    ['parent', { name: '../escaped.txt', data: 'x' }],
    ['deeper parent', { name: 'lib/../../escaped.txt', data: 'x' }],
    ['absolute', { name: outside, data: 'x' }],
    ['symlink out', { name: 'etc', type: '2', linkname: '../../../etc' }],
    ['absolute symlink', { name: 'passwd', type: '2', linkname: '/etc/passwd' }],
    ['hard link out', { name: 'h', type: '1', linkname: '../escaped.txt' }],
    ['device', { name: 'null', type: '3' }],
    ['file through a link', { name: 'lib/x', type: '2', linkname: '.' }],
  ];
  // with a link "a" to ".", a/a/a/.zdd-release.json looks inside, but is written through the link
  bad.push(['member below a link', { name: 'a/a/.zdd-release.json', type: '2', linkname: '../../../victim' }]);
  for (const [what, entry] of bad) {
    const extra: TarEntry[] = what === 'member below a link' ? [{ name: 'a', type: '2', linkname: '.' }] : what === 'file through a link' ? [] : [];
    const a = writeTarGz(path.join(dir, `bad-${what.replace(/ /g, '-')}.tar.gz`), [...app, ...extra, entry, ...(what === 'file through a link' ? [{ name: 'lib/x/evil.js', data: 'x' }] : [])]);
    const err = await fails(r.stage({ service: 'web', version: 'v9', url: a.file, sha256: a.sha256, keep: 3, env: {} }, () => undefined));
    t.is(err.code, 'INVALID_ARGUMENT', what);
    t.regex(err.message, /artifact member .* (would land outside the release directory|outside the release directory|special file, which a release may not contain|could be written through that link); nothing was staged/, what);
  }
  // links that only a real resolution shows outside: "a" → ".", then "b" → "a/.." is the parent
  const chained = writeTarGz(path.join(dir, 'chained.tar.gz'), [...app, { name: 'a', type: '2', linkname: '.' }, { name: 'b', type: '2', linkname: 'a/..' }]);
  const err = await fails(r.stage({ service: 'web', version: 'v9', url: chained.file, sha256: chained.sha256, keep: 3, env: {} }, () => undefined));
  t.regex(err.message, /artifact member "b" is a link that resolves to .*, outside the release directory; nothing was staged/);
  // a dangling link judged as the kernel resolves it: "up" → three levels up, then "L" through it
  const dangling = writeTarGz(path.join(dir, 'dangling.tar.gz'), [
    ...app,
    { name: 'a/', type: '5', mode: 0o755 },
    { name: 'a/b/', type: '5', mode: 0o755 },
    { name: 'a/b/c/', type: '5', mode: 0o755 },
    { name: 'a/b/c/up', type: '2', linkname: '../../..' },
    { name: 'L', type: '2', linkname: 'a/b/c/up/../../x' },
  ]);
  t.regex((await fails(r.stage({ service: 'web', version: 'v9', url: dangling.file, sha256: dangling.sha256, keep: 3, env: {} }, () => undefined))).message, /artifact member "L" is a link that resolves to .*, outside the release directory/);
  // GNU tar applies a global pax header's path, linkpath or size to every later member: refused
  const paxRecord = (kv: string) => {
    let len = kv.length + 3;
    if (String(len).length + kv.length + 2 !== len) len = String(len + 1).length + kv.length + 2;
    return `${len} ${kv}\n`;
  };
  const global = writeTarGz(path.join(dir, 'global.tar.gz'), [{ name: 'pax_global_header', type: 'g', data: paxRecord('linkpath=/etc') }, ...app]);
  t.regex((await fails(r.stage({ service: 'web', version: 'v9', url: global.file, sha256: global.sha256, keep: 3, env: {} }, () => undefined))).message, /global pax header setting linkpath/);
  // a comment in one, as git archive writes, is fine
  const archived = writeTarGz(path.join(dir, 'archived.tar.gz'), [{ name: 'pax_global_header', type: 'g', data: paxRecord('comment=0123456789abcdef0123456789abcdef01234567') }, ...app]);
  t.false((await r.stage({ service: 'web', version: 'v8', url: archived.file, sha256: archived.sha256, keep: 3, env: {} }, () => undefined)).reused);
  t.false(fs.existsSync(outside));
  t.deepEqual(nothingLeft(root).filter((f) => f !== 'v8'), []);
  // the reader sees what tar itself writes, long names included
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'a'.repeat(120)), { recursive: true });
  fs.writeFileSync(path.join(src, 'a'.repeat(120), 'b'.repeat(120) + '.js'), 'x');
  fs.symlinkSync('a'.repeat(120), path.join(src, 'link'));
  const made = spawnSync('tar', ['-czf', path.join(dir, 'long.tar.gz'), '-C', src, '.']);
  t.is(made.status, 0);
  const members = await tarMembers(path.join(dir, 'long.tar.gz'));
  t.true(members.some((m) => m.name.endsWith(`${'a'.repeat(120)}/${'b'.repeat(120)}.js`) && m.size === 1));
  t.notThrows(() => checkMembers(members));
  await t.throwsAsync(tarMembers(path.join(dir, 'escaped-not-there')), { instanceOf: ZddError });
  fs.writeFileSync(path.join(dir, 'not.tar.gz'), crypto.randomBytes(2000));
  await t.throwsAsync(tarMembers(path.join(dir, 'not.tar.gz')), { message: /not a readable \.tar\.gz/ });
});

test('only the newest releases are kept (release.keep), never one an instance runs', async (t) => {
  const dir = tmp(t);
  const root = path.join(dir, 'releases');
  let running = ['v1'];
  const r = new Releases(root, silentLogger, () => running);
  for (const v of ['v1', 'v2', 'v3', 'v4']) {
    const a = writeTarGz(path.join(dir, `${v}.tar.gz`), [{ name: 'server.js', data: v }]);
    const res = await r.stage({ service: 'web', version: v, url: a.file, sha256: a.sha256, keep: 2, env: {} }, () => undefined);
    if (v === 'v3') t.deepEqual(res.pruned, [], 'v1 runs: kept although beyond keep');
    await new Promise((res) => setTimeout(res, 20)); // distinct staging times
  }
  const listed = () => fs.readdirSync(path.join(root, 'web')).filter((f) => !f.startsWith('.')).sort();
  t.deepEqual(listed(), ['v1', 'v3', 'v4']);
  t.deepEqual(r.pruned('web'), ['v2'], 'a removed release is remembered: starting it later says so');
  running = [];
  const a = writeTarGz(path.join(dir, 'v5.tar.gz'), [{ name: 'server.js', data: 'v5' }]);
  const res = await r.stage({ service: 'web', version: 'v5', url: a.file, sha256: a.sha256, keep: 2, env: {} }, () => undefined);
  t.deepEqual(res.pruned.sort(), ['v1', 'v3']);
  t.deepEqual(listed(), ['v4', 'v5']);
});

const root = process.getuid?.() === 0;
(root ? test : test.skip)(
  root ? 'a disk too small for the release is reported with the space needed and free, and nothing is left on it' : 'a disk too small for the release (skipped: mounting a small tmpfs needs root)',
  async (t) => {
    const dir = tmp(t);
    const mnt = path.join(dir, 'small');
    fs.mkdirSync(mnt);
    t.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]).status, 0, 'mount tmpfs');
    t.teardown(() => spawnSync('umount', ['-l', mnt]));
    const r = new Releases(path.join(mnt, 'releases'), silentLogger, () => []);
    // a small artifact that unpacks to 4 MB, and an incompressible 3 MB one
    const zeros = writeTarGz(path.join(dir, 'zeros.tar.gz'), [{ name: 'big.bin', data: Buffer.alloc(4 << 20) }]);
    let err = await fails(r.stage({ service: 'web', version: 'v2', url: zeros.file, sha256: zeros.sha256, keep: 3, env: {} }, () => undefined));
    t.is(err.code, 'DISK_FULL');
    t.regex(err.message, /not enough disk space on .*small\/releases\/web to stage web v2: unpacking \(4\.2 MB\) needs about \d+\.\d MB, \d+\.\d MB free; nothing was staged/);
    const random = writeTarGz(path.join(dir, 'random.tar.gz'), [{ name: 'big.bin', data: crypto.randomBytes(3 << 20) }]);
    err = await fails(r.stage({ service: 'web', version: 'v3', url: random.file, sha256: random.sha256, keep: 3, env: {} }, () => undefined));
    t.is(err.code, 'DISK_FULL');
    t.regex(err.message, /the 3\.\d MB artifact needs about/);
    t.deepEqual(nothingLeft(path.join(mnt, 'releases')), []);
  },
);

test('an operator command that leaves a background child is done when it exits; a timeout kills its whole process group', async (t) => {
  const dir = tmp(t);
  let r = await runBounded(['/bin/sh', '-c', `sleep 30 & echo $! > ${dir}/bg; echo started; exit 0`], { cwd: dir, env: commandEnv({}), timeoutMs: 10_000 });
  t.true(r.ok);
  t.is(r.output, 'started');
  t.true(r.ms < 5000, `took ${r.ms}ms`);
  const gone = (pid: number) => processStartTicks(pid) === undefined;
  await until('the background child to be killed with its group', () => gone(Number(fs.readFileSync(path.join(dir, 'bg'), 'utf8'))), 5000);
  r = await runBounded(['/bin/sh', '-c', `sleep 30 & echo $! > ${dir}/bg2; wait`], { cwd: dir, env: commandEnv({}), timeoutMs: 300 });
  t.false(r.ok);
  t.is(r.why, 'killed after 300ms');
  await until('the timed-out command\'s child to be killed', () => gone(Number(fs.readFileSync(path.join(dir, 'bg2'), 'utf8'))), 5000);
  t.pass();
});
