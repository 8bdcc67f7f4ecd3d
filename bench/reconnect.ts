// `npm run bench -- reconnect --agents N`: N agent sessions (simulated in this process, each with
// its own certificate and its own TLS connection, speaking the real agent protocol) connected to
// a real coordinator, which is then SIGKILLed and started again: how long until every session is
// back, over mutual TLS and, in the same run, over plaintext.
import { LocalFleet } from '../testkit/local-fleet.js';
import { joinSims, simAddress, SimAgent } from '../testkit/sim-agents.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(n: number, plaintext: boolean, log: (s: string) => void) {
  const fleet = await LocalFleet.start({ agents: 0, logLevel: 'warn', plaintext });
  const sims: SimAgent[] = [];
  try {
    const began = Date.now();
    const creds = await joinSims(fleet, n, plaintext);
    if (!plaintext) log(`[tls] ${n} agents joined in ${Date.now() - began} ms`);
    for (let i = 0; i < n; i++) {
      // each its own address: agents that share one with the same port offset are refused
      const a = new SimAgent(fleet.coordinatorAddr, `sim-${i}`, creds[i], simAddress(i));
      sims.push(a);
      void a.run();
    }
    const all = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (sims.some((a) => !a.welcomed)) {
        if (Date.now() > deadline) throw new Error(`${sims.filter((a) => !a.welcomed).length} of ${n} agents not back within ${timeoutMs} ms`);
        await sleep(20);
      }
    };
    const firstAt = Date.now();
    await all(120_000);
    log(`[${plaintext ? 'plaintext' : 'tls'}] ${n} sessions up in ${Date.now() - firstAt} ms`);
    await sleep(2000);
    await fleet.stopCoordinator('SIGKILL');
    // every session has seen its coordinator go before the new one starts
    for (const deadline = Date.now() + 30_000; sims.some((a) => a.welcomed) && Date.now() < deadline; ) await sleep(10);
    const restartAt = Date.now();
    // measured from the new process's spawn; the test kit's own readiness poll runs beside it
    const started = fleet.startCoordinator();
    await all(120_000);
    const backMs = Date.now() - restartAt;
    await started;
    log(`[${plaintext ? 'plaintext' : 'tls'}] coordinator SIGKILLed and started: all ${n} agents back ${backMs} ms after the new process was spawned`);
    return { backMs };
  } finally {
    for (const a of sims) a.stop();
    await fleet.stop();
  }
}

export async function reconnect(o: { agents: number; log: (s: string) => void }) {
  const plain = await measure(o.agents, true, o.log);
  const tls = await measure(o.agents, false, o.log);
  return {
    scenario: 'reconnect',
    agents: o.agents,
    tls_all_back_ms: tls.backMs,
    plaintext_all_back_ms: plain.backMs,
  };
}
