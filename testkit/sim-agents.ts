// Simulated agents for the benchmarks and the size tests: real gRPC sessions with their own
// certificates, speaking the agent protocol (hello, then reconnect like the real agent), with none
// of the agent's work behind them.
import * as grpc from '@grpc/grpc-js';
import type { LocalFleet } from './local-fleet.js';
import { CLIENT_OPTIONS, fleetClientCredentials, plaintextClientCredentials, protos } from '../lib/grpc.js';
import { createCsr } from '../lib/pki.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A distinct loopback address per simulated agent (127.0.0.0/8). */
export const simAddress = (i: number) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** An agent that only says hello and reconnects like the real one (200 ms, doubling to 1 s). */
export class SimAgent {
  welcomed = false;
  private stopped = false;
  private readonly client: grpc.Client & { Session: () => grpc.ClientDuplexStream<unknown, { welcome?: unknown }> };

  constructor(
    addr: string,
    private readonly id: string,
    creds: grpc.ChannelCredentials,
    private readonly advertise = '127.0.0.1',
    /** what a real host would report besides: labels, instances */
    private readonly extra: { labels?: Record<string, string>; instances?: unknown[] } = {},
  ) {
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
        s.write({ hello: { agent_id: this.id, agent_version: 'sim', labels: this.extra.labels ?? { role: 'sim' }, advertise: this.advertise, port_offset: 0, facts: null, instances: this.extra.instances ?? [], edge: null, releases_roots: [] } });
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

/**
 * Credentials for n simulated agents "sim-0" … : each joins as a real one does (a token, a key of
 * its own, a CSR; 16 at a time), or plaintext ones for a plaintext fleet.
 */
export async function joinSims(fleet: LocalFleet, n: number, plaintext = false): Promise<grpc.ChannelCredentials[]> {
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
  return creds;
}
