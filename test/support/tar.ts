// Builds .tar.gz files byte by byte, so tests can make archives that tar itself refuses to write
// (members named "../x", links out of the tree, devices).
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface TarEntry {
  name: string;
  /** '0' file (default), '2' symlink, '1' hard link, '3' character device, '5' directory, 'x'/'g' pax headers */
  type?: string;
  linkname?: string;
  data?: string | Buffer;
  mode?: number;
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(((e.mode ?? 0o644).toString(8).padStart(7, '0')) + '\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(e.type ?? '0', 156, 'latin1');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

export function tarGz(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    // files and pax headers carry data; links, directories and devices none
    const withData = !e.type || e.type === '0' || e.type === 'x' || e.type === 'g';
    parts.push(header(e, withData ? data.length : 0));
    if (withData && data.length) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts));
}

/** Writes the archive and returns its path and sha256. */
export function writeTarGz(file: string, entries: TarEntry[]): { file: string; sha256: string } {
  const buf = tarGz(entries);
  fs.writeFileSync(file, buf);
  return { file, sha256: crypto.createHash('sha256').update(buf).digest('hex') };
}
