// Bounds on everything an agent's session carries. An agent is trusted to be who its certificate
// says, not to send sane data: a hello or heartbeat outside these bounds ends the session with
// INVALID_ARGUMENT before anything of it is stored or planned with.
import { isIP } from 'node:net';
import { z } from 'zod';
import { ZddError } from '../lib/errors.js';
import { PRINCIPAL_NAME } from '../lib/identity.js';
import { MAX_PORT_OFFSET } from '../lib/spec.js';
import type { Hello__Output } from '../proto/gen/zdd/v1/Hello.js';
import type { Heartbeat__Output } from '../proto/gen/zdd/v1/Heartbeat.js';


const text = (max: number) => z.string().max(max);
const facts = z
  .object({
    hostname: text(253),
    cores: z.number().int().min(0).max(65_536),
    load_pct: z.number().min(0).max(100_000),
    load_avg_1m: z.number().min(0).max(1e6),
    mem_total_bytes: z.number().min(0),
    mem_available_bytes: z.number().min(0),
  })
  .nullable();
const instances = z
  .array(
    z.object({
      service: text(63),
      slot: text(8),
      version: text(128),
      port: z.number().int().min(0).max(65_535),
      pid: z.number().int(),
      state: text(16),
      started_at_ms: z.number(),
      log_file: text(4096),
      restarts: z.number().int().min(0).max(100_000),
    }),
  )
  .max(256, 'more than 256 instances');

const HelloSchema = z.object({
  agent_id: z.string().regex(PRINCIPAL_NAME, 'expected letters, digits, ".", "_", "-" (at most 128)'),
  agent_version: text(64),
  labels: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'a label key is 1-63 letters, digits, ".", "_" or "-"'), z.string().regex(/^[A-Za-z0-9_.-]{0,63}$/, 'a label value is at most 63 letters, digits, ".", "_" or "-"'))
    .refine((l) => Object.keys(l).length <= 32, 'more than 32 labels'),
  advertise: z.string().refine((a) => isIP(a) !== 0, 'advertise must be an IP address literal'),
  port_offset: z.number().int().min(0).max(MAX_PORT_OFFSET, `the port offset is at most ${MAX_PORT_OFFSET}`),
  facts,
  instances,
  edge: z.object({ mode: z.enum(['dynamic', 'reload']), listen_host: text(64) }).nullable(),
  releases_roots: z.array(z.string().max(4096).startsWith('/', 'a release root is an absolute path')).max(16),
});

const HeartbeatSchema = z.object({ facts, instances, ejected: z.array(text(400)).max(1000, 'more than 1000 ejected backends') });
const NoticeSchema = z.object({ level: z.enum(['info', 'warn', 'error']), service: text(63), slot: text(8), message: text(2000), at_ms: z.number() });

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // the offending value is never echoed: it may be megabytes
  throw new ZddError('INVALID_ARGUMENT', `${what} refused: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ')}`);
}

export const checkHello = (h: Hello__Output): Hello__Output => (check(HelloSchema, h, 'hello'), h);
export const checkNotice = <T>(n: T): T => (check(NoticeSchema, n, 'notice'), n);
export const checkHeartbeat = (h: Heartbeat__Output): Heartbeat__Output => (check(HeartbeatSchema, h, 'heartbeat'), h);

/** The most a command's result, error or progress may carry back. */
export const MAX_RESULT_BYTES = 1024 * 1024;
