// The service spec: what an operator writes (YAML or JSON), its schema, and the compiled form that
// agents and the coordinator use (durations as …Ms numbers, frozen).
import { z } from 'zod';
import YAML from 'yaml';
import { parseDuration } from './duration.js';
import { ZddError } from './errors.js';
import type { Thresholds } from './analysis.js';

const DURATION_EXPECTED = 'expected a duration such as "500ms", "5s" or "2m", at most 24h';
/** a duration as stored: a bare number is milliseconds (specs applied before units were required) */
const storedDuration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== undefined, { message: DURATION_EXPECTED });
/** a duration in a spec applied now: a bare number is refused, as `deadline: 30` meant 30 seconds to whoever wrote it */
const newDuration = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  if (typeof v === 'number' || /^\s*\d+(\.\d+)?\s*$/.test(v)) ctx.addIssue({ code: 'custom', message: `${v} what? write ${v}s (or ${v}ms, ${v}m): a duration needs its unit` });
  else if (parseDuration(v) === undefined) ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED });
});

const port = z.number().int().min(1).max(65535);
const ratio = z.number().min(0).max(1);
const portOf = (listen: string) => listen.slice(listen.lastIndexOf(':') + 1);
const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and dashes, starting with a letter');
const signal = z.enum(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']);
// `listen: 80` arrives from YAML as a number
const listen = z
  .union([port.transform(String), z.string()])
  .pipe(z.string().regex(/^(?:(?:\d{1,3}\.){3}\d{1,3}:|\[[0-9a-fA-F:]+\]:)?\d{1,5}$/, 'expected "PORT" or "ADDRESS:PORT"'));
/** nginx's own word separators (ngx_conf_file.c): not every character \s matches. */
const NGINX_SPACE = new Set([' ', '\t']);

/**
 * One directive of a spec as nginx would read it: its words, quotes removed. Stricter than nginx,
 * so that an entry can never run on into the next one (they are rendered one after another): no
 * backslash, "#", CR or LF anywhere; a quote opens a word only at its start, must close, and be
 * followed by a space or the ";"; exactly one statement, ended by ";" with nothing after it.
 * Returns the words, or why the entry is refused.
 */
export function parseDirective(text: string): { words: string[] } | { refused: string } {
  if (/[\\#\r\n]/.test(text)) return { refused: 'a directive may not contain a backslash, "#" or a line break' };
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (word === undefined && (c === '"' || c === "'")) {
      const close = text.indexOf(c, i + 1);
      if (close < 0) return { refused: 'a quote is not closed' };
      words.push(text.slice(i + 1, close));
      i = close;
      const next = text[i + 1];
      if (next !== undefined && next !== ';' && !NGINX_SPACE.has(next)) return { refused: 'a closing quote must be followed by a space or ";"' };
      continue;
    }
    if (NGINX_SPACE.has(c) || c === ';') {
      if (word !== undefined) words.push(word);
      word = undefined;
      if (c === ';') break;
    } else word = (word ?? '') + c;
  }
  if (text[i] !== ';') return { refused: 'a directive must end with ";"' };
  if (text.slice(i + 1).trim()) return { refused: 'one directive per entry: give each its own line in the list' };
  if (!words.length) return { refused: 'an empty directive' };
  return { words };
}

/**
 * The directives a spec may add to its location block: headers, timeouts, buffers, sizes, limits,
 * compression, caching headers and access rules. Nothing that runs code (Lua, Perl, njs), reads,
 * writes or serves files (root, alias, include, access_log, gzip_static), sends anything
 * elsewhere (proxy_pass, mirror, syslog), or changes whom nginx trusts (real_ip): the edge's nginx
 * runs as the agent's user, beside its key.
 */
export const ALLOWED_DIRECTIVE =
  /^(?:add_header|add_trailer|expires|etag|charset|default_type|server_tokens|client_max_body_size|client_body_buffer_size|client_body_timeout|client_header_timeout|send_timeout|keepalive_timeout|keepalive_requests|gzip|gzip_types|gzip_min_length|gzip_comp_level|gzip_vary|gzip_proxied|gzip_buffers|gzip_disable|gzip_http_version|limit_req|limit_rate|limit_rate_after|limit_conn|allow|deny|error_page|proxy_(?:set_header|hide_header|pass_header|ignore_headers|read_timeout|send_timeout|connect_timeout|buffering|buffer_size|buffers|busy_buffers_size|request_buffering|http_version|intercept_errors|redirect|cookie_domain|cookie_path|cookie_flags|max_temp_file_size|next_upstream_timeout|next_upstream_tries)|chunked_transfer_encoding|tcp_nodelay|tcp_nopush|log_not_found|if_modified_since|max_ranges|postpone_output|sendfile|satisfy)$/;

// Operator-supplied nginx directives go inside the service's location block; nginx -t judges them.
const directive = z
  .string()
  .min(1)
  .max(4096)
  .refine((d) => !/[{}]/.test(d), { message: 'a directive may not open or close a block' })
  .superRefine((d, ctx) => {
    const r = parseDirective(d.trim());
    if ('refused' in r) {
      ctx.addIssue({ code: 'custom', message: r.refused });
      return;
    }
    const name = r.words[0];
    if (!ALLOWED_DIRECTIVE.test(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `${name.slice(0, 60)} is not a directive a spec may add: only headers, timeouts, buffers, sizes, limits, gzip, expires and access rules (nothing that runs code, touches files, or sends anything elsewhere)`,
      });
    }
  });

const commandLine = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
export const HOOK_NAMES = ['pre', 'beforeStart', 'afterHealthy', 'beforeDrain', 'afterStop', 'post'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The spec's schema, with the durations of stored specs or of new ones. */
function specSchema(duration: typeof storedDuration) {
  /** a hook: a shell command, an argv, or either with its own timeout */
  const hook = z.union([
    commandLine.transform((command) => ({ command, timeout: '60s' as string | number })),
    z.object({ command: commandLine, timeout: duration.default('60s') }).strict(),
  ]);
  return z
    .object({
      name,
      command: commandLine,
      workdir: z.string().min(1).optional(),
      env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'), z.string()).default({}),
      ports: z.object({ a: port, b: port }).strict().refine((p) => p.a !== p.b, { message: 'slot a and slot b need different ports' }),
      health: z
        .object({
          path: z.string().startsWith('/').default('/healthz'),
          expectStatus: z.number().int().min(100).max(599).default(200),
          interval: duration.default('500ms'),
          timeout: duration.default('2s'),
          healthyThreshold: z.number().int().min(1).max(100).default(2),
          minHealthy: duration.default('0s'),
          deadline: duration.default('60s'),
        })
        .strict()
        .prefault({}),
      stop: z
        .object({
          signal: signal.default('SIGTERM'),
          drainTimeout: duration.default('30s'),
          /** how long long-lived connections (WebSocket, SSE) may stay on an old instance after the switch before it gets its stop signal */
          longLivedGrace: duration.default('30s'),
          /**
           * closes of long-lived connections are spread over this long: each host's stop signal waits
           * a random part of it, and the app finds it in ZDD_STOP_SPREAD_MS to spread its own closes
           */
          spread: duration.default('0s'),
        })
        .strict()
        .prefault({})
        .refine((s) => !(parseDuration(s.spread)! >= parseDuration(s.drainTimeout)!), {
          message: 'stop.spread must be shorter than stop.drainTimeout: the app spreads its closes over spread, and is killed at drainTimeout',
          path: ['spread'],
        }),
      hosts: z
        .object({
          selector: z.record(z.string(), z.string()).default({}),
          /**
           * the share of the service's backends (percent) that stays in traffic when hosts are gone:
           * a gone host leaves the pool only while at least this share remains (a coordinator cut off
           * from a healthy fleet never empties it; the edge still ejects backends that refuse)
           */
          minHealthyShare: z.number().min(0).max(100).default(50),
        })
        .strict()
        .prefault({}),
      /** what the agent does when a live instance exits on its own */
      restart: z
        .object({
          policy: z.enum(['always', 'on-failure', 'never']).default('on-failure'),
          /** restarts within `window`; past it the instance stays down and says so */
          limit: z.number().int().min(0).max(1000).default(5),
          window: duration.default('10m'),
          /** the first restart's delay; it doubles per restart within the window, up to 30s */
          backoff: duration.default('1s'),
        })
        .strict()
        .prefault({}),
      nginx: z
        .object({
          listen,
          serverName: z.string().regex(/^[A-Za-z0-9.*_-]+$/, 'expected a host name').default('_'),
          edges: z.array(z.string().min(1)).default([]),
          upstreamKeepalive: z.number().int().min(0).max(10_000).default(64),
          upstreamKeepaliveTimeout: duration.default('4s'),
          retry: z.enum(['off', 'connect']).default('connect'),
          directives: z.array(directive).default([]),
          /** the cookie that keys a client for a canary's share; the edge sets it (HttpOnly, a year) on a client that has none */
          clientCookie: z
            .string()
            .regex(/^[A-Za-z0-9_]{1,64}$/, 'expected letters, digits and underscores')
            .refine((c) => c !== 'zdd_track', { message: 'zdd_track is the cookie that forces a track; name the key cookie otherwise' })
            .default('zdd_key'),
          /** a second listener that serves the preview track (blue/green's new colour before the switch) */
          preview: listen.optional(),
        })
        .strict()
        .refine((n) => !n.preview || portOf(n.preview) !== portOf(n.listen), {
          message: 'the preview listener needs a port of its own, not the live listener\'s',
          path: ['preview'],
        }),
      /** canary and blue/green bake analysis; `zddctl rollout` flags override these */
      analysis: z
        .object({
          maxErrorRate: ratio.default(0.01),
          maxErrorRateDelta: ratio.default(0.01),
          maxP95Ratio: z.number().min(1).max(1000).default(2),
          minRequests: z.number().int().min(1).max(10_000_000).default(100),
          interval: duration.default('1s'),
          /** a timed step or bake still without enough requests this long after its pause pauses the rollout */
          maxWait: duration.default('30m'),
        })
        .strict()
        .prefault({}),
      /** blue/green verification against the preview listener, before the switch */
      verify: z
        .object({
          checks: z
            .array(
              z
                .object({
                  path: z.string().startsWith('/'),
                  method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
                  expectStatus: z.number().int().min(100).max(599).default(200),
                  bodyContains: z.string().optional(),
                })
                .strict(),
            )
            .default([]),
          /** run on the edge host with ZDD_PREVIEW_URL set; exit 0 passes */
          command: commandLine.optional(),
          timeout: duration.default('30s'),
        })
        .strict()
        .prefault({}),
      /** releases staged from artifacts (zddctl rollout --artifact) */
      release: z
        .object({
          /** releases of this service kept on each host, the live one included, so a rollback needs no download */
          keep: z.number().int().min(1).max(100).default(3),
          /** run in the unpacked release before it is marked staged (for example "npm ci --omit=dev") */
          prepare: commandLine.optional(),
          prepareTimeout: duration.default('5m'),
        })
        .strict()
        .prefault({}),
      /**
       * Lifecycle hooks. Per host: beforeStart, afterHealthy (new instance), beforeDrain (before the
       * traffic change that takes the old instance out), afterStop (old instance). Per rollout: pre
       * (once, on one host, before the first batch), post (once, after the last).
       */
      hooks: z
        .object(Object.fromEntries(HOOK_NAMES.map((h) => [h, hook.optional()])) as Record<HookName, z.ZodOptional<typeof hook>>)
        .strict()
        .prefault({}),
    })
    .strict();
}

/** A spec as stored and as commands carry it (a bare-number duration is milliseconds). */
export const ServiceSpecSchema = specSchema(storedDuration);
/** A spec being applied: durations need their unit. */
const NewSpecSchema = specSchema(newDuration);

export type ServiceSpec = z.infer<typeof ServiceSpecSchema>;

/** The spec as the running code uses it: durations in milliseconds, nothing optional left open. */
export interface CompiledSpec {
  readonly name: string;
  readonly argv: readonly string[];
  readonly workdir?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly ports: { readonly a: number; readonly b: number };
  readonly health: {
    readonly path: string;
    readonly expectStatus: number;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly healthyThreshold: number;
    readonly minHealthyMs: number;
    readonly deadlineMs: number;
  };
  readonly stop: { readonly signal: NodeJS.Signals; readonly drainTimeoutMs: number; readonly longLivedGraceMs: number; readonly spreadMs: number };
  readonly selector: Readonly<Record<string, string>>;
  readonly minHealthyShare: number;
  readonly restart: { readonly policy: 'always' | 'on-failure' | 'never'; readonly limit: number; readonly windowMs: number; readonly backoffMs: number };
  readonly nginx: {
    readonly listen: string;
    readonly serverName: string;
    readonly edges: readonly string[];
    readonly upstreamKeepalive: number;
    readonly upstreamKeepaliveTimeoutMs: number;
    readonly retry: 'off' | 'connect';
    readonly directives: readonly string[];
    readonly clientCookie: string;
    readonly preview?: string;
  };
  readonly analysis: Thresholds & { readonly intervalMs: number; readonly maxWaitMs: number };
  readonly verify: {
    readonly checks: readonly { path: string; method: 'GET' | 'HEAD' | 'POST'; expectStatus: number; bodyContains?: string }[];
    readonly argv?: readonly string[];
    readonly timeoutMs: number;
  };
  readonly release: { readonly keep: number; readonly prepareArgv?: readonly string[]; readonly prepareTimeoutMs: number };
  readonly hooks: Partial<Record<HookName, { readonly argv: readonly string[]; readonly timeoutMs: number }>>;
}

const shellArgv = (c: string | readonly string[]) => (typeof c === 'string' ? ['/bin/sh', '-c', c] : [...c]);

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(spec)'}: ${i.message}`)
    .join('; ');
}

/** Validates an already-parsed spec object being applied. Throws INVALID_SPEC naming each bad field. */
export function validateSpec(input: unknown, schema: typeof ServiceSpecSchema = NewSpecSchema): ServiceSpec {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new ZddError('INVALID_SPEC', `invalid service spec: ${formatIssues(r.error)}`, {
      hint: 'fix the named fields and apply the spec again',
    });
  }
  return r.data;
}

/** Parses spec text, YAML or JSON (JSON is YAML). */
export function parseSpecText(text: string): ServiceSpec {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new ZddError('INVALID_SPEC', `the spec is not valid YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateSpec(raw);
}

/** A spec from the journal, with the defaults of fields added since it was applied. */
export const storedSpec = (input: unknown): ServiceSpec => validateSpec(input, ServiceSpecSchema);

export function compileSpec(input: ServiceSpec): CompiledSpec {
  // a spec stored by an older zdd lacks the fields added since: their defaults apply
  const spec = ServiceSpecSchema.parse(input);
  const ms = (v: string | number) => parseDuration(v)!;
  const argv = typeof spec.command === 'string' ? ['/bin/sh', '-c', `exec ${spec.command}`] : spec.command;
  return Object.freeze({
    name: spec.name,
    argv: Object.freeze([...argv]),
    workdir: spec.workdir,
    env: Object.freeze({ ...spec.env }),
    ports: Object.freeze({ ...spec.ports }),
    health: Object.freeze({
      path: spec.health.path,
      expectStatus: spec.health.expectStatus,
      intervalMs: ms(spec.health.interval),
      timeoutMs: ms(spec.health.timeout),
      healthyThreshold: spec.health.healthyThreshold,
      minHealthyMs: ms(spec.health.minHealthy),
      deadlineMs: ms(spec.health.deadline),
    }),
    stop: Object.freeze({
      signal: spec.stop.signal as NodeJS.Signals,
      drainTimeoutMs: ms(spec.stop.drainTimeout),
      longLivedGraceMs: ms(spec.stop.longLivedGrace),
      spreadMs: ms(spec.stop.spread),
    }),
    selector: Object.freeze({ ...spec.hosts.selector }),
    minHealthyShare: spec.hosts.minHealthyShare,
    restart: Object.freeze({ policy: spec.restart.policy, limit: spec.restart.limit, windowMs: ms(spec.restart.window), backoffMs: ms(spec.restart.backoff) }),
    nginx: Object.freeze({
      listen: spec.nginx.listen,
      serverName: spec.nginx.serverName,
      edges: Object.freeze([...spec.nginx.edges]),
      upstreamKeepalive: spec.nginx.upstreamKeepalive,
      upstreamKeepaliveTimeoutMs: ms(spec.nginx.upstreamKeepaliveTimeout),
      retry: spec.nginx.retry,
      directives: Object.freeze([...spec.nginx.directives]),
      clientCookie: spec.nginx.clientCookie,
      ...(spec.nginx.preview ? { preview: spec.nginx.preview } : {}),
    }),
    analysis: Object.freeze({
      maxErrorRate: spec.analysis.maxErrorRate,
      maxErrorRateDelta: spec.analysis.maxErrorRateDelta,
      maxP95Ratio: spec.analysis.maxP95Ratio,
      minRequests: spec.analysis.minRequests,
      intervalMs: ms(spec.analysis.interval),
      maxWaitMs: ms(spec.analysis.maxWait),
    }),
    verify: Object.freeze({
      checks: Object.freeze(spec.verify.checks.map((c) => Object.freeze({ ...c }))),
      ...(spec.verify.command ? { argv: Object.freeze(shellArgv(spec.verify.command)) } : {}),
      timeoutMs: ms(spec.verify.timeout),
    }),
    release: Object.freeze({
      keep: spec.release.keep,
      ...(spec.release.prepare ? { prepareArgv: Object.freeze(shellArgv(spec.release.prepare)) } : {}),
      prepareTimeoutMs: ms(spec.release.prepareTimeout),
    }),
    hooks: Object.freeze(
      Object.fromEntries(
        HOOK_NAMES.filter((h) => spec.hooks[h]).map((h) => [h, Object.freeze({ argv: Object.freeze(shellArgv(spec.hooks[h]!.command)), timeoutMs: ms(spec.hooks[h]!.timeout) })]),
      ),
    ),
  });
}

/** Substitutes {version}, {service} and {release} (the staged release's directory) in a template such as a working directory. */
export function expandTemplate(template: string, vars: { version: string; service: string; release?: string; port?: number; slot?: string }): string {
  let out = template.replaceAll('{version}', vars.version).replaceAll('{service}', vars.service).replaceAll('{release}', vars.release ?? '{release}');
  if (vars.port !== undefined) out = out.replaceAll('{port}', String(vars.port));
  if (vars.slot !== undefined) out = out.replaceAll('{slot}', vars.slot);
  return out;
}

/** An agent's --port-offset at most: ports of a spec plus the offset stay below 65536, and beyond this no spec fits. */
export const MAX_PORT_OFFSET = 60_000;

export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
