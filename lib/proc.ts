// Facts about processes and ports: what runs (from /proc, so that only what we started is killed)
// and whether a port can be listened on.
import fs from 'node:fs';
import net from 'node:net';

/** True when nothing listens on the port, on any address. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

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
