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
  /** the host's disk refused a write (read-only, full, no permission): the command failed, the agent runs on */
  | 'HOST_FAULT'
  /** the host's agent has been gone past the host grace: it left the pool, its steps are left out */
  | 'HOST_GONE'
  /** a coordinator already holds this database */
  | 'DB_HELD'
  /** this coordinator is a standby (coordinators sharing PostgreSQL): the leader's address travels as zdd-leader */
  | 'NOT_LEADER'
  /** a traffic change sent as a difference from a generation the edge does not hold: it is sent whole instead */
  | 'TRAFFIC_BASE'
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

const FAULTS: Record<string, { what: string; hint: string }> = {
  EROFS: { what: 'the file system is read-only', hint: 'remount it read-write (or move the state directory to a writable disk)' },
  ENOSPC: { what: 'the disk is full', hint: 'free space on that disk' },
  EDQUOT: { what: 'the disk quota is exhausted', hint: 'free space or raise the quota' },
  EACCES: { what: 'permission denied', hint: "give the agent's user write access to it" },
  EPERM: { what: 'operation not permitted', hint: "give the agent's user write access to it" },
  EIO: { what: 'an I/O error', hint: 'check the disk (dmesg)' },
};

/**
 * A file system error (read-only, full, no permission) as HOST_FAULT naming the path and what to
 * do; any other error is returned as it is.
 */
export function hostFault(err: unknown, doing?: string): unknown {
  const e = err as NodeJS.ErrnoException;
  const f = e && typeof e === 'object' && e.code ? FAULTS[e.code] : undefined;
  if (!f || err instanceof ZddError) return err;
  return new ZddError('HOST_FAULT', `cannot ${doing ?? `write ${e.path ?? 'a file'}`}: ${f.what} (${e.code})`, { cause: err, hint: `${f.hint}; then zddctl resume the paused rollout` });
}
