// `npm run bench -- reconnect --agents N`: N agent sessions (simulated in this process, each with
// its own certificate and its own TLS connection, speaking the real agent protocol) connected to
// a real coordinator, which is then SIGKILLed and started again: how long until every session is
// back, over mutual TLS and, in the same run, over plaintext.
import * as grpc from '@grpc/grpc-js';
import { LocalFleet } from '../testkit/local-fleet.js';
import { CLIENT_OPTIONS, fleetClientCredentials, plaintextClientCredentials, protos } from '../lib/grpc.js';
import { createCsr } from '../lib/pki.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An agent that only says hello and reconnects like the real one (200 ms, doubling to 1 s). */
class SimAgent {
  welcomed = false;
  private stopped = false;
  private readonly client: grpc.Client & { Session: () => grpc.ClientDuplexStream<unknown, { welcome?: unknown }> };

  constructor(addr: string, private readonly id: string, creds: grpc.ChannelCredentials) {
    const { AgentGateway } = protos().agent.zdd.v1;
    this.client = new AgentGateway(addr, creds, CLIENT_OPTIONS) as never;
  }

  async run() {
    let backoff = 200;
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        const s = this.client.Session();
        const end = () => {
          this.welcomed = false;
          s.removeAllListeners();
          s.on('error', () => undefined);
          s.cancel();
          resolve();
        };
        s.on('data', (m) => {
          if (m.welcome) {
            this.welcomed = true;
            backoff = 200;
          }
        });
        s.on('error', end);
        s.on('end', end);
        s.write({ hello: { agent_id: this.id, agent_version: 'sim', labels: { role: 'sim' }, advertise: '127.0.0.1', port_offset: 0, facts: null, instances: [], edge: null, releases_roots: [] } });
      });
      if (this.stopped) return;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  stop() {
    this.stopped = true;
    this.client.close();
  }
}

async function measure(n: number, plaintext: boolean, log: (s: string) => void) {
  const fleet = await LocalFleet.start({ agents: 0, logLevel: 'warn', plaintext });
  const sims: SimAgent[] = [];
  try {
    const began = Date.now();
    const c = fleet.client();
    const creds: grpc.ChannelCredentials[] = [];
    const { Enrollment } = protos().agent.zdd.v1;
    // each simulated agent joins as a real one does: a token, a key of its own, a CSR (16 at a time)
    const joinOne = async (i: number): Promise<grpc.ChannelCredentials> => {
      if (plaintext) return plaintextClientCredentials();
      const tok = await c.call('CreateJoinToken', { kind: 'agent', name: `sim-${i}`, role: '', ttl_ms: 600_000 });
      const { keyPem, csrPem } = await createCsr({ kind: 'agent', name: `sim-${i}` });
      const caPem = (fleet.credentials() as { caPem: string }).caPem;
      const e = new Enrollment(fleet.coordinatorAddr, fleetClientCredentials({ caPem }), CLIENT_OPTIONS);
      try {
        const cert = await new Promise<string>((resolve, reject) =>
          e.Enroll({ token: tok.token, csr_pem: csrPem }, (err: grpc.ServiceError | null, r?: { cert_pem: string }) => (err ? reject(err) : resolve(r!.cert_pem))),
        );
        return fleetClientCredentials({ caPem, keyPem, certPem: cert });
      } finally {
        e.close();
      }
    };
    for (let i = 0; i < n; i += 16) creds.push(...(await Promise.all([...Array(Math.min(16, n - i))].map((_, k) => joinOne(i + k)))));
    c.close();
    if (!plaintext) log(`[tls] ${n} agents joined in ${Date.now() - began} ms`);
    for (let i = 0; i < n; i++) {
      const a = new SimAgent(fleet.coordinatorAddr, `sim-${i}`, creds[i]);
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
