// A promise-returning client for the control API.
import * as grpc from '@grpc/grpc-js';
import { CLIENT_OPTIONS, fleetClientCredentials, fromServiceError, plaintextClientCredentials, protos } from '../lib/grpc.js';
import type { ControlClient } from '../proto/gen/zdd/v1/Control.js';
import type { Rollout__Output } from '../proto/gen/zdd/v1/Rollout.js';

export type Unary =
  | 'ApplyService' | 'GetService' | 'ListAgents' | 'Plan' | 'StartRollout' | 'GetRollout' | 'ListRollouts' | 'PauseRollout' | 'ResumeRollout' | 'PromoteRollout' | 'AbortRollout' | 'Rollback'
  | 'CreateJoinToken' | 'RevokeAgent' | 'RevokeOperator' | 'ListCertificates' | 'ListAudit' | 'WhoAmI'
  | 'Cordon' | 'Uncordon' | 'Drain' | 'RemoveAgent' | 'ListEvents';

/** An operator's TLS credentials (lib/client-config.ts), or 'plaintext' for a coordinator that serves no TLS. */
export type Credentials = { caPem: string; keyPem: string; certPem: string } | 'plaintext';

/** A watch's update applied to the rollout as known: changed steps replace theirs (by seq), new events follow. */
export function mergeDelta(known: Rollout__Output, d: Rollout__Output): Rollout__Output {
  const steps = new Map(known.steps.map((s) => [s.seq, s]));
  for (const s of d.steps) steps.set(s.seq, s);
  const seen = new Set(known.events.map((e) => String(e.id)));
  return {
    ...d,
    delta: false,
    steps: [...steps.values()].sort((a, b) => a.seq - b.seq),
    events: [...known.events, ...d.events.filter((e) => !seen.has(String(e.id)))],
  };
}

export class Client {
  private c: ControlClient;
  /** the coordinators to try (--coordinator A,B,C); a standby names the leader */
  private readonly addresses: string[];
  private current: string;

  constructor(address: string, private readonly credentials: Credentials) {
    this.addresses = address.split(',').map((a) => a.trim()).filter(Boolean);
    this.current = this.addresses[0] ?? address;
    this.c = this.connect(this.current);
  }

  private connect(address: string): ControlClient {
    const { Control } = protos().control.zdd.v1;
    const creds = this.credentials === 'plaintext' ? plaintextClientCredentials() : fleetClientCredentials(this.credentials);
    return new Control(address, creds, CLIENT_OPTIONS) as unknown as ControlClient;
  }

  /**
   * After UNAVAILABLE: to the leader a standby named (zdd-leader), else to the next coordinator
   * listed and not yet tried; false when none is left.
   */
  private follow(err: grpc.ServiceError, tried: Set<string>): boolean {
    return err.code === grpc.status.UNAVAILABLE && this.moveOn(err.metadata?.get('zdd-leader')[0], tried);
  }

  /** To the leader named, else to the next coordinator not yet tried; false when none is left. */
  private moveOn(hint: unknown, tried: Set<string>): boolean {
    tried.add(this.current);
    const next = typeof hint === 'string' && hint && !tried.has(hint) ? hint : this.addresses.find((a) => !tried.has(a));
    if (!next) return false;
    this.c.close();
    this.current = next;
    this.c = this.connect(next);
    return true;
  }

  /**
   * With several coordinators listed, one that does not connect within 3 s (stopped, frozen, cut
   * off) is passed over as if it had refused: a call would wait for it until its deadline.
   */
  private connected(tried: Set<string>): Promise<void> {
    if (this.addresses.length < 2) return Promise.resolve();
    return new Promise((resolve) =>
      this.c.waitForReady(Date.now() + 3000, (err) => {
        if (err) this.moveOn(undefined, tried);
        resolve();
      }),
    );
  }

  call<M extends Unary>(method: M, req: Parameters<ControlClient[M]>[0]): Promise<any> {
    const tried = new Set<string>();
    const attempt = async (): Promise<any> => {
      await this.connected(tried);
      return new Promise((resolve, reject) => {
        const deadline = new Date(Date.now() + 15_000);
        (this.c[method] as any).call(this.c, req, { deadline }, (err: grpc.ServiceError | null, res: unknown) => {
          if (!err) return resolve(res);
          if (this.follow(err, tried)) return attempt().then(resolve, reject);
          reject(fromServiceError(err));
        });
      });
    };
    return attempt();
  }

  /** Streams snapshots of a rollout until it ends, or until `stopAt` says a snapshot is far enough. */
  async watch(id: string, onSnapshot: (r: Rollout__Output) => void, stopAt?: (r: Rollout__Output) => boolean): Promise<Rollout__Output> {
    await this.connected(new Set());
    return new Promise((resolve, reject) => {
      let last: Rollout__Output | undefined;
      const stream = this.c.WatchRollout({ id });
      stream.on('data', (m: Rollout__Output) => {
        // after the first snapshot, each message carries only what changed: merged here, so
        // callers always see the whole rollout as far as it was sent
        const r = m.delta && last ? mergeDelta(last, m) : m;
        last = r;
        onSnapshot(r);
        if (stopAt?.(r)) {
          stream.cancel();
          resolve(r);
        }
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (err.code === grpc.status.CANCELLED && last) return resolve(last);
        // the caller watches again (zddctl waits for a coordinator to come back): at the leader
        this.follow(err, new Set());
        reject(fromServiceError(err));
      });
      stream.on('end', () => (last ? resolve(last) : reject(new Error('the watch ended before any update'))));
    });
  }

  close() {
    this.c.close();
  }
}
