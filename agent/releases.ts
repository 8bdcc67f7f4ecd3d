// Releases staged from artifacts: RELEASES/SERVICE/VERSION. Staging fetches the artifact (a file or
// an http(s) URL) while hashing it, checks the sha256, checks free disk space, validates every
// member of a .tar.gz (nothing may land outside the release directory), unpacks it beside the
// final place, runs the spec's prepare command there, and renames it into place: a release
// directory exists only complete. The last `keep` releases of a service stay (and any one an
// instance runs), so a rollback needs no download.
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ZddError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { StageResult } from '../lib/commands.js';
import { runBounded, commandEnv } from './run.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';

const MARKER = '.zdd-release.json';
const FETCH_TIMEOUT_MS = 10 * 60_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface StageArgs {
  service: string;
  version: string;
  url: string;
  sha256: string;
  keep: number;
  prepare?: { argv: string[]; timeoutMs: number };
  env: Record<string, string>;
}

export const releaseDir = (root: string, service: string, version: string) => path.join(root, service, version);

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * Free bytes (for an unprivileged writer) on the file system that holds `dir`, and the directory
 * for messages. statfs on the directory itself, not systeminformation's fsSize: that lists only
 * some file-system types (no tmpfs), so it can report another file system's space.
 */
export async function freeSpace(dir: string): Promise<{ free: number; mount: string }> {
  const s = await fs.promises.statfs(dir);
  return { free: s.bavail * s.bsize, mount: dir };
}

interface Member {
  name: string;
  type: string;
  linkname: string;
  size: number;
}

const octal = (b: Buffer) => {
  // base-256 for sizes of 8 GB and more
  if (b[0] & 0x80) return b.subarray(1).reduce((n, x) => n * 256 + x, 0);
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
};
const str = (b: Buffer) => b.toString('utf8').replace(/\0.*$/s, '');

/**
 * The members of a .tar.gz, read from the stream (nothing is extracted). Understands ustar, pax
 * (path, linkpath, size) and GNU long names, which is what tar and npm pack write.
 */
export async function tarMembers(file: string): Promise<Member[]> {
  const members: Member[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let skip = 0;
  let meta: Buffer[] | undefined;
  let metaLeft = 0;
  let metaType = '';
  let pending: Partial<Member> = {};
  let ended = false;
  const onBlock = (h: Buffer) => {
    if (h.every((x) => x === 0)) {
      ended = true;
      return;
    }
    const sum = octal(h.subarray(148, 156));
    let calc = 0;
    for (let i = 0; i < 512; i++) calc += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== calc) throw new ZddError('INVALID_ARGUMENT', 'the artifact is not a valid tar archive (bad header checksum)');
    const type = String.fromCharCode(h[156] || 48);
    const size = octal(h.subarray(124, 136));
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      meta = [];
      metaLeft = size;
      metaType = type;
      skip = Math.ceil(size / 512) * 512 - size;
      return;
    }
    // only POSIX ustar ("ustar\0") has a name prefix; old GNU ("ustar  ") keeps other fields there
    const prefix = h.subarray(257, 263).toString('latin1') === 'ustar\0' ? str(h.subarray(345, 500)) : '';
    const name = pending.name ?? (prefix ? `${prefix}/${str(h.subarray(0, 100))}` : str(h.subarray(0, 100)));
    const m: Member = { name, type, linkname: pending.linkname ?? str(h.subarray(157, 257)), size: pending.size ?? size };
    pending = {};
    members.push(m);
    skip = Math.ceil(m.size / 512) * 512;
  };
  const onMeta = (data: Buffer) => {
    if (metaType === 'L') pending.name = str(data);
    else if (metaType === 'K') pending.linkname = str(data);
    else if (metaType === 'x' || metaType === 'g') {
      // records: "LEN key=value\n"
      let i = 0;
      while (i < data.length) {
        const sp = data.indexOf(0x20, i);
        const len = Number(data.subarray(i, sp).toString('latin1'));
        if (!(len > 0) || sp < 0) break;
        const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
        const eq = rec.indexOf('=');
        const k = rec.slice(0, eq);
        const v = rec.slice(eq + 1);
        if (metaType === 'g' && (k === 'path' || k === 'linkpath' || k === 'size')) {
          // GNU tar applies a global header's path, linkpath or size to every later member (a
          // comment, as git archive writes, is harmless)
          throw new ZddError('INVALID_ARGUMENT', `the artifact has a global pax header setting ${k}, which zdd does not accept; nothing was staged`, {
            hint: 'build the tarball with GNU tar, git archive or npm pack defaults (tar -czf app.tgz -C build .)',
          });
        }
        if (metaType === 'g') {
          /* other global keys change no member's name, link or size */
        } else if (k === 'path') pending.name = v;
        else if (k === 'linkpath') pending.linkname = v;
        else if (k === 'size') pending.size = Number(v);
        i += len;
      }
    }
  };
  const sink = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        let off = 0;
        while (!ended) {
          if (meta && metaLeft > 0) {
            const n = Math.min(metaLeft, buf.length - off);
            if (n <= 0) break;
            meta.push(buf.subarray(off, off + n));
            metaLeft -= n;
            off += n;
            if (metaLeft === 0) {
              onMeta(Buffer.concat(meta));
              meta = undefined;
            }
            continue;
          }
          if (skip > 0) {
            const n = Math.min(skip, buf.length - off);
            if (n <= 0) break;
            skip -= n;
            off += n;
            continue;
          }
          if (buf.length - off < 512) break;
          onBlock(buf.subarray(off, off + 512));
          off += 512;
        }
        buf = buf.subarray(off);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  sink.resume();
  try {
    await pipeline(fs.createReadStream(file), zlib.createGunzip(), sink);
  } catch (err) {
    if (err instanceof ZddError) throw err;
    throw new ZddError('INVALID_ARGUMENT', `the artifact is not a readable .tar.gz: ${(err as Error).message}`);
  }
  if (!ended && !members.length) throw new ZddError('INVALID_ARGUMENT', 'the artifact is not a tar archive, or it is empty');
  return members;
}

/** Refuses members that would land outside the release directory, and anything but files, directories and links inside it. */
export function checkMembers(members: Member[]): number {
  let bytes = 0;
  const inside = (p: string) => {
    const n = path.posix.normalize(p);
    return !path.posix.isAbsolute(p) && n !== '..' && !n.startsWith('../') && !p.includes('\0');
  };
  // a member below another member that is a link could be written through that link
  const links = members.filter((m) => m.type === '2' || m.type === '1').map((m) => path.posix.normalize(m.name).replace(/\/$/, ''));
  for (const m of members) {
    const escape = (why: string) =>
      new ZddError('INVALID_ARGUMENT', `artifact member "${m.name}" ${why}; nothing was staged`, {
        hint: 'build the tarball with paths relative to the release directory (tar -czf app.tgz -C build .)',
      });
    if (!inside(m.name) || m.name.split('/').includes('..')) throw escape('would land outside the release directory');
    const norm = path.posix.normalize(m.name);
    if (links.some((l) => norm.startsWith(`${l}/`))) throw escape('lies below a link in the same artifact, so it could be written through that link');
    if (m.type === '2') {
      const target = path.posix.isAbsolute(m.linkname) ? m.linkname : path.posix.join(path.posix.dirname(m.name), m.linkname);
      if (!inside(target) || path.posix.isAbsolute(m.linkname)) throw escape(`is a symbolic link to ${m.linkname}, outside the release directory`);
    } else if (m.type === '1') {
      if (!inside(m.linkname) || m.linkname.split('/').includes('..')) throw escape(`is a hard link to ${m.linkname}, outside the release directory`);
    } else if (m.type !== '0' && m.type !== '5' && m.type !== '7') {
      throw escape('is a device, a fifo or another special file, which a release may not contain');
    }
    bytes += m.size;
  }
  return bytes;
}

/** Copies an artifact (file path, file:// or http(s):// URL) to `dest`, returning its sha256 and size. */
async function fetchArtifact(url: string, dest: string, sizeKnown: (bytes: number) => Promise<void>): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _e, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const unreachable = (why: string) =>
    new ZddError('ARTIFACT_UNAVAILABLE', `cannot fetch the artifact ${url}: ${why}; nothing was staged`, {
      hint: 'check that the URL or path is right and reachable from every host of the service',
    });
  if (/^https?:\/\//.test(url)) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      let redirects = 0;
      const get = (u: string) => {
        const req = (u.startsWith('https:') ? https : http).get(u, { timeout: CONNECT_TIMEOUT_MS }, (r) => {
          if (r.statusCode && r.statusCode >= 300 && r.statusCode < 400 && r.headers.location && redirects++ < 3) {
            r.resume();
            return get(new URL(r.headers.location, u).toString());
          }
          if (r.statusCode !== 200) {
            r.resume();
            return reject(unreachable(`HTTP ${r.statusCode}`));
          }
          // a server that stops sending for a minute is given up on
          req.setTimeout(60_000);
          resolve(r);
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000}s`)));
        req.on('error', (e) => reject(unreachable((e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code} ${e.message.replace(/^\S+ /, '')}` : e.message)));
      };
      get(url);
    });
    const len = Number(res.headers['content-length']);
    if (len > 0) await sizeKnown(len).catch((e) => (res.destroy(), Promise.reject(e)));
    // and a download that takes longer than FETCH_TIMEOUT_MS in all
    const deadline = setTimeout(() => res.destroy(new Error(`not complete after ${FETCH_TIMEOUT_MS / 60_000} minutes`)), FETCH_TIMEOUT_MS);
    await pipeline(res, hashing, fs.createWriteStream(dest))
      .catch((e) => {
        throw (e as NodeJS.ErrnoException).code === 'ENOSPC' ? e : unreachable((e as Error).message);
      })
      .finally(() => clearTimeout(deadline));
  } else {
    const file = url.startsWith('file://') ? new URL(url).pathname : url;
    if (!path.isAbsolute(file)) throw unreachable('a file artifact needs an absolute path (or a file:// or http(s):// URL)');
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw unreachable((e as Error).message);
    }
    await sizeKnown(st.size);
    await pipeline(fs.createReadStream(file), hashing, fs.createWriteStream(dest));
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * After unpacking: every symbolic link in the tree must resolve inside it (chains of links
 * included). realpath.native: the kernel's resolution; Node's own realpath gets "a/.." wrong when
 * "a" is a link.
 */
function checkLinksInside(root: string): void {
  const real = fs.realpathSync.native(root);
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) {
        let target: string;
        try {
          target = fs.realpathSync.native(p);
        } catch {
          target = resolveDangling(fs.realpathSync.native(dir), fs.readlinkSync(p));
        }
        if (target !== real && !target.startsWith(`${real}/`)) {
          throw new ZddError('INVALID_ARGUMENT', `artifact member "${path.relative(root, p)}" is a link that resolves to ${target}, outside the release directory; nothing was staged`);
        }
      } else if (e.isDirectory()) walk(p);
      else if (!e.isFile()) throw new ZddError('INVALID_ARGUMENT', `artifact member "${path.relative(root, p)}" is a special file; nothing was staged`);
    }
  };
  walk(root);
}

/**
 * Where a dangling link points, as the kernel would resolve it: component by component from the
 * link's real directory, following links for every part that exists; the missing rest (plain
 * names once created) lexically.
 */
function resolveDangling(from: string, link: string): string {
  let cur = path.isAbsolute(link) ? '/' : from;
  const parts = link.split('/').filter((x) => x && x !== '.');
  for (let i = 0; i < parts.length; i++) {
    const next = parts[i] === '..' ? path.dirname(cur) : path.join(cur, parts[i]);
    try {
      cur = fs.realpathSync.native(next);
    } catch {
      return path.resolve(next, ...parts.slice(i + 1));
    }
  }
  return cur;
}

export class Releases {
  /** stagings under way, by service/version/sha256: a repeated command attaches to the same work */
  private readonly busy = new Map<string, Promise<StageResult>>();
  /** tags of the .staging-/.download- files of stagings under way in this process */
  private readonly active = new Set<string>();

  constructor(
    readonly root: string,
    private readonly log: Logger,
    /** versions of a service that instances on this host run: never pruned */
    private readonly inUse: (service: string) => string[],
  ) {
    fs.mkdirSync(root, { recursive: true });
  }

  dir(service: string, version: string): string {
    return releaseDir(this.root, service, version);
  }

  /** Whether a complete release of this version is staged here. */
  has(service: string, version: string): boolean {
    return fs.existsSync(path.join(this.dir(service, version), MARKER));
  }

  private prunedFile(service: string) {
    return path.join(this.root, service, '.pruned.json');
  }

  /** Versions of a service whose release was staged here and later removed (release.keep). */
  pruned(service: string): string[] {
    try {
      return JSON.parse(fs.readFileSync(this.prunedFile(service), 'utf8')) as string[];
    } catch {
      return [];
    }
  }

  private recordPruned(service: string, version: string) {
    const list = [...this.pruned(service).filter((v) => v !== version), version].slice(-1000);
    writeFileAtomic(this.prunedFile(service), JSON.stringify(list));
  }

  stage(a: StageArgs, progress: (m: string) => void): Promise<StageResult> {
    const key = `${a.service}/${a.version}/${a.sha256}`;
    const cur = this.busy.get(key);
    if (cur) return cur;
    const work = this.doStage(a, progress).finally(() => this.busy.delete(key));
    this.busy.set(key, work);
    return work;
  }

  private async doStage(a: StageArgs, progress: (m: string) => void): Promise<StageResult> {
    const began = Date.now();
    const final = this.dir(a.service, a.version);
    const base = path.join(this.root, a.service);
    fs.mkdirSync(base, { recursive: true });
    if (this.has(a.service, a.version)) {
      const marker = JSON.parse(fs.readFileSync(path.join(final, MARKER), 'utf8')) as { sha256: string };
      if (marker.sha256 !== a.sha256) {
        throw new ZddError('INVALID_ARGUMENT', `${a.service} ${a.version} is already staged on this host from another artifact (sha256 ${marker.sha256.slice(0, 12)}…); a version's release never changes`, {
          hint: 'give the new build a new version',
        });
      }
      fs.utimesSync(path.join(final, MARKER), new Date(), new Date());
      return { dir: final, bytes: 0, reused: true, ms: Date.now() - began, pruned: this.prune(a.service, a.keep, a.version), output: '' };
    }
    this.removeLeftovers(base);
    const tag = `${a.version}-${crypto.randomBytes(4).toString('hex')}`;
    this.active.add(tag);
    const download = path.join(base, `.download-${tag}`);
    const staging = path.join(base, `.staging-${tag}`);
    try {
      const need = async (bytes: number, what: string) => {
        const { free, mount } = await freeSpace(base);
        // a margin for file-system overhead and for whatever else writes there meanwhile
        const want = Math.ceil(bytes * 1.1) + 1e6;
        if (free < want) {
          throw new ZddError('DISK_FULL', `not enough disk space on ${mount} to stage ${a.service} ${a.version}: ${what} needs about ${mb(want)}, ${mb(free)} free; nothing was staged`, {
            hint: `free space on ${mount}, or keep fewer releases (release.keep in the spec)`,
          });
        }
      };
      progress(`fetching ${a.url}`);
      const got = await fetchArtifact(a.url, download, (bytes) => need(bytes, `the ${mb(bytes)} artifact`));
      if (got.sha256 !== a.sha256) {
        throw new ZddError('CHECKSUM_MISMATCH', `the artifact ${a.url} has sha256 ${got.sha256}, not the expected ${a.sha256}; nothing was staged`, {
          hint: 'check --sha256 against the build (sha256sum FILE); a changed or truncated download also shows up this way',
        });
      }
      fs.mkdirSync(staging);
      if (/\.(tar\.gz|tgz)$/.test(new URL(a.url, 'file:///').pathname)) {
        const bytes = checkMembers(await tarMembers(download));
        await need(bytes, `unpacking (${mb(bytes)})`);
        progress(`unpacking ${mb(bytes)}`);
        await new Promise<void>((resolve, reject) =>
          execFile('tar', ['-xzf', download, '-C', staging, '--no-same-owner'], { maxBuffer: 1 << 20 }, (err, _o, stderr) => {
            if (!err) return resolve();
            if (/No space left|Wrote only/i.test(stderr)) reject(Object.assign(new Error(stderr.trim()), { code: 'ENOSPC' }));
            else reject(new ZddError('INVALID_ARGUMENT', `unpacking the artifact failed: ${stderr.trim().slice(-300)}; nothing was staged`));
          }),
        );
        checkLinksInside(staging);
      } else {
        fs.copyFileSync(download, path.join(staging, path.basename(new URL(a.url, 'file:///').pathname)));
      }
      fs.rmSync(download, { force: true });
      let output = '';
      if (a.prepare) {
        progress(`preparing: ${a.prepare.argv.join(' ')}`);
        const r = await runBounded(a.prepare.argv, {
          cwd: staging,
          env: commandEnv({ ...a.env, ZDD_SERVICE: a.service, ZDD_VERSION: a.version, ZDD_RELEASE_DIR: final }),
          timeoutMs: a.prepare.timeoutMs,
        });
        output = r.output;
        if (!r.ok) {
          throw new ZddError('PREPARE_FAILED', `the prepare command of ${a.service} ${a.version} failed (${r.why}): ${r.output.slice(-500)}; nothing was staged`, {
            hint: 'fix release.prepare in the spec or the release itself',
          });
        }
      }
      // the marker's name may be a member of the artifact (a link, even): replaced, never followed
      fs.rmSync(path.join(staging, MARKER), { recursive: true, force: true });
      fs.writeFileSync(path.join(staging, MARKER), JSON.stringify({ url: a.url, sha256: a.sha256, stagedAt: new Date().toISOString() }), { flag: 'wx' });
      fs.rmSync(final, { recursive: true, force: true }); // an incomplete leftover, without its marker
      fs.renameSync(staging, final);
      if (this.pruned(a.service).includes(a.version)) writeFileAtomic(this.prunedFile(a.service), JSON.stringify(this.pruned(a.service).filter((v) => v !== a.version)));
      this.log.info({ service: a.service, version: a.version, bytes: got.bytes }, 'release staged');
      return { dir: final, bytes: got.bytes, reused: false, ms: Date.now() - began, pruned: this.prune(a.service, a.keep, a.version), output };
    } catch (err) {
      fs.rmSync(download, { force: true });
      fs.rmSync(staging, { recursive: true, force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new ZddError('DISK_FULL', `the disk filled up while staging ${a.service} ${a.version} in ${base}; what was written is removed and nothing was staged`, {
          hint: 'free space there, or keep fewer releases (release.keep in the spec)',
          cause: err,
        });
      }
      throw err;
    } finally {
      this.active.delete(tag);
    }
  }

  /** Downloads and unpackings left by stagings that are not under way (an agent restarted in the middle): their space comes back. */
  private removeLeftovers(base: string) {
    for (const f of fs.readdirSync(base)) {
      const m = /^\.(staging|download)-(.+)$/.exec(f);
      if (m && !this.active.has(m[2])) fs.rmSync(path.join(base, f), { recursive: true, force: true });
    }
  }

  /** Removes all but the newest `keep` releases of a service, never one in use or the one just staged. */
  prune(service: string, keep: number, current: string): string[] {
    try {
      return this.pruneOrThrow(service, keep, current);
    } catch (err) {
      // the release is staged: a directory that cannot be removed is logged, not a failure
      this.log.warn({ service, err: (err as Error).message }, 'old releases could not all be removed');
      return [];
    }
  }

  private pruneOrThrow(service: string, keep: number, current: string): string[] {
    const base = path.join(this.root, service);
    const used = new Set([...this.inUse(service), current]);
    const staged = fs
      .readdirSync(base)
      .filter((v) => !v.startsWith('.') && fs.existsSync(path.join(base, v, MARKER)))
      .map((v) => ({ v, at: fs.statSync(path.join(base, v, MARKER)).mtimeMs }))
      .sort((x, y) => y.at - x.at);
    const removed: string[] = [];
    for (const { v } of staged.slice(keep)) {
      if (used.has(v)) continue;
      // recorded first: a start of this version later says it was removed, rather than run elsewhere
      this.recordPruned(service, v);
      fs.rmSync(path.join(base, v), { recursive: true, force: true });
      removed.push(v);
    }
    if (removed.length) this.log.info({ service, removed }, 'old releases removed');
    return removed;
  }
}
