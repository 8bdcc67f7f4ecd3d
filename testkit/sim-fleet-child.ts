// A child process of the fleet simulator (testkit/sim-fleet.ts): runs simulated agents and answers
// its parent's questions over IPC. Started with fork(); never on its own.
import { Client, type Credentials } from '../cli/client.js';
import { plaintextClientCredentials } from '../lib/grpc.js';
import { inParallel, joinSim, simAddress, SimAgent } from './sim-agents.js';
import type { SimChildRequest, SimSpec } from './sim-fleet.js';

const sims: SimAgent[] = [];

async function start(o: SimSpec & { addr: string; admin: Credentials }) {
  const admin = new Client(o.addr, o.admin);
  const caPem = o.admin === 'plaintext' ? '' : o.admin.caPem;
  try {
    const creds = await inParallel(o.count, 32, (k) =>
      o.admin === 'plaintext' ? Promise.resolve(plaintextClientCredentials()) : joinSim(admin, o.addr, caPem, `${o.prefix}${o.first + k}`),
    );
    for (let k = 0; k < o.count; k++) {
      const i = o.first + k;
      const instances = o.instance ? [{ ...o.instance, pid: 1, state: 'healthy', started_at_ms: Date.now(), log_file: '', restarts: 0 }] : [];
      // each its own address (past 127.0.1.0): agents that share one with the same port offset are refused
      const a = new SimAgent(o.addr, `${o.prefix}${i}`, creds[k], simAddress(i + 256), { labels: o.labels, edge: o.edge, instances });
      sims.push(a);
      void a.run();
    }
  } finally {
    admin.close();
  }
}

process.on('message', async (m: SimChildRequest) => {
  try {
    let value: unknown;
    if (m.op === 'start') {
      await start({ ...m.spec, addr: m.addr, admin: m.admin });
      value = sims.length;
    } else if (m.op === 'welcomed') value = sims.filter((a) => a.welcomed).length;
    else if (m.op === 'starts') value = Object.fromEntries(sims.map((a) => [a.id, a.starts(m.rolloutId)]));
    else if (m.op === 'invalid') value = sims.flatMap((a) => a.invalid.map((x) => `${a.id}: ${x}`)).slice(0, 50);
    else if (m.op === 'sessions') value = sims.reduce((n, a) => n + a.sessions, 0);
    else if (m.op === 'heartbeats') value = [Math.min(...sims.map((a) => a.heartbeatMs)), Math.max(...sims.map((a) => a.heartbeatMs))];
    else if (m.op === 'ends') {
      const all: Record<string, number> = {};
      for (const a of sims) for (const [k, n] of a.ends) all[k] = (all[k] ?? 0) + n;
      value = all;
    } else if (m.op === 'stop') {
      for (const a of sims) a.stop();
      value = true;
    }
    process.send!({ id: m.id, value });
  } catch (err) {
    process.send!({ id: m.id, error: (err as Error).stack ?? String(err) });
  }
});
process.send!({ ready: true });
