// The edge: drives nginx as the traffic switch. In dynamic mode a service's config is rendered once
// and every traffic change is pushed into nginx's shared dictionary through the loopback admin
// endpoint (no reload), and written to disk so nginx restores it at start. In reload mode the
// upstream include is rewritten, validated with `nginx -t`, renamed into place and reloaded, and
// the new generation is verified; on any failure the previous file is restored.
import { spawn, spawnSync } from 'node:child_process';
import { runBounded } from '../run.js';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Logger } from '../../lib/log.js';
import { ZddError } from '../../lib/errors.js';
import { compileSpec, type CompiledSpec, type ServiceSpec } from '../../lib/spec.js';
import { establishedTcp, portFree } from '../../lib/proc.js';
import { BUCKETS_MS, BUCKET_COUNT, figuresOf, parseMetricsText, windowOf, type Counters, type Figures } from '../../lib/analysis.js';
import { newestVersion, trafficText, type Backend, type TrafficDoc } from '../../lib/traffic.js';
import { readIfExists } from '../../lib/fs-atomic.js';
import type { AnalyzeResult, ApplyTrafficResult, AwaitIdleResult, ConfigureEdgeResult, EdgeGauges, VerifyResult } from '../../lib/commands.js';
import { LUA_DIR } from '../../lib/paths.js';
import { writeFileAtomic } from '../../lib/fs-atomic.js';
import { docOfUpstreamConf, renderHttpConf, renderMainConf, renderServiceConf, renderUpstreamConf, type EdgeMode } from './render.js';
import { agentStateLayout, nginxMasterPid } from '../state-layout.js';
import type { EdgeDriver } from '../edge-driver.js';

export interface EdgeConfig {
  mode: EdgeMode;
  stateDir: string;
  adminListen: string;
  /** manage the system nginx through this include directory; otherwise run a private nginx */
  systemIncludeDir?: string;
  nginxBin: string;
  modulesDir: string;
  workerProcesses: number;
  /** dynamic mode: an access log with each request's upstream, status and timing */
  accessLog?: string;
  log: Logger;
}

/** True when nginx's Lua module is installed, so dynamic mode can be the default. */
export function luaModuleInstalled(modulesDir: string): boolean {
  return fs.existsSync(path.join(modulesDir, 'ngx_http_lua_module.so')) && fs.existsSync(path.join(modulesDir, 'ndk_http_module.so'));
}

const serialOf = (httpConf: string) => /return 200 "(\w+)\\n"/.exec(httpConf)?.[1] ?? '';

/** One access-log line, "TRACK UPSTREAM_ADDR STATUS REQUEST_TIME", into the counters. */
function addLogLine(c: Counters, line: string) {
  const m = /^(\S+) (.+) (\d{3}) ([\d.]+)$/.exec(line.trim());
  if (!m) return;
  // after a retry the upstream address lists each tried peer; the last one answered
  const addr = m[2].split(/[,:]\s+/).pop()!.trim();
  const status = Number(m[3]);
  const ms = Number(m[4]) * 1000;
  const x = ((c[m[1]] ??= {})[addr] ??= { requests: 0, errors: 0, buckets: new Array(BUCKET_COUNT).fill(0) });
  x.requests++;
  if (status >= 500) x.errors++;
  let i = BUCKETS_MS.findIndex((b) => ms <= b);
  if (i < 0) i = BUCKETS_MS.length;
  x.buckets[i]++;
}

const portOfListen = (listen: string) => listen.slice(listen.lastIndexOf(':') + 1);

/** The backends and the preferred version of a traffic file (lib/traffic.ts trafficText), as far as they matter to the next one. */
function textDoc(text: string): { doc: TrafficDoc; newest?: string } | undefined {
  const backends: Backend[] = [];
  let newest: string | undefined;
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'newest') newest = w[1];
    if (w[0] === 'backend') backends.push({ track: w[1], addr: w[2], weight: Number(w[3]), version: w[4] });
  }
  return text ? { doc: { service: '', generation: 0, backends }, newest } : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Established TCP connections from this host to each of the addresses (IPv4 host:port): nginx's connections to backends, whichever worker holds them. */
export function establishedTo(addrs: string[]): Map<string, number> {
  const want = new Set(addrs);
  const out = new Map<string, number>();
  for (const c of establishedTcp()) if (want.has(c.remote)) out.set(c.remote, (out.get(c.remote) ?? 0) + 1);
  return out;
}

function adminRequest(listen: string, method: string, urlPath: string, body?: string): Promise<{ status: number; text: string }> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(listen.slice(i + 1));
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: urlPath, agent: false, timeout: 3000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: text.trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('admin endpoint did not answer within 3s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * nginx as the traffic switch: a private nginx (or the system's, through an include directory)
 * with one config per service. What differs between the Lua balancer (dynamic) and a verified
 * reload (reload) is in the two subclasses below; createNginxEdge picks one.
 */
export abstract class NginxEdge implements EdgeDriver {
  protected readonly dir: string;
  private readonly prefix: string;
  private readonly confDir: string;
  protected readonly services = new Map<string, ServiceSpec>();
  private master: import('node:child_process').ChildProcess | undefined;
  private masterPid: number | undefined;
  /** serializes config and traffic changes: one nginx change at a time */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(protected readonly cfg: EdgeConfig) {
    const layout = agentStateLayout(cfg.stateDir);
    this.prefix = layout.nginxPrefix;
    this.dir = path.dirname(this.prefix);
    this.confDir = cfg.systemIncludeDir ?? path.join(this.prefix, 'conf', 'zdd');
    for (const d of [this.dir, path.join(this.dir, 'traffic'), path.join(this.dir, 'upstreams'), path.join(this.dir, 'logs'), this.confDir]) fs.mkdirSync(d, { recursive: true });
    try {
      const saved = JSON.parse(fs.readFileSync(path.join(this.dir, 'services.json'), 'utf8')) as Record<string, ServiceSpec>;
      for (const [k, v] of Object.entries(saved)) this.services.set(k, v);
    } catch {
      /* first start */
    }
  }

  get mode(): EdgeMode {
    return this.cfg.mode;
  }

  protected fileName(kind: 'http' | 'svc', service?: string) {
    const pre = this.cfg.systemIncludeDir ? 'zdd-' : '';
    return path.join(this.confDir, kind === 'http' ? `${pre}00-http.conf` : `${pre}svc-${service}.conf`);
  }
  protected trafficFile(service: string) {
    return path.join(this.dir, 'traffic', `${service}.txt`);
  }
  /** reload mode: nginx logs track, backend, status and time of each request here, for analysis */
  protected accessLog(service: string) {
    return path.join(this.dir, 'logs', `access-${service}.log`);
  }
  protected upstreamFile(service: string) {
    return path.join(this.dir, 'upstreams', `${service}.conf`);
  }

  private nginxArgs(): string[] {
    return this.cfg.systemIncludeDir ? [] : ['-p', this.prefix, '-c', path.join(this.prefix, 'conf', 'nginx.conf')];
  }

  /**
   * Renders the http-level file. Its serial (answered at /zdd/config) hashes every file zdd owns,
   * taking not-yet-written files from `pending`, so a reload is verified against what it should load.
   */
  private renderHttp(pending: Map<string, string> = new Map()): string {
    const services = [...this.services.keys()].sort().map((name) => {
      const h = compileSpec(this.services.get(name)!).health;
      return { name, trafficFile: this.trafficFile(name), healthPath: h.path, healthStatus: h.expectStatus };
    });
    const input = { mode: this.cfg.mode, adminListen: this.cfg.adminListen, luaDir: LUA_DIR, services, serial: '' };
    const h = crypto.createHash('sha256').update(renderHttpConf(input));
    for (const s of services) {
      const f = this.fileName('svc', s.name);
      h.update(pending.get(f) ?? (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : ''));
    }
    return renderHttpConf({ ...input, serial: h.digest('hex').slice(0, 16) });
  }

  /** The config serial nginx is running now, from nginx itself ('' when it does not answer). */
  private liveSerial(): Promise<string> {
    return adminRequest(this.cfg.adminListen, 'GET', '/zdd/config').then((r) => (r.status === 200 ? r.text : ''), () => '');
  }

  private expectedSerial(): string {
    return serialOf(fs.readFileSync(this.fileName('http'), 'utf8'));
  }

  private test(): { ok: boolean; output: string } {
    const r = spawnSync(this.cfg.nginxBin, ['-t', ...this.nginxArgs()], { encoding: 'utf8' });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim();
    return { ok: r.status === 0, output };
  }

  protected errorLogTail(): string {
    const file = this.cfg.systemIncludeDir ? '/var/log/nginx/error.log' : path.join(this.prefix, 'logs', 'error.log');
    try {
      const buf = fs.readFileSync(file);
      return buf.subarray(Math.max(0, buf.length - 600)).toString('utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '';
    }
  }

  private readMasterPid(): number | undefined {
    return this.cfg.systemIncludeDir ? nginxMasterPid('/run/nginx.pid') : nginxMasterPid(path.join(this.prefix, 'nginx.pid'), this.prefix);
  }

  /** Brings nginx up: adopts a running master of ours, or starts a private one. */
  async start(): Promise<void> {
    if (!this.cfg.systemIncludeDir) {
      for (const d of ['conf', 'logs', 'temp']) fs.mkdirSync(path.join(this.prefix, d), { recursive: true });
      writeFileAtomic(
        path.join(this.prefix, 'conf', 'nginx.conf'),
        renderMainConf({
          prefix: this.prefix,
          mode: this.cfg.mode,
          modulesDir: this.cfg.modulesDir,
          includeGlob: path.join(this.confDir, '*.conf'),
          runAsRoot: process.getuid?.() === 0,
          workerProcesses: this.cfg.workerProcesses,
        }),
      );
    }
    writeFileAtomic(this.fileName('http'), this.renderHttp());
    const t = this.test();
    if (!t.ok) throw new ZddError('NGINX_INVALID', `nginx configuration does not validate: ${t.output}`);
    this.masterPid = this.readMasterPid();
    if (this.masterPid) {
      this.cfg.log.info({ pid: this.masterPid }, 'nginx adopted');
      // A reload closes idle client keep-alive connections: only when the config really changed.
      if ((await this.liveSerial()) !== this.expectedSerial()) {
        await this.reload();
        await this.verifySerial(this.expectedSerial(), 10_000);
      }
      return;
    }
    if (this.cfg.systemIncludeDir) {
      throw new ZddError('NGINX_FAILED', 'the system nginx is not running', { hint: 'start it (systemctl start nginx) and restart the agent' });
    }
    const out = fs.openSync(path.join(this.prefix, 'logs', 'stderr.log'), 'a');
    const child = spawn(this.cfg.nginxBin, [...this.nginxArgs(), '-g', 'daemon off;'], { detached: true, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.master = child;
    child.on('exit', (code, sig) => {
      this.cfg.log.warn({ code, sig }, 'nginx exited');
      if (this.master === child) this.master = undefined;
      if (this.masterPid === child.pid) this.masterPid = undefined;
    });
    this.masterPid = child.pid;
    await this.verifySerial(this.expectedSerial(), 10_000);
    this.cfg.log.info({ pid: child.pid, prefix: this.prefix, mode: this.cfg.mode }, 'nginx started');
  }

  /** Stops a private nginx (gracefully, then by force). The system nginx is left running. */
  async stop(): Promise<void> {
    if (this.cfg.systemIncludeDir || !this.masterPid) return;
    const pid = this.masterPid;
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      return;
    }
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await sleep(50);
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  protected async reload(): Promise<void> {
    if (!this.masterPid) throw new ZddError('NGINX_FAILED', 'nginx is not running');
    // Every worker alive now belongs to an older generation once the master has reloaded; a
    // drain in reload mode waits for exactly these processes to exit.
    for (const pid of this.workers()) this.retiring.add(pid);
    process.kill(this.masterPid, 'SIGHUP');
  }
  /** worker pids of configurations older than the live one */
  protected readonly retiring = new Set<number>();

  /** `nginx -s reload` succeeds even when the master rejects the config: ask nginx what it runs. */
  private async verifySerial(expected: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    while (Date.now() < deadline) {
      try {
        seen = (await adminRequest(this.cfg.adminListen, 'GET', '/zdd/config')).text;
        if (seen === expected) return;
      } catch (err) {
        seen = (err as Error).message;
      }
      if (!this.masterPid) break;
      await sleep(25);
    }
    throw new ZddError('NGINX_FAILED', `nginx did not take the new configuration (admin answered "${seen}"): ${this.errorLogTail()}`);
  }

  protected serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes files, validates the whole config with `nginx -t`, reloads and verifies; on any
   * failure every file is put back as it was and nginx is left on its previous config.
   */
  protected async changeFiles(files: Map<string, string>, verify: () => Promise<void>): Promise<void> {
    const backups = new Map<string, string | undefined>();
    for (const f of files.keys()) backups.set(f, fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined);
    const restore = () => {
      for (const [f, old] of backups) {
        if (old === undefined) fs.rmSync(f, { force: true });
        else writeFileAtomic(f, old);
      }
    };
    for (const [f, text] of files) writeFileAtomic(f, text);
    const t = this.test();
    if (!t.ok) {
      restore();
      throw new ZddError('NGINX_INVALID', `nginx rejected the configuration: ${t.output.replace(/\s*\n\s*/g, ' | ')}`, {
        hint: 'fix the nginx settings in the service spec; the live configuration was left unchanged',
      });
    }
    try {
      await this.reload();
      await verify();
    } catch (err) {
      restore();
      await this.reload().catch(() => undefined);
      throw err;
    }
  }

  /** Renders a service's listener and upstream; reloads only when the rendered text changed. */
  configure(raw: ServiceSpec): Promise<ConfigureEdgeResult> {
    return this.serialize(async () => {
      const spec = compileSpec(raw);
      const began = Date.now();
      const hadBefore = this.services.get(spec.name);
      await this.checkListeners(spec, hadBefore ? compileSpec(hadBefore) : undefined);
      this.services.set(spec.name, raw);
      const files = new Map<string, string>();
      const log = this.cfg.mode === 'dynamic' ? this.cfg.accessLog : this.accessLog(spec.name);
      files.set(this.fileName('svc', spec.name), renderServiceConf(spec, this.cfg.mode, this.upstreamFile(spec.name), log));
      this.moreConfig(spec, files);
      const unchanged = [...files].every(([f, t]) => fs.existsSync(f) && fs.readFileSync(f, 'utf8') === t);
      const httpText = this.renderHttp(files);
      files.set(this.fileName('http'), httpText);
      const expected = serialOf(httpText);
      if (unchanged && (await this.liveSerial()) === expected) {
        return { mode: this.cfg.mode, changed: false, reloadMs: 0 };
      }
      try {
        await this.changeFiles(files, () => this.verifySerial(expected, 10_000));
      } catch (err) {
        if (hadBefore) this.services.set(spec.name, hadBefore);
        else this.services.delete(spec.name);
        throw err;
      }
      writeFileAtomic(path.join(this.dir, 'services.json'), JSON.stringify(Object.fromEntries(this.services), null, 1));
      this.configured(spec.name);
      this.cfg.log.info({ service: spec.name, mode: this.cfg.mode }, 'service configured on nginx');
      return { mode: this.cfg.mode, changed: true, reloadMs: Date.now() - began };
    });
  }

  /**
   * A listener may not collide with another service's, with the admin endpoint, or (when it is new)
   * with whatever else listens on this host: nginx would fail to bind it at the reload.
   */
  private async checkListeners(spec: CompiledSpec, before: CompiledSpec | undefined): Promise<void> {
    const mine = [spec.nginx.listen, ...(spec.nginx.preview ? [spec.nginx.preview] : [])];
    const taken = new Map<string, string>([[portOfListen(this.cfg.adminListen), 'the edge admin endpoint']]);
    for (const [name, other] of this.services) {
      if (name === spec.name) continue;
      const o = compileSpec(other);
      taken.set(portOfListen(o.nginx.listen), `the listener of ${name}`);
      if (o.nginx.preview) taken.set(portOfListen(o.nginx.preview), `the preview listener of ${name}`);
    }
    const had = new Set(before ? [before.nginx.listen, before.nginx.preview].filter(Boolean).map((l) => portOfListen(l!)) : []);
    for (const l of mine) {
      const port = portOfListen(l);
      const what = l === spec.nginx.listen ? 'listener' : 'preview listener';
      if (taken.has(port)) {
        throw new ZddError('PORT_IN_USE', `the ${what} of ${spec.name} (${l}) collides with ${taken.get(port)} on this edge`, {
          hint: 'give it a port of its own in the spec and apply it again; nothing was changed',
        });
      }
      if (!had.has(port) && !(await portFree(Number(port)))) {
        throw new ZddError('PORT_IN_USE', `the ${what} of ${spec.name} (${l}): port ${port} is already in use on the edge host`, {
          hint: 'free the port or choose another in the spec; nothing was changed',
        });
      }
    }
  }

  /** The service's per-track counters; with a baseline, the window since then as figures. */
  async analyze(service: string, baseline: Counters | undefined): Promise<AnalyzeResult> {
    const counters = await this.readCounters(service);
    const window = windowOf(counters, baseline);
    const figures: Record<string, Figures> = {};
    for (const track of Object.keys(window)) figures[track] = figuresOf(window, track);
    return { counters, window, figures };
  }

  /** reload mode: per service, how far the access log was read and what it counted */
  protected readonly logCounts = new Map<string, { offset: number; counters: Counters; rest: string }>();

  /**
   * Reload mode's counters: the access log's new lines since the last read, added to what this
   * agent counted before. They start from zero when the agent starts (a window then looks like a
   * counter reset, which the analysis handles) and when the log was rotated.
   */
  protected countAccessLog(service: string): Counters {
    const file = this.accessLog(service);
    let size = 0;
    try {
      size = fs.statSync(file).size;
    } catch {
      /* nothing logged yet */
    }
    let st = this.logCounts.get(service);
    if (!st) {
      st = { offset: size, counters: {}, rest: '' };
      this.logCounts.set(service, st);
    }
    if (size < st.offset) st.offset = 0;
    if (size > st.offset) {
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - st.offset, 64 << 20));
        const n = fs.readSync(fd, buf, 0, buf.length, st.offset);
        st.offset += n;
        const lines = (st.rest + buf.subarray(0, n).toString('utf8')).split('\n');
        st.rest = lines.pop() ?? '';
        for (const line of lines) addLogLine(st.counters, line);
      } finally {
        fs.closeSync(fd);
      }
    }
    return st.counters;
  }

  /** Runs the spec's checks and command against this edge's preview listener. */
  async verify(service: string, a: { checks: { path: string; method: string; expectStatus: number; bodyContains?: string }[]; argv?: string[]; timeoutMs: number }): Promise<VerifyResult> {
    const raw = this.services.get(service);
    if (!raw) throw new ZddError('NOT_FOUND', `service ${service} is not configured on this edge`);
    const spec = compileSpec(raw);
    if (!spec.nginx.preview) {
      throw new ZddError('INVALID_SPEC', `${service} has no preview listener to verify against`, { hint: 'set nginx.preview in the spec' });
    }
    const listen = spec.nginx.preview.includes(':') ? spec.nginx.preview : `127.0.0.1:${spec.nginx.preview}`;
    const base = `http://${listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}`;
    const passed: string[] = [];
    for (const c of a.checks) {
      const res = await fetch(base + c.path, { method: c.method, signal: AbortSignal.timeout(a.timeoutMs) }).catch((err: Error) => {
        throw new ZddError('VERIFY_FAILED', `${c.method} ${c.path} on the preview listener failed: ${err.message}`);
      });
      const body = await res.text();
      if (res.status !== c.expectStatus) {
        throw new ZddError('VERIFY_FAILED', `${c.method} ${c.path} on the preview listener answered ${res.status}, expected ${c.expectStatus}: ${body.slice(0, 200)}`);
      }
      if (c.bodyContains && !body.includes(c.bodyContains)) {
        throw new ZddError('VERIFY_FAILED', `${c.method} ${c.path} on the preview listener answered without "${c.bodyContains}": ${body.slice(0, 200)}`);
      }
      passed.push(`${c.method} ${c.path} → ${res.status}`);
    }
    let output = '';
    if (a.argv?.length) {
      // the same runner as hooks: asynchronous (the agent keeps its session), its process group killed at the timeout
      const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
      const r = await runBounded(a.argv, { cwd: process.cwd(), env: { ...env, ZDD_PREVIEW_URL: base, ZDD_SERVICE: service }, timeoutMs: a.timeoutMs });
      output = r.output.slice(-2000);
      if (!r.ok) {
        throw new ZddError('VERIFY_FAILED', `verification command ${a.argv.join(' ')} failed (${r.why}): ${output.slice(-500)}`);
      }
      passed.push(`${a.argv.join(' ')} → exit 0`);
    }
    return { passed, output };
  }

  /** Moves traffic to the document's backends. Applying the live generation again is a no-op. */
  applyTraffic(doc: TrafficDoc): Promise<ApplyTrafficResult> {
    return this.serialize(async () => {
      const raw = this.services.get(doc.service);
      if (!raw) throw new ZddError('NOT_FOUND', `service ${doc.service} is not configured on this edge`);
      return this.pushTraffic(doc, compileSpec(raw), Date.now());
    });
  }

  /** The traffic change itself, serialized with every other nginx change. */
  protected abstract pushTraffic(doc: TrafficDoc, spec: CompiledSpec, began: number): Promise<ApplyTrafficResult>;
  /** The service's counters as nginx has them now. */
  protected abstract readCounters(service: string): Promise<Counters>;
  /** Requests in flight to these backends, or why they cannot be read. */
  protected abstract inflight(service: string, addrs: string[]): Promise<number | { error: string }>;
  /** Files a service's configuration needs beyond its server block. */
  protected moreConfig(_spec: CompiledSpec, _files: Map<string, string>): void {}
  /** After a service's configuration was loaded. */
  protected configured(_service: string): void {}

  /** "SERVICE ADDR SINCE_MS" for each backend the balancer has ejected (dynamic mode only). */
  async ejected(): Promise<string[]> {
    return [];
  }

  async liveGeneration(service: string): Promise<number> {
    const r = await adminRequest(this.cfg.adminListen, 'GET', `/zdd/traffic/${service}`);
    return r.status === 200 ? Number(r.text) || 0 : 0;
  }

  /**
   * Waits until nginx has no request in flight to the given backends, then (with a grace) until
   * their long-lived connections (WebSocket, SSE) have ended or the grace is over: those left get
   * the app's own close when its instance is stopped. Dynamic mode tells long-lived connections
   * apart (the balancer counts them), so a short request is never left behind. Reload mode cannot:
   * it waits for the workers of older generations to exit, for the grace at most (the drain
   * timeout without one), and then counts the connections still open to the old backends as
   * long-lived. The stop signal that follows lets the app finish what it serves.
   */
  async awaitIdle(service: string, addrs: string[], timeoutMs: number, graceMs = 0): Promise<AwaitIdleResult> {
    const began = Date.now();
    const counts = this.countsLongLived;
    let inflight = -1;
    let zeros = 0;
    let lastError = '';
    let graceFrom = 0;
    let open = 0;
    const result = (idle: boolean, left: number): AwaitIdleResult => ({
      idle,
      waitedMs: Date.now() - began,
      inflight: idle ? 0 : inflight,
      longLived: { open: Math.max(open, left), ended: Math.max(0, open - left), left },
    });
    const limit = !counts && graceMs > 0 ? graceMs : timeoutMs;
    while (Date.now() <= began + limit + (graceFrom ? graceMs : 0)) {
      const n = await this.inflight(service, addrs);
      const ll = counts ? await this.longLived(service, addrs) : 0;
      if (typeof n !== 'number' || typeof ll !== 'number') {
        // an answer that is not a count is no answer: keep asking until the deadline
        lastError = typeof n !== 'number' ? n.error : (ll as { error: string }).error;
        zeros = 0;
        await sleep(50);
        continue;
      }
      inflight = n;
      // two readings in a row with nothing short in flight: a request that picked its peer just
      // before the switch has been counted by then
      zeros = n - ll <= 0 ? zeros + 1 : 0;
      if (n === 0 && zeros >= 2) return result(true, 0);
      if (counts && zeros >= 2) {
        // only long-lived connections are left: the grace runs
        if (!graceFrom) {
          graceFrom = Date.now();
          open = ll;
        }
        if (Date.now() - graceFrom >= graceMs) return result(true, ll);
      }
      await sleep(graceFrom ? 100 : 20);
    }
    if (inflight < 0) throw new ZddError('NGINX_FAILED', `could not read in-flight requests for ${limit}ms: ${lastError}`);
    if (!counts && graceMs > 0) {
      // reload mode, the grace is over: what the old workers still hold goes to the app's close
      let left = 0;
      for (const c of establishedTo(addrs).values()) left += c;
      open = left;
      return result(true, left);
    }
    return result(false, 0);
  }

  /** Dynamic mode counts long-lived connections apart from requests; reload mode cannot. */
  protected readonly countsLongLived: boolean = false;
  protected async longLived(_service: string, _addrs: string[]): Promise<number | { error: string }> {
    return 0;
  }

  /** A service's gauges at this edge (Prometheus: in flight and open long-lived connections per backend). */
  async gauges(service: string): Promise<EdgeGauges> {
    const doc = docOfUpstreamConf(readIfExists(this.upstreamFile(service)) ?? '');
    const open = establishedTo((doc?.backends ?? []).map((b) => b.addr));
    const backends: EdgeGauges['backends'] = {};
    for (const b of doc?.backends ?? []) backends[b.addr] = { inflight: open.get(b.addr) ?? 0, longLived: 0 };
    return { backends, unknownTrack: 0 };
  }

  /** The master's worker processes, from /proc. */
  private workers(): number[] {
    if (!this.masterPid) return [];
    const out: number[] = [];
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[1]) === this.masterPid && fields[0] !== 'Z') out.push(Number(p));
      } catch {
        /* gone */
      }
    }
    return out;
  }

  /** Workers of older configurations still running (they may still be talking to old backends). */
  protected oldWorkers(): number {
    const alive = new Set(this.workers());
    for (const pid of this.retiring) if (!alive.has(pid)) this.retiring.delete(pid);
    return this.retiring.size;
  }

  knownServices(): string[] {
    return [...this.services.keys()];
  }
}

/** nginx with its Lua balancer: a traffic change is a document pushed to the admin endpoint, no reload. */
export class NginxDynamicEdge extends NginxEdge {
  protected override readonly countsLongLived = true;
  protected async pushTraffic(doc: TrafficDoc, _spec: CompiledSpec, began: number): Promise<ApplyTrafficResult> {
    // Staged beside the live file, renamed into place only once nginx took the document, so an
    // nginx restart never restores a document that was refused.
    const file = this.trafficFile(doc.service);
    const staged = `${file}.next`;
    const was = textDoc(readIfExists(file) ?? '');
    const text = trafficText(doc, newestVersion(was?.doc, doc, was?.newest));
    writeFileAtomic(staged, text);
    const r = await adminRequest(this.cfg.adminListen, 'POST', `/zdd/traffic/${doc.service}`, text).catch((err: Error) => ({
      status: 0,
      text: err.message,
    }));
    if (r.status !== 200) {
      fs.rmSync(staged, { force: true });
      throw new ZddError('NGINX_FAILED', `nginx refused traffic generation ${doc.generation}: ${r.text}`);
    }
    fs.renameSync(staged, file);
    const noop = r.text.endsWith('noop');
    this.cfg.log.info({ service: doc.service, generation: doc.generation, backends: doc.backends.map((b) => b.addr) }, 'traffic applied');
    return { mode: 'dynamic', generation: doc.generation, switchMs: Date.now() - began, noop };
  }

  override async ejected(): Promise<string[]> {
    const out: string[] = [];
    for (const service of this.knownServices()) {
      const r = await adminRequest(this.cfg.adminListen, 'GET', `/zdd/ejected/${service}`);
      if (r.status !== 200) continue;
      for (const line of r.text.split('\n')) {
        const [addr, since] = line.trim().split(' ');
        if (addr && since) out.push(`${service} ${addr} ${Math.round(Number(since) * 1000)}`);
      }
    }
    return out.slice(0, 1000);
  }

  protected async readCounters(service: string): Promise<Counters> {
    const r = await adminRequest(this.cfg.adminListen, 'GET', `/zdd/metrics/${service}`);
    if (r.status !== 200) throw new ZddError('NGINX_FAILED', `nginx's admin endpoint answered ${r.status} for metrics: ${r.text}`);
    return parseMetricsText(r.text);
  }

  protected async inflight(service: string, addrs: string[]): Promise<number | { error: string }> {
    return this.sum('inflight', service, addrs);
  }

  protected override async longLived(service: string, addrs: string[]): Promise<number | { error: string }> {
    return this.sum('longlived', service, addrs);
  }

  private async sum(what: 'inflight' | 'longlived', service: string, addrs: string[]): Promise<number | { error: string }> {
    const q = addrs.map((a) => `addr=${encodeURIComponent(a)}`).join('&');
    const r = await adminRequest(this.cfg.adminListen, 'GET', `/zdd/${what}/${service}?${q}`).catch((err: Error) => ({ status: 0, text: err.message }));
    return r.status === 200 && /^\d+$/.test(r.text) ? Number(r.text) : { error: `admin endpoint answered ${r.status}: ${r.text}` };
  }

  override async gauges(service: string): Promise<EdgeGauges> {
    const r = await adminRequest(this.cfg.adminListen, 'GET', `/zdd/gauges/${service}`);
    if (r.status !== 200) throw new ZddError('NGINX_FAILED', `nginx's admin endpoint answered ${r.status} for gauges: ${r.text}`);
    const out: EdgeGauges = { backends: {}, unknownTrack: 0 };
    for (const line of r.text.split('\n')) {
      const [a, b, c] = line.trim().split(' ');
      if (a === 'unknown-track') out.unknownTrack = Number(b) || 0;
      else if (a && c !== undefined) out.backends[a] = { inflight: Number(b) || 0, longLived: Number(c) || 0 };
    }
    return out;
  }
}

/** Plain nginx: a traffic change renders the upstream include, tests it, reloads, and verifies the new generation answers. */
export class NginxReloadEdge extends NginxEdge {
  protected async pushTraffic(doc: TrafficDoc, spec: CompiledSpec, began: number): Promise<ApplyTrafficResult> {
    const live = await this.liveGeneration(doc.service);
    if (live === doc.generation) return { mode: 'reload', generation: live, switchMs: 0, noop: true };
    // the log so far belongs to the document being replaced
    const counts = this.countAccessLog(doc.service);
    const was = docOfUpstreamConf(fs.existsSync(this.upstreamFile(doc.service)) ? fs.readFileSync(this.upstreamFile(doc.service), 'utf8') : '');
    await this.changeFiles(new Map([[this.upstreamFile(doc.service), renderUpstreamConf(spec, doc)]]), async () => {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if ((await this.liveGeneration(doc.service)) === doc.generation) return;
        await sleep(10);
      }
      throw new ZddError('NGINX_FAILED', `nginx did not load traffic generation ${doc.generation}: ${this.errorLogTail()}`);
    });
    // as in dynamic mode, a track and backend that join the traffic start counting from zero
    const before = new Set((was?.backends ?? []).map((b) => `${b.track}|${b.addr}`));
    for (const b of doc.backends) if (!before.has(`${b.track}|${b.addr}`)) delete counts[b.track]?.[b.addr];
    this.cfg.log.info({ service: doc.service, generation: doc.generation }, 'upstream reloaded');
    return { mode: 'reload', generation: doc.generation, switchMs: Date.now() - began, noop: false };
  }

  protected async readCounters(service: string): Promise<Counters> {
    return this.countAccessLog(service);
  }

  /** the workers of older generations: they may still be talking to old backends */
  protected async inflight(): Promise<number> {
    return this.oldWorkers();
  }

  protected override moreConfig(spec: CompiledSpec, files: Map<string, string>): void {
    // rendered again from the document it holds: the spec's upstream settings may have changed
    const file = this.upstreamFile(spec.name);
    const doc = fs.existsSync(file) ? docOfUpstreamConf(fs.readFileSync(file, 'utf8')) : undefined;
    files.set(file, renderUpstreamConf(spec, doc ?? { service: spec.name, generation: 0, backends: [] }));
  }

  /** requests are counted from the access log from now on */
  protected override configured(service: string): void {
    this.countAccessLog(service);
  }
}

/** The nginx driver for a mode. */
export function createNginxEdge(cfg: EdgeConfig): NginxEdge {
  return cfg.mode === 'dynamic' ? new NginxDynamicEdge(cfg) : new NginxReloadEdge(cfg);
}
