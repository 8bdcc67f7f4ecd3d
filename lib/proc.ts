// Facts about processes from /proc, for killing only what we started.
import fs from 'node:fs';

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22); undefined when it is gone or a zombie. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}
