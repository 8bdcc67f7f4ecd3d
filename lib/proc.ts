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

/** "a.b.c.d:port" from /proc/net/tcp's little-endian hex form ("0100007F:1F90"). */
function decodeTcpAddr(hex: string): string {
  const [ip, port] = hex.split(':');
  const bytes = [0, 2, 4, 6].map((i) => parseInt(ip.slice(i, i + 2), 16)).reverse();
  return `${bytes.join('.')}:${parseInt(port, 16)}`;
}

/** This network namespace's established IPv4 TCP connections, each as its local and remote address (/proc/net/tcp). */
export function establishedTcp(): { local: string; remote: string }[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return [];
  }
  const out: { local: string; remote: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1]: local address, f[2]: remote address, f[3]: state (01 = ESTABLISHED)
    if (f[3] === '01') out.push({ local: decodeTcpAddr(f[1]), remote: decodeTcpAddr(f[2]) });
  }
  return out;
}
