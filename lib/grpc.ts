// gRPC plumbing shared by agent, coordinator and zddctl: proto loading, keepalive, credentials and
// the mapping between ZddError codes and gRPC status codes (the only place errors cross the wire).
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from './paths.js';
import { ZddError, type ErrorCode } from './errors.js';
import { identityOf } from './identity.js';
import type { PeerCertificate } from 'node:tls';
import type { ProtoGrpcType as AgentProto } from '../proto/gen/agent.js';
import type { ProtoGrpcType as ControlProto } from '../proto/gen/control.js';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true, // field names as written in the protos; the generated types use them too
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let loaded: { agent: AgentProto; control: ControlProto } | undefined;

export function protos(): { agent: AgentProto; control: ControlProto } {
  if (!loaded) {
    const load = (f: string) => grpc.loadPackageDefinition(protoLoader.loadSync(path.join(PROTO_DIR, 'zdd/v1', f), LOADER_OPTIONS));
    loaded = { agent: load('agent.proto') as unknown as AgentProto, control: load('control.proto') as unknown as ControlProto };
  }
  return loaded;
}

/**
 * Agents ping the coordinator (keepalive every 20 s, answered within 10 s) so that they notice a
 * coordinator that vanished without closing the connection within half a minute; one that crashed
 * or restarted closes it, and they notice at once. They reconnect with a backoff of 200 ms to 1 s
 * for about ten seconds, growing to 5 s after (lib/backoff.ts: each try is a new call, and
 * grpc-js's own connection backoff, capped at 1 s, has ended by then).
 * The coordinator notices a dead agent by its silence (three heartbeats, coordinator/agent-hub.ts):
 * its own pings are rare, so ten thousand sessions are not pinged on top of their heartbeats.
 * The ping answer's 10 s: a coordinator taking ten thousand agents back at once is slow, not gone.
 */
export const SERVER_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 120_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};

export const CLIENT_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  // over TLS the coordinator is checked by its certificate's identity, not a host name; a name
  // here also keeps node from sending an IP address as SNI (deprecated, and warned about)
  'grpc.ssl_target_name_override': 'zdd-coordinator',
};

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(address: string): boolean {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Plaintext is an explicit exception: allowed on loopback, or anywhere with --insecure as well.
 */
export function plaintextServerCredentials(listen: string, insecure: boolean): grpc.ServerCredentials {
  if (!isLoopback(listen) && !insecure) {
    throw new ZddError('INSECURE_LISTEN', `refusing plaintext gRPC on ${listen}: it is not a loopback address`, {
      hint: 'drop --plaintext to serve TLS, or add --insecure if the network is private and you accept that anyone on it can deploy',
    });
  }
  return grpc.ServerCredentials.createInsecure();
}

/**
 * One static certificate provider for both the CA and the identity (grpc-js's experimental
 * provider API). Listeners hear on the next tick: grpc-js registers its own watcher only after
 * adding them, and an update delivered at once would reach no one.
 */
class StaticProvider implements grpc.experimental.CertificateProvider {
  constructor(private readonly ca: Buffer, private readonly identity: { certificate: Buffer; privateKey: Buffer }) {}
  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener) {
    setImmediate(() => l({ caCertificate: this.ca }));
  }
  removeCaCertificateListener() {}
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener) {
    setImmediate(() => l(this.identity));
  }
  removeIdentityCertificateListener() {}
}

/**
 * TLS that asks every client for a certificate under the fleet CA but lets one without a
 * certificate through the handshake: joining the fleet (Enrollment) needs no certificate, and
 * every other call checks the caller's in the handler (coordinator/trust.ts), so that a refusal is
 * a clear gRPC status rather than a failed handshake. A certificate node:tls could not verify
 * against the CA (another CA, expired) reaches the handler as no certificate at all.
 */
export function fleetServerCredentials(o: { caPem: string; keyPem: string; certPem: string }): grpc.ServerCredentials {
  // the chain carries the CA, so that a joining agent can pin it by its fingerprint
  const p = new StaticProvider(Buffer.from(o.caPem), { certificate: Buffer.from(o.certPem + o.caPem), privateKey: Buffer.from(o.keyPem) });
  // the same provider in both places: grpc-js's factory and constructor disagree on the argument order
  return grpc.experimental.createCertificateProviderServerCredentials(p, p, false);
}

/** The verified client certificate of a call, if any (node:tls verified its chain and dates). */
export function peerCertificate(call: { getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): PeerCertificate | undefined {
  return call.getAuthContext?.()?.sslPeerCertificate;
}

/**
 * TLS to the coordinator, trusting only the fleet CA, and only a certificate that names the
 * coordinator (zdd://coordinator): an agent's or operator's certificate under the same CA cannot
 * pose as it. Host names are not what identifies it, so a coordinator reached through NAT or a new
 * address needs no new certificate.
 */
export function fleetClientCredentials(o: { caPem: string; keyPem?: string; certPem?: string }): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(o.caPem), o.keyPem ? Buffer.from(o.keyPem) : null, o.certPem ? Buffer.from(o.certPem) : null, {
    checkServerIdentity: (_host, cert) =>
      identityOf(cert.subjectaltname)?.kind === 'coordinator' ? undefined : new Error('the server\'s certificate is under the fleet CA but does not name the zdd coordinator'),
  });
}

export function plaintextClientCredentials(): grpc.ChannelCredentials {
  return grpc.credentials.createInsecure();
}

const TO_STATUS: Partial<Record<ErrorCode, grpc.status>> = {
  INVALID_SPEC: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  UNKNOWN_SERVICE: grpc.status.NOT_FOUND,
  NO_MATCHING_AGENTS: grpc.status.FAILED_PRECONDITION,
  ALREADY_LIVE: grpc.status.FAILED_PRECONDITION,
  ROLLOUT_ACTIVE: grpc.status.FAILED_PRECONDITION,
  NOTHING_TO_ROLL_BACK: grpc.status.FAILED_PRECONDITION,
  NOT_WAITING: grpc.status.FAILED_PRECONDITION,
  PORT_IN_USE: grpc.status.FAILED_PRECONDITION,
  AGENT_UNAVAILABLE: grpc.status.UNAVAILABLE,
  DB_HELD: grpc.status.FAILED_PRECONDITION,
  NOT_LEADER: grpc.status.UNAVAILABLE,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
};

/** Turns any error into a gRPC error carrying the zdd code and hint in metadata. */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (err instanceof ZddError) {
    metadata.set('zdd-code', err.code);
    if (err.hint) metadata.set('zdd-hint', err.hint);
    return { code: TO_STATUS[err.code] ?? grpc.status.INTERNAL, details: err.message, metadata };
  }
  metadata.set('zdd-code', 'INTERNAL');
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}

/**
 * grpc-js's "No connection established. Last error: X. Resolution note: " ends with an empty note
 * more often than not: what is worth reading is the last error.
 */
export function tidyDetails(details: string): string {
  const m = /^No connection established\. Last error: (.*?)\.?(?: Resolution note: (.*))?$/s.exec(details);
  if (!m) return details.replace(/\s*Resolution note:\s*$/, '');
  return m[2]?.trim() ? `${m[1]} (${m[2].trim()})` : m[1];
}

/** The reverse of toServiceError, on the client side. */
export function fromServiceError(err: grpc.ServiceError): ZddError {
  const code = (err.metadata?.get('zdd-code')[0] as ErrorCode | undefined) ?? undefined;
  const hint = err.metadata?.get('zdd-hint')[0] as string | undefined;
  if (code) return new ZddError(code, err.details || err.message, { cause: err, hint });
  if (err.code === grpc.status.UNAUTHENTICATED) return new ZddError('UNAUTHENTICATED', err.details || err.message, { cause: err });
  if (err.code === grpc.status.UNAVAILABLE) {
    return new ZddError('AGENT_UNAVAILABLE', `cannot reach the coordinator: ${tidyDetails(err.details || err.message)}`, {
      cause: err,
      hint: 'check that zdd-coordinator is running and that --coordinator names its address; a coordinator started with --plaintext needs --plaintext here too, and one serving TLS needs a client without it',
    });
  }
  return new ZddError('INTERNAL', err.details || err.message, { cause: err });
}
