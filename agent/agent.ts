// zdd-agent: keeps one session to the coordinator (it dials; no inbound port), reports host facts
// and instances, and executes commands. Main loop: Agent.run() → connect() per session, with a
// capped backoff between sessions. Each command is acknowledged, run once per command id, and its
// result recorded on disk before it is sent.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { CLIENT_OPTIONS, fleetClientCredentials, plaintextClientCredentials, protos } from '../lib/grpc.js';
import type { AgentIdentity } from './identity.js';
import { ZddError, errorCode, errorMessage, hostFault } from '../lib/errors.js';
import { CommandArgs, type CommandKind, COMMAND_KINDS } from '../lib/commands.js';
import type { AgentMessage } from '../proto/gen/zdd/v1/AgentMessage.js';
import type { CoordinatorMessage__Output } from '../proto/gen/zdd/v1/CoordinatorMessage.js';
import type { Instance } from '../proto/gen/zdd/v1/Instance.js';
import type { Command__Output } from '../proto/gen/zdd/v1/Command.js';
import { Supervisor, type Notice } from './supervisor.js';
import { CommandLog, type RecordedResult } from './command-log.js';
import { hostFacts } from './facts.js';
import type { EdgeDriver } from './edge-driver.js';
import { Releases } from './releases.js';
import { runBounded, commandEnv } from './run.js';
import type { ApplyTrafficResult, HookResult } from '../lib/commands.js';
import { applyDiff, isTrafficDiff, type TrafficDiff, type TrafficDoc } from '../lib/traffic.js';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { processStartTicks } from '../lib/proc.js';
import { readIfExists, writeFileAtomic } from '../lib/fs-atomic.js';
import { agentStateLayout } from './state-layout.js';
import { CoordinatorRotation } from './coordinators.js';
import { reconnectDelay, restartsBackoff } from '../lib/backoff.js';
import { compileSpec } from '../lib/spec.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentConfig {
  /** the coordinator's address, or several, comma-separated (coordinators sharing PostgreSQL): the agent keeps a session to the leader */
  coordinator: string;
  id: string;
  stateDir: string;
  labels: Record<string, string>;
  advertise: string;
  portOffset: number;
  /** where staged releases live: RELEASES/SERVICE/VERSION */
  releasesDir: string;
  /** directories an instance or a hook may run in (their real paths); the releases dir is always one */
  releasesRoots: string[];
  /** the pinned fleet CA and this agent's certificate; absent: plaintext (--plaintext) */
  identity?: AgentIdentity;
  log: Logger;
}

type Stream = grpc.ClientDuplexStream<AgentMessage, CoordinatorMessage__Output>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** how long an agent with several coordinators waits for a welcome before it tries the next */
const WELCOME_WAIT_MS = 15_000;

/** commands that change nothing: answered afresh when repeated, never recorded */
const READ_ONLY = new Set(['inspect', 'analyze', 'check_release']);

export class Agent {
  readonly supervisor: Supervisor;
  readonly releases: Releases;
  private readonly commands: CommandLog;
  private readonly running = new Map<string, Promise<RecordedResult>>();
  /** per service, the traffic document this process applied last: the base of the next difference */
  private readonly trafficDocs = new Map<string, TrafficDoc>();
  private stream: Stream | undefined;
  private client: InstanceType<ReturnType<typeof protos>['agent']['zdd']['v1']['AgentGateway']> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private renewal: NodeJS.Timeout | undefined;
  /** the certificate changed: the next session dials with the new one */
  private credentialsChanged = false;
  private stopped = false;
  /** the coordinators to try, in turn; a standby names the leader, tried next (agent/coordinators.ts) */
  private readonly coordinators: CoordinatorRotation;
  /** the leader the last session's standby named */
  private hintedBy: string | undefined;
  private dialled = '';
  /** the latest leader term seen (kept on disk): an older leader's session and commands are refused */
  private epochSeen: number;
  /** when the coordinator was last heard from, on a session whose heartbeats it answers */
  private lastHeard = 0;
  private silence: NodeJS.Timeout | undefined;
  private endSession: ((why: string, refused?: boolean, unresponsive?: boolean) => void) | undefined;

  constructor(private readonly cfg: AgentConfig, private readonly edge?: EdgeDriver) {
    this.releases = new Releases(cfg.releasesDir, cfg.log.child({ part: 'releases' }), (service) =>
      this.supervisor.instances().filter((r) => r.service === service).map((r) => r.version),
    );
    this.supervisor = new Supervisor({
      stateDir: cfg.stateDir,
      agentId: cfg.id,
      portOffset: cfg.portOffset,
      probeHost: cfg.advertise,
      log: cfg.log,
      releases: this.releases,
      roots: cfg.releasesRoots,
      notify: (n) => this.notice(n),
      changed: () => this.soonHeartbeat(),
    });
    this.commands = new CommandLog(cfg.stateDir);
    this.coordinators = new CoordinatorRotation(cfg.coordinator.split(',').map((a) => a.trim()).filter(Boolean));
    this.epochSeen = 0;
    try {
      this.epochSeen = Number(readIfExists(agentStateLayout(cfg.stateDir).epoch) ?? 0) || 0;
    } catch (err) {
      cfg.log.warn({ err: errorMessage(err) }, 'leader epoch not read; starting from none');
    }
  }

  private seeEpoch(epoch: number) {
    if (epoch <= this.epochSeen) return;
    this.epochSeen = epoch;
    try {
      writeFileAtomic(agentStateLayout(this.cfg.stateDir).epoch, String(epoch), 0o600);
    } catch (err) {
      this.cfg.log.warn({ err: errorMessage(err) }, 'leader epoch not kept on disk');
    }
  }

  private instances(): Instance[] {
    return this.supervisor.instances().map((r) => ({
      service: r.service,
      slot: r.slot,
      version: r.version,
      port: r.port,
      pid: r.pid,
      state: r.state,
      started_at_ms: r.startedAtMs,
      log_file: r.logFile,
      restarts: r.restarts?.length ?? 0,
    }));
  }

  /** notices not yet sent (no session): the latest 100 go out when the next session opens */
  private readonly notices: { level: string; service: string; slot: string; message: string; at_ms: number }[] = [];

  private notice(n: Notice) {
    const m = { ...n, message: n.message.slice(0, 2000), at_ms: Date.now() };
    if (this.stream && this.welcomed) this.send({ notice: m });
    else {
      this.notices.push(m);
      if (this.notices.length > 100) this.notices.shift();
    }
  }

  private heartbeatSoon: NodeJS.Timeout | undefined;
  /** An instance changed state: the coordinator hears of it within 200 ms, not at the next heartbeat. */
  private soonHeartbeat() {
    if (this.heartbeatSoon || !this.welcomed) return;
    this.heartbeatSoon = setTimeout(() => {
      this.heartbeatSoon = undefined;
      void this.sendHeartbeat();
    }, 200);
  }

  private async sendHeartbeat() {
    try {
      const facts = await hostFacts();
      const ejected = this.edge ? await this.edge.ejected().catch(() => []) : [];
      this.send({ heartbeat: { facts, instances: this.instances(), ejected } });
    } catch (err) {
      this.cfg.log.warn({ err: errorMessage(err) }, 'host facts unavailable');
    }
  }
  private welcomed = false;
  /** when the current (or last) session was welcomed; 0 when it was not */
  private welcomedAt = 0;
  /** the leader's epoch when a session last started the backoff again */
  private backoffEpoch = 0;

  /** Runs sessions until stop(); reconnects with a jittered backoff (lib/backoff.ts: at most 1 s for about ten seconds, so a restarted coordinator has its agents back at once, then up to 5 s; a session welcomed and kept for a second starts it again). */
  async run(): Promise<void> {
    this.supervisor.adopt();
    this.client = this.dial();
    let attempt = 0;
    while (!this.stopped) {
      const began = Date.now();
      const { reason, refused, unresponsive } = await this.session();
      if (this.stopped) break;
      const lasted = { lastedMs: Date.now() - began, welcomedForMs: this.welcomedAt ? Date.now() - this.welcomedAt : undefined, newLeader: this.epochSeen > this.backoffEpoch };
      if (restartsBackoff(lasted)) {
        attempt = 0;
        this.backoffEpoch = this.epochSeen;
      }
      const hinted = this.hintedBy;
      this.hintedBy = undefined;
      // a standby named the leader: dialled at once; otherwise the next coordinator that answers
      const following = this.coordinators.ended(this.dialled, { hinted, unresponsive });
      if (this.credentialsChanged || this.coordinators.current() !== this.dialled) {
        this.credentialsChanged = false;
        this.client.close();
        this.client = this.dial();
        if (following) continue;
      }
      if (refused) {
        // a revoked or unknown certificate: retrying every second changes nothing
        this.cfg.log.error({ reason, retryMs: 30_000 }, 'the coordinator refused this agent (the reason says why; a revoked agent is re-admitted with a new token: zddctl token create --agent ID, then zdd-agent --join)');
        await sleep(30_000);
        continue;
      }
      const retryMs = reconnectDelay(attempt++);
      this.cfg.log.warn({ reason, retryMs }, 'session to coordinator ended; reconnecting');
      await sleep(retryMs);
    }
  }

  private dial() {
    const { AgentGateway } = protos().agent.zdd.v1;
    const id = this.cfg.identity?.credentials;
    this.dialled = this.coordinators.current();
    return new AgentGateway(this.dialled, id ? fleetClientCredentials(id) : plaintextClientCredentials(), CLIENT_OPTIONS);
  }

  private async session(): Promise<{ reason: string; refused: boolean; unresponsive: boolean }> {
    const facts = await hostFacts().catch(() => undefined);
    return new Promise((resolve) => {
      const stream = this.client!.Session();
      this.stream = stream;
      let done = false;
      this.welcomed = false;
      this.welcomedAt = 0;
      // unresponsive: the coordinator stopped answering (frozen, cut off); it is passed over for a while
      const end = (why: string, refused = false, unresponsive = false) => {
        if (done) return;
        done = true;
        this.welcomed = false;
        clearInterval(this.heartbeat);
        clearInterval(this.renewal);
        clearInterval(this.silence);
        clearTimeout(welcomeTimer);
        this.endSession = undefined;
        if (this.stream === stream) this.stream = undefined;
        stream.removeAllListeners();
        stream.on('error', () => undefined);
        stream.cancel();
        resolve({ reason: why, refused, unresponsive });
      };
      stream.on('data', (m: CoordinatorMessage__Output) => this.onMessage(m));
      // refused (an unknown certificate, ports that overlap another agent's): retrying at once changes nothing
      const refusedCodes = [grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.FAILED_PRECONDITION];
      this.endSession = end;
      // with several coordinators listed, one that does not welcome this agent in time (frozen, or
      // cut off after the TCP handshake) is passed over; with one there is nowhere else to go
      const welcomeTimer = this.coordinators.addresses.length > 1 ? setTimeout(() => !this.welcomed && end(`${this.dialled} sent no welcome within ${WELCOME_WAIT_MS / 1000}s`, false, true), WELCOME_WAIT_MS) : undefined;
      stream.on('error', (e: grpc.ServiceError) => {
        // a standby answers UNAVAILABLE with the leader's address
        const leader = e.metadata?.get('zdd-leader')[0];
        if (typeof leader === 'string' && leader) this.hintedBy = leader;
        end(e.details || e.message, refusedCodes.includes(e.code));
      });
      stream.on('end', () => end('coordinator closed the session'));
      stream.write({
        hello: {
          agent_id: this.cfg.id,
          agent_version: AGENT_VERSION,
          labels: this.cfg.labels,
          advertise: this.cfg.advertise,
          port_offset: this.cfg.portOffset,
          facts,
          instances: this.instances(),
          edge: this.edge ? { mode: this.edge.mode, listen_host: this.cfg.advertise } : null,
          releases_roots: this.cfg.releasesRoots,
        },
      });
    });
  }

  private send(m: AgentMessage) {
    this.stream?.write(m);
  }

  private onMessage(m: CoordinatorMessage__Output) {
    this.lastHeard = Date.now();
    if (m.welcome) {
      const epoch = Number(m.welcome.epoch ?? 0);
      // once a leader's epoch was seen, a coordinator without one (SQLite) is not one of the fleet's
      // coordinators any more: remove STATE_DIR/epoch to move the agent back to one
      if (epoch < this.epochSeen) {
        this.cfg.log.warn({ coordinator: this.dialled, epoch, epochSeen: this.epochSeen }, 'this coordinator led an earlier term; looking for the leader');
        this.endSession?.(`${this.dialled} leads epoch ${epoch}, older than epoch ${this.epochSeen}`);
        return;
      }
      this.seeEpoch(epoch);
      clearInterval(this.silence);
      if (m.welcome.acks_heartbeats) {
        // a coordinator that answers heartbeats and stops answering is stopped (frozen, cut off):
        // the leader may be another one by now
        const ms = m.welcome.heartbeat_ms || 5000;
        this.silence = setInterval(() => {
          if (Date.now() - this.lastHeard > 3 * ms + 2000) this.endSession?.(`${this.dialled} stopped answering heartbeats`, false, true);
        }, Math.min(ms, 5000));
      }
      // a welcome again on the same session only tells a new heartbeat interval (the fleet grew or shrank)
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => void this.sendHeartbeat(), m.welcome.heartbeat_ms || 5000);
      if (!this.welcomed) {
        this.cfg.log.info({ coordinator: this.dialled, epoch: Number(m.welcome.epoch ?? 0) }, 'session established');
        this.welcomed = true;
        this.welcomedAt = Date.now();
        this.coordinators.answered(this.dialled, { advertise: m.welcome.advertise, leaseMs: m.welcome.lease_ms });
        for (const n of this.notices.splice(0)) this.send({ notice: n });
        this.scheduleRenewal();
      }
    } else if (m.command) {
      const epoch = Number(m.command.epoch ?? 0);
      if (epoch < this.epochSeen) {
        // a deposed leader's command (it was frozen, or cut off): never run
        this.cfg.log.warn({ commandId: m.command.command_id, epoch, epochSeen: this.epochSeen }, 'command from an earlier leader refused');
        this.endSession?.(`a command of epoch ${epoch}, older than epoch ${this.epochSeen}`);
        return;
      }
      this.seeEpoch(epoch);
      void this.onCommand(m.command);
    } else if (m.certificate && this.cfg.identity) {
      try {
        this.cfg.identity.accept(m.certificate.cert_pem);
        this.credentialsChanged = true;
        this.cfg.log.info({ notAfter: new Date(this.cfg.identity.notAfterMs).toISOString() }, 'certificate renewed');
      } catch (err) {
        this.cfg.log.error({ err: errorMessage(err) }, 'renewed certificate refused');
      }
    }
  }

  /** Asks for a new certificate over the session once a third of the current one's life is left; checks again every so often. */
  private scheduleRenewal() {
    const id = this.cfg.identity;
    if (!id) return;
    clearInterval(this.renewal);
    const check = () => {
      if (Date.now() < id.renewAtMs()) return;
      id.renewalRequest()
        .then((csr_pem) => this.send({ renew: { csr_pem } }))
        .catch((err) => this.cfg.log.warn({ err: errorMessage(err) }, 'renewal request not made'));
    };
    check();
    this.renewal = setInterval(check, Math.max(1000, Math.min(3_600_000, Math.round(id.lifetimeMs / 30))));
  }

  private sendResult(id: string, r: RecordedResult) {
    this.send({ result: { command_id: id, ok: r.ok, error_code: r.errorCode, error_message: r.errorMessage, result_json: r.resultJson } });
  }

  private async onCommand(c: Command__Output) {
    const id = c.command_id;
    const recorded = this.commands.get(id);
    if (recorded) {
      this.send({ accepted: { command_id: id, replayed: true } });
      this.sendResult(id, recorded);
      return;
    }
    const inFlight = this.running.get(id);
    if (inFlight) {
      this.send({ accepted: { command_id: id, replayed: true } });
      return; // the result goes to whichever session is open when the work ends
    }
    this.send({ accepted: { command_id: id, replayed: false } });
    const work = this.execute(id, c.kind, c.args_json).then((r) => {
      this.running.delete(id);
      // reads change nothing and repeat every second during an analysis: recording them would push
      // the records of real work out of the log
      // a disk fault is the host's, not the command's: a repeat once it is fixed runs the work again
      if (READ_ONLY.has(c.kind) || r.errorCode === 'HOST_FAULT') return r;
      try {
        this.commands.record(id, r);
        if (c.kind === 'run_hook') fs.rmSync(this.hookMarker(id), { force: true });
        return r;
      } catch (err) {
        // unrecorded, a repeat of this id would run the work again: the coordinator is told
        // why (the rollout pauses), and a repeat after the disk is fixed finds the work done
        const fault = hostFault(err, `record the command's result in ${agentStateLayout(this.cfg.stateDir).commands}`);
        this.cfg.log.error({ commandId: id, err: errorMessage(fault) }, 'command result not recorded');
        const hint = fault instanceof ZddError && fault.hint ? ` (${fault.hint})` : '';
        return { kind: c.kind, ok: false, errorCode: errorCode(fault), errorMessage: errorMessage(fault) + hint, resultJson: '', at: r.at };
      }
    });
    this.running.set(id, work);
    this.sendResult(id, await work);
  }

  private async execute(id: string, kind: string, argsJson: string): Promise<RecordedResult> {
    const log = this.cfg.log.child({ commandId: id, kind });
    const at = Date.now();
    try {
      if (!COMMAND_KINDS.includes(kind as CommandKind)) {
        throw new ZddError('INVALID_ARGUMENT', `unknown command kind "${kind}"`);
      }
      let raw: unknown;
      try {
        raw = JSON.parse(argsJson || '{}');
      } catch {
        throw new ZddError('INVALID_ARGUMENT', `command ${id}: arguments are not JSON`);
      }
      const parsed = CommandArgs[kind as CommandKind].safeParse(raw);
      if (!parsed.success) {
        throw new ZddError('INVALID_ARGUMENT', `command ${id} (${kind}): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
      const progress = (message: string) => this.send({ progress: { command_id: id, message } });
      const result = await this.dispatch(kind as CommandKind, parsed.data, progress, id);
      log.info('command succeeded');
      return { kind, ok: true, errorCode: '', errorMessage: '', resultJson: JSON.stringify(result ?? {}), at };
    } catch (caught) {
      // a read-only, full or forbidden disk is the host's fault, said as such
      const err = hostFault(caught);
      log.warn({ err: errorMessage(err) }, 'command failed');
      // the hint travels in the message: results carry no separate field for it
      const hint = err instanceof ZddError && err.hint ? ` (${err.hint})` : '';
      return { kind, ok: false, errorCode: errorCode(err), errorMessage: errorMessage(err) + hint, resultJson: '', at };
    }
  }

  private requireEdge(): EdgeDriver {
    if (!this.edge) throw new ZddError('INVALID_ARGUMENT', `agent ${this.cfg.id} is not an edge agent (start it with --edge)`);
    return this.edge;
  }

  private async dispatch(kind: CommandKind, a: any, progress: (m: string) => void, id: string): Promise<unknown> {
    switch (kind) {
      case 'start_instance':
        return this.supervisor.start(a.spec, a.version, a.slot, progress);
      case 'stop_instance':
        return this.supervisor.stop(a.service, a.slot, a.signal, a.drainTimeoutMs, a.spreadMs ?? 0);
      case 'configure_edge':
        return this.requireEdge().configure(a.spec);
      case 'apply_traffic':
        return this.applyTraffic(a);
      case 'await_idle':
        return this.requireEdge().awaitIdle(a.service, a.addrs, a.timeoutMs, a.longLivedGraceMs ?? 0);
      case 'analyze': {
        const edge = this.requireEdge();
        const r = await edge.analyze(a.service, a.baseline);
        return a.gauges ? { ...r, gauges: await edge.gauges(a.service) } : r;
      }
      case 'verify':
        return this.requireEdge().verify(a.service, a);
      case 'stage_release':
        return this.releases.stage(a, progress);
      case 'run_hook':
        return this.runHook(id, a);
      case 'check_release':
        return this.supervisor.releaseHere(compileSpec(a.spec), a.version) ?? { unknown: true };
      case 'inspect':
        return { instances: this.instances(), liveGenerations: this.edge ? await this.edgeGenerations() : {} };
    }
  }

  /** A lifecycle hook, in the version's release directory (or the spec's workdir, or the state directory). */
  private async runHook(id: string, a: { service: string; hook: string; version: string; argv: string[]; timeoutMs: number; workdir?: string; env: Record<string, string> }): Promise<HookResult> {
    // A hook under way when an earlier agent process went away has no recorded result: it may
    // have done its work (a migration) or not. It is never run a second time on a guess.
    const marker = this.hookMarker(id);
    if (fs.existsSync(marker)) {
      const was = JSON.parse(fs.readFileSync(marker, 'utf8')) as { pid: number; startTicks: number };
      // pid 0: the agent went away between starting the hook and writing down its pid
      const now = !was.pid ? 'its pid was not recorded' : processStartTicks(was.pid) === was.startTicks ? `it still runs as pid ${was.pid}` : 'it has ended since';
      throw new ZddError(
        'HOOK_FAILED',
        `hook ${a.hook} was running when the agent on ${this.cfg.id} restarted (${now}); its outcome is unknown, so it is not run again`,
        { hint: 'check what the hook did, then roll out again' },
      );
    }
    // written before the hook starts (a hook is never run without it), completed with its pid;
    // removed once the result is recorded (onCommand): from then on a repeat is answered from the record
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    writeFileAtomic(marker, JSON.stringify({ id, pid: 0, startTicks: 0 }));
    return this.runHookNow(a, (pid) => {
      try {
        writeFileAtomic(marker, JSON.stringify({ id, pid, startTicks: processStartTicks(pid) ?? 0 }));
      } catch (err) {
        this.cfg.log.warn({ err: (err as Error).message }, 'could not record the hook\'s pid');
      }
    });
  }

  private hookMarker(id: string) {
    return path.join(this.cfg.stateDir, 'hooks-running', `${crypto.createHash('sha1').update(id).digest('hex')}.json`);
  }

  private async runHookNow(
    a: { service: string; hook: string; version: string; argv: string[]; timeoutMs: number; workdir?: string; env: Record<string, string> },
    onSpawn: (pid: number) => void,
  ): Promise<HookResult> {
    // with neither a workdir nor a staged release, the hook runs in the agent's state directory
    let cwd = this.cfg.stateDir;
    if (a.workdir || this.releases.has(a.service, a.version)) {
      try {
        const dir = this.supervisor.workdir({ name: a.service, workdir: a.workdir }, a.version);
        if (fs.existsSync(dir)) cwd = dir;
      } catch (err) {
        // outside the release roots: refused, never run somewhere else instead
        if (err instanceof ZddError && err.code === 'PERMISSION_DENIED') throw err;
        /* the release was pruned meanwhile: the hook runs in the state directory */
      }
    }
    const release: Record<string, string> = this.releases.has(a.service, a.version) ? { ZDD_RELEASE_DIR: this.releases.dir(a.service, a.version) } : {};
    const r = await runBounded(a.argv, { cwd, env: commandEnv({ ...a.env, ...release, ZDD_SERVICE: a.service, ZDD_VERSION: a.version, ZDD_HOOK: a.hook, ZDD_AGENT_ID: this.cfg.id }), timeoutMs: a.timeoutMs, onSpawn });
    if (!r.ok) {
      throw new ZddError('HOOK_FAILED', `hook ${a.hook} (${a.argv.join(' ')}) failed on ${this.cfg.id}: ${r.why}${r.output ? `; output: ${r.output.slice(-600)}` : ''}`);
    }
    return { ms: r.ms, output: r.output };
  }

  /**
   * A traffic change, whole or as a difference from the document this process applied last
   * (TRAFFIC_BASE when it holds another, or none after a restart: the coordinator sends it whole).
   */
  private async applyTraffic(a: TrafficDoc | TrafficDiff): Promise<ApplyTrafficResult> {
    const edge = this.requireEdge();
    const doc = isTrafficDiff(a) ? applyDiff(this.trafficDocs.get(a.service), a) : a;
    const r = await edge.applyTraffic(doc);
    this.trafficDocs.set(doc.service, doc);
    return r;
  }

  private async edgeGenerations(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const s of this.edge!.knownServices()) out[s] = await this.edge!.liveGeneration(s).catch(() => 0);
    return out;
  }

  /** Ends the session. App instances keep running: a new agent process re-adopts them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.supervisor.close();
    clearTimeout(this.heartbeatSoon);
    clearInterval(this.heartbeat);
    clearInterval(this.renewal);
    this.stream?.end();
    this.stream?.cancel();
    this.client?.close();
  }
}
