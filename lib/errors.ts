// Errors with a stable code and a cause. They become gRPC status codes only at the server edge
// (lib/grpc.ts) and human sentences only in the CLI.

export type ErrorCode =
  | 'INVALID_SPEC'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNKNOWN_SERVICE'
  | 'NO_MATCHING_AGENTS'
  | 'ALREADY_LIVE'
  | 'ROLLOUT_ACTIVE'
  | 'AGENT_UNAVAILABLE'
  | 'HEALTH_CHECK_FAILED'
  | 'NGINX_INVALID'
  | 'NGINX_FAILED'
  | 'PORT_IN_USE'
  | 'START_FAILED'
  | 'DRAIN_TIMEOUT'
  | 'INSECURE_LISTEN'
  | 'DB_ERROR'
  | 'NOTHING_TO_ROLL_BACK'
  | 'NOT_WAITING'
  | 'VERIFY_FAILED'
  | 'DISK_FULL'
  | 'CHECKSUM_MISMATCH'
  | 'ARTIFACT_UNAVAILABLE'
  | 'PREPARE_FAILED'
  | 'HOOK_FAILED'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'INTERNAL';

export class ZddError extends Error {
  readonly code: ErrorCode;
  /** What the operator can do about it, shown by the CLI under the message. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; hint?: string } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ZddError';
    this.code = code;
    this.hint = opts.hint;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): ErrorCode {
  return err instanceof ZddError ? err.code : 'INTERNAL';
}
