// Temp file + fsync + rename: a crash leaves the old file or the new one, never half of one.
import fs from 'node:fs';
import path from 'node:path';

/** A file's text, or undefined when it does not exist (any other error is thrown). */
export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `mode` applies from the start: a key is never readable by others, not even while it is written. */
export function writeFileAtomic(file: string, data: string, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    // a full disk leaves no half-written temp file behind
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
