// Fleet membership: which hosts are in the pool. A host whose agent has been gone past the host
// grace leaves every service's traffic through a journalled traffic change (never below the
// service's minimum healthy share), and returns once its agent is back and its instance is
// healthy on the live version. Operators cordon (no new rollouts), drain (cordon, then move its
// traffic away and wait until nothing is in flight to it) and remove (forget) hosts. Every
// change is an event of the fleet's log (rollout id '').
//
// Traffic changes made here and a rollout's traffic phases take the same per-service lock, so
// their generations reach the edges in order.
import type { Logger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { compileSpec, type ServiceSpec } from '../lib/spec.js';
import { checkServable, inOrder, primaryTrack, type Backend, type TrafficDoc } from '../lib/traffic.js';
import { formatMs } from '../lib/duration.js';
import type { KeyedLock } from '../lib/keyed-lock.js';
import type { AgentHub } from './agent-hub.js';
import type { AgentRow, EventRow, ParkedRow, Store } from './store.js';

export interface MembershipOptions {
  /** how long an agent may be gone before its host leaves the pool */
  hostGraceMs: number;
  /** how often the fleet is looked at */
  intervalMs?: number;
}

/** What `zddctl agents` shows of a host's membership. */
export interface HostState {
  connected: boolean;
  /** when its session ended; 0 while connected */
  goneSinceMs: number;
  cordoned: boolean;
  drain: string;
  /** gone past the host grace: its steps are left out of rollouts */
  out: boolean;
}

export class Membership {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** (service, host) pairs already told that the minimum healthy share keeps them in: said once */
  private readonly held = new Set<string>();
  /** parked backends already told that they cannot return (another version is live): said once */
  private readonly stale = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly hub: AgentHub,
    private readonly lock: KeyedLock,
    private readonly log: Logger,
    private readonly opts: MembershipOptions,
    /** whether a rollout of the service is under way (running or paused): no host returns meanwhile */
    private readonly rolloutActive: (service: string) => boolean,
  ) {}

  start(): void {
    // a change journalled just before the last coordinator stopped may not have reached the
    // edges: every service's journalled document goes out again (an edge that has it answers noop)
    for (const svc of this.store.listServices()) {
      const doc = this.store.traffic(svc.name);
      if (doc) this.pushState.set(svc.name, { generation: doc.generation, confirmed: new Set(), retryAt: 0, delayMs: 1000 });
    }
    // a drain under way when the last coordinator stopped is not carried on: it says so
    for (const a of this.store.listAgents()) {
      if (a.drain === 'draining') {
        this.store.setMembership(a.id, { drain: 'failed: interrupted by a coordinator restart' });
        this.addEvent('warn', a.id, `the drain of ${a.id} was interrupted by a coordinator restart: run zddctl drain ${a.id} again`);
      }
    }
    // who is out is known before the first look: a rollout resumed at once leaves them out
    this.refreshOut();
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  state(a: AgentRow, now = Date.now()): HostState {
    const goneSinceMs = this.hub.goneSince(a.id, a.lastSeenMs);
    return {
      connected: goneSinceMs === 0,
      goneSinceMs,
      cordoned: !!a.cordonedMs,
      drain: a.drain ?? '',
      out: goneSinceMs > 0 && now - goneSinceMs >= this.opts.hostGraceMs,
    };
  }

  /**
   * The states worth a look: hosts not connected, cordoned, draining or drained, or with backends
   * parked. A connected host in the pool is none of these, and has no entry: a look over ten
   * thousand hosts builds a handful of states, not ten thousand.
   */
  private states(now = Date.now(), parked: ReadonlySet<string> = new Set(this.store.parked().map((p) => p.agentId))): Map<string, HostState> {
    const ids = new Set<string>([...parked, ...this.store.membershipIds()]);
    // every known agent connected (the usual case) needs no pass over the fleet
    if (this.hub.connectedCount() < this.store.agentCount()) for (const a of this.store.listAgents()) if (!this.hub.session(a.id)) ids.add(a.id);
    const out = new Map<string, HostState>();
    for (const id of ids) {
      const a = this.store.agent(id);
      if (a) out.set(id, this.state(a, now));
    }
    return out;
  }

  /** hosts a rollout leaves out, with why: recomputed at every look and membership change */
  private out = new Map<string, string>();

  private refreshOut(states: Map<string, HostState> = this.states()) {
    const out = new Map<string, string>();
    for (const [id, s] of states) {
      if (s.out) out.set(id, `gone since ${new Date(s.goneSinceMs).toISOString()}`);
      else if (s.drain === 'draining' || s.drain === 'drained') out.set(id, `${s.drain} by an operator`);
    }
    this.out = out;
  }

  /** Why a rollout leaves a host out (gone past the host grace, drained or draining), or undefined. */
  whyOut(agentId: string): string | undefined {
    return this.out.get(agentId);
  }

  private event(level: EventRow['level'], agentId: string, message: string, kind = 'membership'): EventRow {
    this.log[level]({ agentId }, message);
    return { rolloutId: '', atMs: Date.now(), level, agentId, message, kind };
  }

  private addEvent(level: EventRow['level'], agentId: string, message: string) {
    try {
      this.store.addEvent(this.event(level, agentId, message));
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'fleet event not journalled');
    }
  }

  /** The edges that serve a service: the spec's, else every connected edge agent. */
  private edgesOf(spec: ServiceSpec): string[] {
    const named = compileSpec(spec).nginx.edges;
    return named.length ? [...named] : this.hub.connectedEdges();
  }

  /**
   * Journals a document with the backends it parks or puts back and the event saying why, then
   * pushes it to the service's edges. Under the service's traffic lock. Returns whether every
   * edge took it (if not, it is pushed again at the next look).
   */
  private async change(service: string, spec: ServiceSpec, doc: TrafficDoc, park: ParkedRow[], unpark: { service: string; agentId: string }[], event: EventRow): Promise<boolean> {
    checkServable(doc);
    this.store.changeTraffic(doc, park, unpark, event);
    return this.push(service, spec, doc);
  }

  /** pushes made by this process: a push sent again is a new command, never a replayed answer */
  private pushes = 0;
  private readonly nonce = Math.random().toString(36).slice(2, 8);

  /**
   * Documents journalled but not yet confirmed by every edge, per service: the generation, the
   * edges that confirmed it, and when to try the others again. Pushed again at each look.
   */
  private readonly pushState = new Map<string, { generation: number; confirmed: Set<string>; retryAt: number; delayMs: number }>();

  /**
   * Sends a journalled document to the service's connected edges that have not confirmed it.
   * The service stays "unpushed" until every edge has; the others are tried again with a
   * backoff (1 s doubling to 30 s), each time as a new command.
   */
  private async push(service: string, spec: ServiceSpec, doc: TrafficDoc): Promise<boolean> {
    const edges = this.edgesOf(spec);
    let st = this.pushState.get(service);
    if (!st || st.generation !== doc.generation) {
      st = { generation: doc.generation, confirmed: new Set(), retryAt: 0, delayMs: 1000 };
      this.pushState.set(service, st);
    } else if (Date.now() < st.retryAt) return false;
    const state = st;
    // an edge that is not connected gets the document when it is back: a call now would hold
    // the service's traffic lock for the agent grace
    const todo = edges.filter((e) => !state.confirmed.has(e) && this.hub.session(e));
    await Promise.all(
      todo.map((e) =>
        this.hub.call(e, 'apply_traffic', doc, `${this.store.instanceId()}:fleet/${service}/${doc.generation}/${e}/${this.nonce}.${++this.pushes}`, { timeoutMs: 15_000 }).then(
          () => void state.confirmed.add(e),
          (err) => {
            // an edge that never had the service configured does not serve it
            if (err instanceof ZddError && err.code === 'NOT_FOUND') state.confirmed.add(e);
            else if (state.delayMs === 1000) this.log.warn({ service, edge: e, generation: doc.generation, err: errorMessage(err) }, 'fleet traffic change not applied on an edge; trying again');
          },
        ),
      ),
    );
    const ok = edges.length > 0 && edges.every((e) => state.confirmed.has(e));
    if (ok) this.pushState.delete(service);
    else {
      state.retryAt = Date.now() + state.delayMs;
      state.delayMs = Math.min(30_000, state.delayMs * 2);
    }
    return ok;
  }

  /** services whose membership work is under way (it may wait for a rollout's traffic lock) */
  private readonly busy = new Set<string>();

  /**
   * One look at the fleet: hosts gone past the grace leave the pool, hosts back and healthy return.
   * Who is out is decided at once; the traffic changes wait for each service's lock, a slow one
   * holding back only its own service.
   */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const parked = this.store.parked();
      const states = this.states(now, new Set(parked.map((p) => p.agentId)));
      this.refreshOut(states);
      for (const [id, st] of states) {
        if (!st.out) continue;
        const n = this.hub.abandon(id, `host ${id} has been gone for ${formatMs(now - st.goneSinceMs)} (host grace ${formatMs(this.opts.hostGraceMs)}): it left the pool`);
        if (n) this.log.warn({ agentId: id, commands: n }, 'commands to a gone host ended');
      }
      // back: a later absence is told again
      for (const k of this.held) if (!states.get(k.slice(k.indexOf('/') + 1))?.out) this.held.delete(k);
      for (const svc of this.store.listServices()) {
        if (this.busy.has(svc.name)) continue;
        this.busy.add(svc.name);
        const spec = JSON.parse(svc.specJson) as ServiceSpec;
        void this.lock
          .run(svc.name, async () => {
            const doc = this.store.traffic(svc.name);
            if (!doc) return;
            if (this.pushState.has(svc.name)) await this.push(svc.name, spec, doc);
            await this.takeOutGone(svc.name, spec, doc, states);
            if (!this.rolloutActive(svc.name)) await this.putBack(svc.name, spec, svc.liveVersion, parked.filter((p) => p.service === svc.name), states);
          })
          .catch((err) => this.log.error({ service: svc.name, err: errorMessage(err) }, 'membership change failed'))
          .finally(() => this.busy.delete(svc.name));
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'membership look failed');
    } finally {
      this.ticking = false;
    }
  }

  /**
   * How many hosts may leave the primary track of a document while the service keeps its minimum
   * healthy share of the hosts it has: those in traffic and those parked out of it (gone or
   * drained) until they return or are removed.
   */
  private allowance(spec: ServiceSpec, doc: TrafficDoc): number {
    const primary = primaryTrack(doc);
    const hosts = new Set(doc.backends.filter((b) => b.track === primary && b.weight > 0).map((b) => b.agentId ?? b.addr));
    const parked = new Set(this.store.parked().filter((p) => p.service === doc.service && !hosts.has(p.agentId)).map((p) => p.agentId));
    const pool = hosts.size + parked.size;
    const keep = Math.max(1, Math.ceil((compileSpec(spec).minHealthyShare / 100) * pool));
    return Math.max(0, hosts.size - keep);
  }

  private async takeOutGone(service: string, spec: ServiceSpec, doc: TrafficDoc, states: Map<string, ReturnType<Membership['state']>>) {
    if (![...states.values()].some((s) => s.out)) return;
    const gone = [...new Set(doc.backends.filter((b) => b.agentId && states.get(b.agentId)?.out).map((b) => b.agentId!))];
    if (!gone.length) return;
    // hosts that serve this service's edges stay: without them the change could not be pushed
    const edges = new Set(this.edgesOf(spec));
    let allowed = this.allowance(spec, doc);
    let cur = doc;
    for (const id of gone.sort((a, b) => states.get(a)!.goneSinceMs - states.get(b)!.goneSinceMs)) {
      if (edges.has(id)) continue;
      const st = states.get(id)!;
      const onPrimary = cur.backends.some((b) => b.agentId === id && b.track === primaryTrack(cur));
      if (onPrimary && allowed <= 0) {
        if (!this.held.has(`${service}/${id}`)) {
          this.held.add(`${service}/${id}`);
          this.addEvent('warn', id, `host ${id} has been gone for ${formatMs(Date.now() - st.goneSinceMs)} but stays in ${service}'s traffic: taking it out would leave less than ${compileSpec(spec).minHealthyShare}% of its hosts (hosts.minHealthyShare); the edge ejects it while it refuses connections`);
        }
        continue;
      }
      if (onPrimary) allowed--;
      this.held.delete(`${service}/${id}`);
      const leaving = cur.backends.filter((b) => b.agentId === id);
      const next: TrafficDoc = { ...cur, generation: cur.generation + 1, backends: cur.backends.filter((b) => b.agentId !== id) };
      const since = new Date(st.goneSinceMs).toISOString();
      await this.change(
        service,
        spec,
        next,
        leaving.map((b) => ({ service, agentId: id, backendJson: JSON.stringify(b), reason: 'gone', sinceMs: Date.now() })),
        [],
        this.event('warn', id, `host ${id} gone since ${since} (past the host grace of ${formatMs(this.opts.hostGraceMs)}): ${leaving.map((b) => b.addr).join(', ')} taken out of ${service}'s traffic (generation ${next.generation})`),
      );
      cur = next;
    }
  }

  private async putBack(service: string, spec: ServiceSpec, liveVersion: string, parked: ParkedRow[], states: Map<string, ReturnType<Membership['state']>>) {
    for (const p of parked) {
      const st = states.get(p.agentId);
      const a = this.store.agent(p.agentId);
      if (!st || !a || !st.connected || st.cordoned || st.drain) continue;
      const b = JSON.parse(p.backendJson) as Backend;
      const doc = this.store.traffic(service);
      if (!doc) return;
      // a rollout put the host back meanwhile (on a newer version): nothing is parked any more
      if (doc.backends.some((x) => x.agentId === p.agentId && x.track === b.track)) {
        this.store.changeTraffic(doc, [], [{ service, agentId: p.agentId }], this.event('info', p.agentId, `host ${p.agentId} serves ${service} again (a rollout put it back)`));
        continue;
      }
      const tracks = new Set(doc.backends.map((x) => x.track));
      if (b.version !== liveVersion || (!tracks.has(b.track) && b.track !== primaryTrack(doc))) {
        if (!this.stale.has(p.backendJson)) {
          this.stale.add(p.backendJson);
          this.addEvent('warn', p.agentId, `host ${p.agentId} is back, but its ${service} backend ${b.addr} runs ${b.version ?? '?'} while ${liveVersion || 'nothing'} is live: it stays out of traffic until a rollout includes it (zddctl rollout ${service} --version ${liveVersion})`);
        }
        continue;
      }
      const inst = this.hub.session(p.agentId)?.instances.find((i) => i.service === service && i.slot === b.slot);
      if (!inst || inst.state !== 'healthy' || inst.version !== b.version) continue;
      const next: TrafficDoc = { ...doc, generation: doc.generation + 1, backends: inOrder([...doc.backends, b]) };
      const why = p.reason === 'gone' ? 'is back' : 'was uncordoned';
      await this.change(service, spec, next, [], [{ service, agentId: p.agentId }], this.event('info', p.agentId, `host ${p.agentId} ${why} and healthy: ${b.addr} (${b.version}) put back into ${service}'s traffic (generation ${next.generation})`));
      this.stale.delete(p.backendJson);
    }
  }

  private row(name: string): AgentRow {
    const a = this.store.listAgents().find((x) => x.id === name);
    if (!a) throw new ZddError('NOT_FOUND', `no agent "${name}"`, { hint: 'zddctl agents lists them' });
    return a;
  }

  cordon(name: string, by: string): AgentRow {
    const a = this.row(name);
    if (!a.cordonedMs) {
      this.store.setMembership(name, { cordonedMs: Date.now() });
      this.addEvent('info', name, `host ${name} cordoned by ${by}: new rollouts leave it alone`);
    }
    return this.row(name);
  }

  uncordon(name: string, by: string): AgentRow {
    const a = this.row(name);
    if (a.cordonedMs || a.drain) {
      if (a.drain === 'draining') throw new ZddError('ROLLOUT_ACTIVE', `host ${name} is still draining`, { hint: 'wait for the drain to end (zddctl agents), then uncordon it' });
      this.store.setMembership(name, { cordonedMs: 0, drain: '' });
      this.refreshOut();
      this.addEvent('info', name, `host ${name} uncordoned by ${by}${a.drain ? ': its backends return to traffic once healthy' : ''}`);
    }
    return this.row(name);
  }

  /**
   * Cordons the host, takes its backends out of every service's traffic (respecting each
   * service's minimum healthy share and never emptying a track), then waits at the edges until
   * nothing is in flight to them. Returns at once; the drain's end is in `agents` and the events.
   */
  drain(name: string, by: string): AgentRow {
    const a = this.row(name);
    if (a.drain === 'draining') return a;
    const plan: { service: string; spec: ServiceSpec }[] = [];
    for (const svc of this.store.listServices()) {
      const doc = this.store.traffic(svc.name);
      if (!doc?.backends.some((b) => b.agentId === name)) continue;
      const spec = JSON.parse(svc.specJson) as ServiceSpec;
      const left: TrafficDoc = { ...doc, backends: doc.backends.filter((b) => b.agentId !== name) };
      try {
        checkServable(left);
      } catch {
        throw new ZddError('INVALID_ARGUMENT', `host ${name} is the last backend of ${svc.name}'s live track: draining it would leave ${svc.name} without one; nothing was changed`, {
          hint: `roll ${svc.name} out to another host first`,
        });
      }
      if (doc.backends.some((b) => b.agentId === name && b.track === primaryTrack(doc)) && this.allowance(spec, doc) < 1) {
        throw new ZddError('INVALID_ARGUMENT', `draining ${name} would leave ${svc.name} with less than ${compileSpec(spec).minHealthyShare}% of its hosts in traffic (hosts.minHealthyShare); nothing was changed`, {
          hint: 'bring other hosts back first, or lower hosts.minHealthyShare in the spec',
        });
      }
      plan.push({ service: svc.name, spec });
    }
    this.store.setMembership(name, { cordonedMs: a.cordonedMs || Date.now(), drain: 'draining' });
    this.refreshOut();
    this.addEvent('info', name, `host ${name} draining (by ${by}): ${plan.length ? `its traffic leaves ${plan.map((p) => p.service).join(', ')}` : 'it serves nothing'}`);
    void this.runDrain(name, plan);
    return this.row(name);
  }

  private async runDrain(name: string, plan: { service: string; spec: ServiceSpec }[]) {
    try {
      for (const { service, spec } of plan) {
        const addrs = await this.lock.run(service, async () => {
          const doc = this.store.traffic(service);
          const leaving = doc?.backends.filter((b) => b.agentId === name) ?? [];
          if (!doc || !leaving.length) return [];
          // checked again here: another drain or a gone host may have taken its share meanwhile
          if (leaving.some((b) => b.track === primaryTrack(doc)) && this.allowance(spec, doc) < 1) {
            throw new ZddError('INVALID_ARGUMENT', `taking ${name} out would leave ${service} with less than ${compileSpec(spec).minHealthyShare}% of its hosts in traffic (hosts.minHealthyShare)`);
          }
          const next: TrafficDoc = { ...doc, generation: doc.generation + 1, backends: doc.backends.filter((b) => b.agentId !== name) };
          const ok = await this.change(
            service,
            spec,
            next,
            leaving.map((b) => ({ service, agentId: name, backendJson: JSON.stringify(b), reason: 'drain', sinceMs: Date.now() })),
            [],
            this.event('info', name, `draining ${name}: ${leaving.map((b) => b.addr).join(', ')} taken out of ${service}'s traffic (generation ${next.generation})`),
          );
          if (!ok) throw new ZddError('NGINX_FAILED', `the edge did not confirm ${service}'s traffic change`);
          return leaving.map((b) => b.addr);
        });
        if (!addrs.length) continue;
        const { drainTimeoutMs: timeoutMs, longLivedGraceMs } = compileSpec(spec).stop;
        for (const e of this.edgesOf(spec)) {
          const r = await this.hub.call(e, 'await_idle', { service, addrs, timeoutMs, longLivedGraceMs }, `${this.store.instanceId()}:drain/${name}/${service}/${Date.now()}`, {
            timeoutMs: timeoutMs + longLivedGraceMs + 15_000,
          });
          if (!r.idle) throw new ZddError('DRAIN_TIMEOUT', `${r.inflight} request(s) still in flight to ${addrs.join(', ')} of ${service} after ${formatMs(r.waitedMs)}`);
          if (r.longLived?.left) this.addEvent('warn', name, `${r.longLived.left} long-lived connection(s) to ${addrs.join(', ')} of ${service} still open after ${formatMs(longLivedGraceMs)}: they end when the instances stop`);
        }
      }
      this.store.setMembership(name, { drain: 'drained' });
      this.addEvent('info', name, `host ${name} drained: no traffic, nothing in flight; it stays cordoned (zddctl uncordon ${name} brings it back, zddctl remove ${name} forgets it once its agent is stopped)`);
    } catch (err) {
      const why = `failed: ${errorMessage(err)}`.slice(0, 500);
      try {
        this.store.setMembership(name, { drain: why });
      } catch {
        /* the event below says it */
      }
      this.addEvent('error', name, `draining ${name} ${why}`);
    }
  }

  /** Forgets a host: refused while its agent is connected or while it serves. */
  remove(name: string, by: string): void {
    const a = this.row(name);
    if (this.state(a).connected) {
      throw new ZddError('INVALID_ARGUMENT', `agent ${name} is connected: it would be back at its next hello`, {
        hint: `drain it (zddctl drain ${name}), stop its agent (systemctl stop zdd-agent), then remove it; zddctl agents revoke ${name} also bars it`,
      });
    }
    const serving = this.store.listServices().filter((s) => this.store.traffic(s.name)?.backends.some((b) => b.agentId === name));
    if (serving.length) {
      throw new ZddError('INVALID_ARGUMENT', `host ${name} still serves ${serving.map((s) => s.name).join(', ')}; nothing was changed`, { hint: `drain it first: zddctl drain ${name}` });
    }
    this.hub.forget(name);
    this.store.removeAgent(name);
    this.addEvent('info', name, `host ${name} removed by ${by}`);
  }
}
