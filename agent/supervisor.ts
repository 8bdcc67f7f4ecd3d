// The supervisor keeps a service's app instances in two slots on this host: it starts an instance
// detached (own process group, output to a log file), gates it on health, stops it with the spec's
// signal and a drain timeout (a kill of the group as the last resort), and persists every instance
// so that a restarted agent re-adopts the processes instead of killing them.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage, hostFault } from '../lib/errors.js';
import { formatMs } from '../lib/duration.js';
import { compileSpec, expandTemplate, type CompiledSpec, type ServiceSpec } from '../lib/spec.js';
import type { Slot, StartInstanceResult, StopInstanceResult } from '../lib/commands.js';
import { awaitHealthy } from './health-check.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { establishedTcp, portFree, processStartTicks } from '../lib/proc.js';
import { agentStateLayout } from './state-layout.js';

export type InstanceState = 'starting' | 'healthy' | 'stopping' | 'stopped' | 'failed';

const TRANSITIONS: Record<InstanceState, InstanceState[]> = {
  starting: ['healthy', 'failed', 'stopping'],
  healthy: ['stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: ['stopping', 'stopped'],
};

export interface InstanceRecord {
  service: string;
  slot: Slot;
  version: string;
  port: number;
  pid: number;
  /** the process's start time in clock ticks since boot (/proc/PID/stat field 22): guards against reused pids */
  startTicks: number;
  startedAtMs: number;
  logFile: string;
  state: InstanceState;
  exitReason?: string;
  /** the spec it was started with: what a restart runs again */
  spec?: ServiceSpec;
  /** when the agent restarted it, within the spec's restart window */
  restarts?: number[];
  /** it exited and a restart is due: a new agent process schedules it again */
  restartPending?: boolean;
  /** started by a restart, not by a command: a new agent process health-gates it itself */
  restarted?: boolean;
}

/** Something the supervisor did on its own, for the fleet's event log. */
export interface Notice {
  level: 'info' | 'warn' | 'error';
  service: string;
  slot: Slot;
  message: string;
}

interface Live {
  rec: InstanceRecord;
  exited: Promise<string>;
}

export interface SupervisorConfig {
  stateDir: string;
  /** every instance carries it (ZDD_AGENT_ID): the agent touches no process without it */
  agentId: string;
  /** an instance exited, was restarted, or was left down */
  notify?: (n: Notice) => void;
  /** an instance changed state: the coordinator should hear of it soon */
  changed?: () => void;
  portOffset: number;
  /** address the apps are probed at (the agent's advertise host) */
  probeHost: string;
  log: Logger;
  /** staged releases: an instance of a service that has them runs in its version's release directory */
  releases?: { dir(service: string, version: string): string; has(service: string, version: string): boolean; pruned(service: string): string[] };
  /** when set, an instance or a hook runs only in a directory under one of these (--releases-root) */
  roots?: string[];
}

/** The real path of a directory (symlinks resolved), or its absolute path while it does not exist. */
function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/**
 * Refuses a working directory outside every root, after resolving symlinks (a link inside a root
 * may point anywhere), and returns the resolved path: the process starts in what was checked,
 * not in a link that could be swapped meanwhile.
 */
export function confineTo(roots: readonly string[] | undefined, dir: string, what: string): string {
  if (!roots) return dir;
  const real = realDir(dir);
  const inside = roots.map(realDir).some((r) => real === r || real.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
  if (!inside) {
    throw new ZddError('PERMISSION_DENIED', `${what} would run in ${real}, outside this agent's release roots (${roots.join(', ')})`, {
      hint: 'put the release under --releases-root on the host (or stage it with --artifact), or give the agent another --releases-root',
    });
  }
  return real;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Supervisor {
  private readonly live = new Map<string, Live>();
  private readonly file: string;
  private readonly logsDir: string;

  constructor(private readonly cfg: SupervisorConfig) {
    this.file = agentStateLayout(cfg.stateDir).instances;
    this.logsDir = path.join(cfg.stateDir, 'logs');
    fs.mkdirSync(this.logsDir, { recursive: true });
  }

  private key(service: string, slot: Slot) {
    return `${service}/${slot}`;
  }

  /** Re-adopts the instances a previous agent process started, if they still run. */
  adopt(): InstanceRecord[] {
    let recs: InstanceRecord[] = [];
    try {
      recs = JSON.parse(fs.readFileSync(this.file, 'utf8')) as InstanceRecord[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.cfg.log.warn({ err }, 'instance state unreadable; starting empty');
    }
    const adopted: InstanceRecord[] = [];
    // restarts are scheduled once every record is back in memory: scheduling one writes the file
    const restarts: Live[] = [];
    for (const rec of recs) {
      if (rec.state === 'stopped') continue;
      const ticks = processStartTicks(rec.pid);
      if (ticks === undefined || ticks !== rec.startTicks) {
        this.cfg.log.warn({ service: rec.service, slot: rec.slot, pid: rec.pid }, 'instance gone while the agent was away');
        if ((rec.state === 'healthy' || rec.restartPending || (rec.restarted && rec.state === 'starting')) && rec.spec) {
          // a live instance that died with its host (or was killed meanwhile), or one whose restart
          // was due or under way when the last agent process went: restarted per its policy
          const l: Live = { rec: { ...rec, state: 'failed', exitReason: 'gone while the agent was away' }, exited: Promise.resolve('gone') };
          this.live.set(this.key(rec.service, rec.slot), l);
          restarts.push(l);
        }
        continue;
      }
      const l: Live = { rec, exited: this.pollExit(rec) };
      this.live.set(this.key(rec.service, rec.slot), l);
      adopted.push(rec);
      this.cfg.log.info({ service: rec.service, slot: rec.slot, pid: rec.pid, version: rec.version }, 'instance adopted');
      // a restart's instance that was being health-gated: nobody else will gate it
      if (rec.restarted && rec.state === 'starting' && rec.spec) void this.gateRestarted(l);
    }
    this.persist();
    for (const l of restarts) this.scheduleRestart(l, 'gone while the agent was away');
    return adopted;
  }

  /** An adopted process is not our child: watch /proc until it is gone. */
  private pollExit(rec: InstanceRecord): Promise<string> {
    return new Promise((resolve) => {
      const t = setInterval(() => {
        if (processStartTicks(rec.pid) !== rec.startTicks) {
          clearInterval(t);
          this.onExit(rec, 'exited');
          resolve('exited');
        }
      }, 100);
      t.unref();
    });
  }

  instances(): InstanceRecord[] {
    return [...this.live.values()].map((l) => ({ ...l.rec }));
  }

  get(service: string, slot: Slot): InstanceRecord | undefined {
    const l = this.live.get(this.key(service, slot));
    return l ? { ...l.rec } : undefined;
  }

  private setState(rec: InstanceRecord, next: InstanceState) {
    if (rec.state === next) return;
    if (!TRANSITIONS[rec.state].includes(next)) {
      throw new ZddError('INTERNAL', `instance ${rec.service}/${rec.slot}: illegal transition ${rec.state} -> ${next}`);
    }
    this.cfg.log.info({ service: rec.service, slot: rec.slot, version: rec.version, from: rec.state, to: next }, 'instance state changed');
    rec.state = next;
    this.persist();
    this.cfg.changed?.();
  }

  private onExit(rec: InstanceRecord, reason: string) {
    rec.exitReason = reason;
    const wasLive = rec.state === 'healthy';
    if (rec.state === 'stopping') this.setState(rec, 'stopped');
    else if (rec.state !== 'stopped') {
      this.cfg.log.warn({ service: rec.service, slot: rec.slot, reason }, 'instance exited unexpectedly');
      if (rec.state !== 'failed') this.setState(rec, 'failed');
    }
    this.persist();
    const l = this.live.get(this.key(rec.service, rec.slot));
    if (wasLive && l?.rec === rec && !this.closed) this.scheduleRestart(l, reason);
  }

  /** why the instance state could not be written last time (cleared by the next good write) */
  private writeFault: unknown;
  private closed = false;

  /**
   * Writes the instance records. A failure (read-only or full disk) is remembered, not thrown:
   * it may happen in an exit handler, where a throw would bring the agent down. Commands check
   * it (writable()) and fail with it.
   */
  private persist(): boolean {
    const recs = [...this.live.values()].map((l) => l.rec).filter((r) => r.state !== 'stopped');
    try {
      writeFileAtomic(this.file, JSON.stringify(recs, null, 1));
      this.writeFault = undefined;
      return true;
    } catch (err) {
      this.writeFault = hostFault(err, `record the instances in ${this.file}`);
      this.cfg.log.error({ err: errorMessage(this.writeFault) }, 'instance state not written');
      return false;
    }
  }

  /** Throws HOST_FAULT unless the instance records can be written now. */
  private writable(): void {
    if (!this.persist()) throw this.writeFault;
  }

  /** No more restarts (the agent is stopping). */
  close(): void {
    this.closed = true;
  }

  /**
   * A live instance exited on its own: restart it per the spec's policy, with a backoff that
   * doubles per restart within the window, or say why it stays down.
   */
  private scheduleRestart(l: Live, reason: string) {
    const rec = l.rec;
    if (!rec.spec) return;
    const p = compileSpec(rec.spec).restart;
    const what = `${rec.service} ${rec.version} in slot ${rec.slot}`;
    if (p.policy === 'never' || (p.policy === 'on-failure' && reason === 'exit code 0')) {
      rec.restartPending = false;
      this.persist();
      this.note(rec, 'warn', `${what} exited (${reason}); restart policy "${p.policy}": left down`);
      return;
    }
    const now = Date.now();
    const recent = (rec.restarts ?? []).filter((t) => now - t < p.windowMs);
    if (recent.length >= p.limit) {
      rec.restartPending = false;
      this.persist();
      this.note(rec, 'error', `${what} exited (${reason}) after ${recent.length} restart(s) within ${formatMs(p.windowMs)}: restart limit reached, left down`);
      return;
    }
    const delay = Math.min(30_000, p.backoffMs * 2 ** recent.length);
    rec.restartPending = true;
    this.persist();
    this.note(rec, 'warn', `${what} exited (${reason}); restarting in ${formatMs(delay)} (restart ${recent.length + 1} of at most ${p.limit} within ${formatMs(p.windowMs)})`);
    setTimeout(() => void this.restart(l, [...recent, now]), delay).unref();
  }

  /** What the supervisor did on its own: logged, and told to the coordinator as a fleet event. */
  private note(rec: InstanceRecord, level: Notice['level'], message: string) {
    this.cfg.log[level]({ service: rec.service, slot: rec.slot }, message);
    this.cfg.notify?.({ level, service: rec.service, slot: rec.slot, message });
  }

  private async restart(was: Live, restarts: number[]) {
    const key = this.key(was.rec.service, was.rec.slot);
    const current = () => !this.closed && this.live.get(key) === was && was.rec.state === 'failed';
    // stopped, replaced by a rollout's start, or the agent is going: nothing to restart
    if (!current()) return;
    const raw = was.rec.spec!;
    const spec = compileSpec(raw);
    const { version, slot, port } = was.rec;
    let attempt: Live;
    try {
      this.writable();
      const free = await portFree(port);
      if (!current()) return;
      if (!free) throw new ZddError('PORT_IN_USE', `port ${port} is taken by another process`);
      attempt = await this.spawnInstance(raw, spec, version, slot, port, this.workdir(spec, version), restarts, true);
    } catch (err) {
      // not started: tried again later, this attempt counted
      was.rec.restarts = restarts;
      if (this.live.get(key) === was) this.scheduleRestart(was, `restart failed: ${errorMessage(err)}`);
      return;
    }
    await this.gateRestarted(attempt);
  }

  /**
   * Health-gates an instance a restart started: healthy, or killed and restarted again later.
   * Also for one a previous agent process was gating when it went.
   */
  private async gateRestarted(l: Live): Promise<void> {
    const rec = l.rec;
    const spec = compileSpec(rec.spec!);
    const key = this.key(rec.service, rec.slot);
    try {
      const ms = await awaitHealthy({ host: this.cfg.probeHost, port: rec.port, health: spec.health, isDead: () => rec.exitReason, onProgress: () => undefined });
      if (this.live.get(key) !== l || rec.state !== 'starting') return;
      this.setState(rec, 'healthy');
      this.note(rec, 'info', `restarted ${rec.service} ${rec.version} in slot ${rec.slot} (pid ${rec.pid}): healthy after ${ms}ms`);
    } catch (err) {
      if (this.live.get(key) !== l) return;
      this.signalGroup(rec, 'SIGKILL');
      await Promise.race([l.exited, sleep(5000)]);
      if (rec.state === 'starting') this.setState(rec, 'failed');
      if (this.live.get(key) === l && !this.closed) this.scheduleRestart(l, `restart failed: ${errorMessage(err)}`);
    }
  }

  /** Signals an instance's process group, only while its pid is still the process we started. */
  private signalGroup(rec: InstanceRecord, sig: NodeJS.Signals | string): boolean {
    if (processStartTicks(rec.pid) !== rec.startTicks) return false;
    try {
      process.kill(-rec.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    return true;
  }

  portFor(spec: ServiceSpec, slot: Slot): number {
    return spec.ports[slot] + this.cfg.portOffset;
  }

  /** Starts `version` of a service in `slot` and resolves once it is healthy. */
  async start(raw: ServiceSpec, version: string, slot: Slot, progress: (m: string) => void): Promise<StartInstanceResult> {
    const spec = compileSpec(raw);
    const port = this.portFor(raw, slot);
    const existing = this.live.get(this.key(spec.name, slot));
    if (existing && existing.rec.version === version && !existing.rec.exitReason) {
      if (existing.rec.state === 'healthy') return { slot, port, pid: existing.rec.pid, version, healthyAfterMs: 0 };
      if (existing.rec.state === 'starting') {
        // the same start, interrupted by an agent restart: gate the instance it left
        progress(`gating ${version} in slot ${slot} (pid ${existing.rec.pid}), started before the agent restarted`);
        return this.gate(spec, existing, progress);
      }
    }
    if (existing && existing.rec.state !== 'stopped') {
      // A leftover in the slot we need (a failed start, an interrupted rollout): it gets no traffic.
      progress(`stopping leftover ${existing.rec.version} in slot ${slot}`);
      await this.stop(spec.name, slot, spec.stop.signal, spec.stop.drainTimeoutMs);
    }
    if (!(await portFree(port)) && !(await this.reclaim(spec.name, slot, port, progress))) {
      throw new ZddError('PORT_IN_USE', `port ${port} (slot ${slot} of ${spec.name}) is already taken on this host`, {
        hint: 'stop whatever listens there, or give the service other ports in its spec',
      });
    }
    const cwd = this.workdir(spec, version);
    if (!fs.existsSync(cwd)) {
      throw new ZddError('START_FAILED', `working directory ${cwd} for ${spec.name} ${version} does not exist`, {
        hint: 'stage the release on the host first, or fix "workdir" in the spec',
      });
    }
    // nothing is started that could not be recorded: an unrecorded process would hold the port
    this.writable();
    const live = await this.spawnInstance(raw, spec, version, slot, port, cwd, []);
    progress(`started ${version} in slot ${slot} (pid ${live.rec.pid}, port ${port})`);
    const r = await this.gate(spec, live, progress);
    // healthy, but its record could not be written: the command fails with the disk's reason
    if (this.writeFault) throw this.writeFault;
    return r;
  }

  /**
   * Spawns an instance detached (its own process group, output to its log file) and records it
   * before anything is awaited: an agent killed from here on leaves a record the next agent
   * re-adopts, never an untracked process holding the port.
   */
  private async spawnInstance(raw: ServiceSpec, spec: CompiledSpec, version: string, slot: Slot, port: number, cwd: string, restarts: number[], restarted = false): Promise<Live> {
    const logFile = path.join(this.logsDir, `${spec.name}-${slot}-${version.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    let fd: number;
    try {
      fd = fs.openSync(logFile, 'a');
    } catch (err) {
      throw hostFault(err, `open the log file ${logFile}`);
    }
    const releaseDir = this.cfg.releases?.has(spec.name, version) ? this.cfg.releases.dir(spec.name, version) : undefined;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      // {version}, {port}, {slot}, {service} and {release} in a value are this instance's
      ...Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, expandTemplate(v, { version, service: spec.name, release: releaseDir, port, slot })])),
      PORT: String(port),
      ZDD_SERVICE: spec.name,
      ZDD_VERSION: version,
      ZDD_SLOT: slot,
      // the identity an agent checks before it touches a process it has no record of
      ZDD_AGENT_ID: this.cfg.agentId,
      // the app spreads the closes of its long-lived connections over this long after the stop signal
      ZDD_STOP_SPREAD_MS: String(spec.stop.spreadMs),
      ...(releaseDir ? { ZDD_RELEASE_DIR: releaseDir } : {}),
    };
    const child = spawn(spec.argv[0], spec.argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const spawnError = new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (e) => resolve(e));
    });
    let live: Live | undefined;
    if (child.pid !== undefined) {
      const rec: InstanceRecord = {
        service: spec.name,
        slot,
        version,
        port,
        pid: child.pid,
        startTicks: processStartTicks(child.pid) ?? 0,
        startedAtMs: Date.now(),
        logFile,
        state: 'starting',
        spec: raw,
        ...(restarts.length ? { restarts } : {}),
        ...(restarted ? { restarted } : {}),
      };
      live = {
        rec,
        exited: new Promise((resolve) =>
          child.once('exit', (code, sig) => {
            const reason = sig ? `killed by ${sig}` : `exit code ${code}`;
            this.onExit(rec, reason);
            resolve(reason);
          }),
        ),
      };
      this.live.set(this.key(spec.name, slot), live);
      this.persist();
      this.cfg.changed?.();
    }
    const failed = await spawnError;
    if (failed || !live) {
      throw new ZddError('START_FAILED', `could not start ${spec.argv.join(' ')}: ${failed?.message}`, { cause: failed });
    }
    child.unref();
    this.cfg.log.info({ service: spec.name, slot, version, pid: child.pid, port }, 'instance started');
    return live;
  }

  /**
   * Whether a version's release is on this host, for `zddctl plan`: its staged release, or the
   * spec's workdir for it. Undefined when the spec names neither (the command may be anywhere).
   */
  releaseHere(spec: Pick<CompiledSpec, 'name' | 'workdir'>, version: string): { present: boolean; where: string } | undefined {
    const r = this.cfg.releases;
    if (r?.has(spec.name, version)) return { present: true, where: r.dir(spec.name, version) };
    if (!spec.workdir) return undefined;
    if (spec.workdir.includes('{release}')) return { present: false, where: `a staged release of ${spec.name} ${version} (none here: roll out with --artifact)` };
    const dir = expandTemplate(spec.workdir, { version, service: spec.name });
    let present = false;
    try {
      present = fs.statSync(dir).isDirectory();
    } catch {
      /* missing */
    }
    return { present, where: dir };
  }

  /**
   * Where an instance (or a hook) of a version runs: the spec's workdir ({release} is the staged
   * release), else the staged release of that version, else the agent's own directory. A version
   * whose release was staged here and removed since is an error, not a silent fallback.
   */
  workdir(spec: Pick<CompiledSpec, 'name' | 'workdir'>, version: string): string {
    const r = this.cfg.releases;
    const staged = r?.has(spec.name, version) ? r.dir(spec.name, version) : undefined;
    const what = `${spec.name} ${version}`;
    if (spec.workdir) return confineTo(this.cfg.roots, expandTemplate(spec.workdir, { version, service: spec.name, release: staged }), what);
    if (staged) return confineTo(this.cfg.roots, staged, what);
    if (r?.pruned(spec.name).includes(version)) {
      throw new ZddError('START_FAILED', `the release of ${spec.name} ${version} was removed from this host (only the newest release.keep releases stay)`, {
        hint: `roll out ${version} again with --artifact and --sha256, or raise release.keep`,
      });
    }
    return confineTo(this.cfg.roots, process.cwd(), what);
  }

  /**
   * A process this agent started for the slot but never recorded (the agent was killed between
   * the spawn and writing its record) holds the port: it is found by the environment every
   * instance gets (ZDD_AGENT_ID, ZDD_SERVICE, ZDD_SLOT, PORT), and its process group is killed.
   * Nothing else is ever touched: another agent's instance on the same port (agents whose
   * ports overlap) carries another agent id. Returns whether the port is free afterwards.
   */
  private async reclaim(service: string, slot: Slot, port: number, progress: (m: string) => void): Promise<boolean> {
    const tracked = new Set([...this.live.values()].map((l) => l.rec.pid));
    const want = [`ZDD_AGENT_ID=${this.cfg.agentId}`, `ZDD_SERVICE=${service}`, `ZDD_SLOT=${slot}`, `PORT=${port}`];
    const orphans: number[] = [];
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p) || tracked.has(Number(p))) continue;
      try {
        const env = fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
        if (want.every((w) => env.includes(w))) orphans.push(Number(p));
      } catch {
        /* gone, or not ours to read */
      }
    }
    if (!orphans.length) return false;
    this.cfg.log.warn({ service, slot, port, pids: orphans }, 'an unrecorded instance of this slot holds its port (the agent was killed while starting it): stopping it');
    progress(`stopping an unrecorded instance in slot ${slot} (pid ${orphans.join(', ')}), left by an agent killed while starting it`);
    for (const pid of orphans) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (let i = 0; i < 50; i++) {
      if (await portFree(port)) return true;
      await sleep(100);
    }
    return false;
  }

  /** Health-gates an instance; on failure stops it and reports the last answer and the app's output. */
  private async gate(spec: CompiledSpec, live: Live, progress: (m: string) => void): Promise<StartInstanceResult> {
    const rec = live.rec;
    try {
      const ms = await awaitHealthy({
        host: this.cfg.probeHost,
        port: rec.port,
        health: spec.health,
        isDead: () => rec.exitReason,
        onProgress: progress,
      });
      this.setState(rec, 'healthy');
      progress(`healthy after ${ms}ms`);
      return { slot: rec.slot, port: rec.port, pid: rec.pid, version: rec.version, healthyAfterMs: ms };
    } catch (err) {
      const tail = this.logTail(rec.logFile);
      // only if the slot still holds this instance: a later start may have replaced it
      if (this.live.get(this.key(rec.service, rec.slot)) === live) {
        await this.stop(rec.service, rec.slot, spec.stop.signal, Math.min(spec.stop.drainTimeoutMs, 5000)).catch(() => undefined);
      }
      if (err instanceof ZddError) {
        throw new ZddError(err.code, `${err.message}${tail ? `; app output: ${tail}` : ''}`, { cause: err });
      }
      throw err;
    }
  }

  logTail(file: string, bytes = 400): string {
    try {
      const buf = fs.readFileSync(file);
      return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8').trim().replace(/\s+/g, ' ');
    } catch {
      return '';
    }
  }

  /**
   * Stops an instance: the stop signal to its process group, then up to drainTimeoutMs for it to
   * exit, then SIGKILL to the group. Traffic must already be off it (the coordinator awaits the
   * edge's in-flight count first).
   */
  async stop(service: string, slot: Slot, signal: NodeJS.Signals | string, drainTimeoutMs: number, spreadMs = 0): Promise<StopInstanceResult> {
    const l = this.live.get(this.key(service, slot));
    if (!l || l.rec.state === 'stopped') return { forced: false, stoppedAfterMs: 0, alreadyStopped: true };
    const rec = l.rec;
    const began = Date.now();
    // a stop that could not be written down would be undone by the next agent process (it restarts live instances)
    this.writable();
    // the pid no longer is the process this agent started (it exited, or the pid was reused):
    // nothing is signalled, a pending restart is called off
    const gone = (): StopInstanceResult | undefined => {
      if (processStartTicks(rec.pid) === rec.startTicks) return undefined;
      this.live.delete(this.key(service, slot));
      this.persist();
      this.cfg.changed?.();
      return { forced: false, stoppedAfterMs: Date.now() - began, alreadyStopped: true };
    };
    const exited = gone();
    if (exited) return exited;
    this.setState(rec, 'stopping');
    const kill = (sig: NodeJS.Signals | string) => {
      try {
        process.kill(-rec.pid, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    };
    const connected = () => establishedTcp().filter((c) => c.local.endsWith(`:${rec.port}`)).length;
    // the closes of long-lived connections are spread over hosts: this one waits its random part
    // (an instance that holds no connection has nothing to spread)
    if (spreadMs > 0 && connected() > 0) {
      await sleep(Math.floor(Math.random() * spreadMs));
      // meanwhile it may have exited (and its pid been reused): nothing is signalled then
      const exitedMeanwhile = gone();
      if (exitedMeanwhile) return exitedMeanwhile;
    }
    const atSignal = connected();
    kill(signal);
    const timedOut = Symbol('timeout');
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([l.exited, new Promise((r) => (timer = setTimeout(() => r(timedOut), drainTimeoutMs)))]);
    clearTimeout(timer);
    let forced = false;
    let cut = 0;
    if (first === timedOut) {
      forced = true;
      cut = connected();
      this.cfg.log.warn({ service, slot, pid: rec.pid, drainTimeoutMs }, 'instance ignored the stop signal; killed its process group');
      kill('SIGKILL');
      await Promise.race([l.exited, sleep(5000)]);
    }
    // Anything left in the group (children that outlived the leader) goes too.
    kill('SIGKILL');
    if (rec.state !== 'stopped') this.setState(rec, 'stopped');
    this.live.delete(this.key(service, slot));
    if (!this.persist()) throw this.writeFault;
    this.cfg.log.info({ service, slot, version: rec.version, forced }, 'instance stopped');
    return { forced, stoppedAfterMs: Date.now() - began, alreadyStopped: false, connections: { atSignal, cut } };
  }
}
