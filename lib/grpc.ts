// gRPC plumbing shared by agent, coordinator and zddctl: proto loading, keepalive, credentials and
// the mapping between ZddError codes and gRPC status codes (the only place errors cross the wire).
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_DIR } from './paths.js';
import { ZddError, type ErrorCode } from './errors.js';
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

/** Keepalive on both sides so a dead peer is noticed in seconds; reconnect backoff capped at 1 s. */
export const SERVER_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};

export const CLIENT_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 1_000,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(address: string): boolean {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Plaintext is allowed on loopback, or anywhere with an explicit insecure flag (TLS comes later).
 */
export function serverCredentials(listen: string, insecure: boolean): grpc.ServerCredentials {
  if (!isLoopback(listen) && !insecure) {
    throw new ZddError('INSECURE_LISTEN', `refusing plaintext gRPC on ${listen}: it is not a loopback address`, {
      hint: 'bind to 127.0.0.1, or pass --insecure if the network is private and you accept plaintext',
    });
  }
  return grpc.ServerCredentials.createInsecure();
}

export function clientCredentials(): grpc.ChannelCredentials {
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

/** The reverse of toServiceError, on the client side. */
export function fromServiceError(err: grpc.ServiceError): ZddError {
  const code = (err.metadata?.get('zdd-code')[0] as ErrorCode | undefined) ?? undefined;
  const hint = err.metadata?.get('zdd-hint')[0] as string | undefined;
  if (code) return new ZddError(code, err.details || err.message, { cause: err, hint });
  if (err.code === grpc.status.UNAVAILABLE) {
    return new ZddError('AGENT_UNAVAILABLE', `cannot reach the coordinator: ${err.details || err.message}`, {
      cause: err,
      hint: 'check that zdd-coordinator is running and that --coordinator names its address',
    });
  }
  return new ZddError('INTERNAL', err.details || err.message, { cause: err });
}
