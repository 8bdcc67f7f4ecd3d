// What an attacker without credentials, or with the wrong ones, would try against a live TLS fleet:
// each probe is a real TLS (or plaintext) connection to the real coordinator, and each must be
// refused with a clear status and change nothing. Used by test/security.test.ts and by
// `npm run bench -- security`. The fleet must have web v1 live on every host.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { CLIENT_OPTIONS, SERVER_OPTIONS, fleetClientCredentials, fleetServerCredentials, protos } from '../lib/grpc.js';
import { createCa, createCsr, issueWithNewKey, type KeyAndCert } from '../lib/pki.js';
import { readClientConfig } from '../lib/client-config.js';
import type { LocalFleet } from './local-fleet.js';

export interface ProbeResult {
  name: string;
  /** refused as it should be, with the expected status */
  refused: boolean;
  /** the gRPC status name the coordinator answered with (or what happened instead) */
  status: string;
  detail: string;
  ms: number;
  /** what of the fleet's state changed across the probe (empty: nothing) */
  changed: string[];
}

type Creds = { caPem: string; keyPem?: string; certPem?: string };

const STATUS = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])) as Record<number, string>;

/** One unary control call with these credentials; its status and how long it took. */
async function controlCall(addr: string, creds: grpc.ChannelCredentials, method: string, req: unknown): Promise<{ status: string; detail: string; ms: number }> {
  const { Control } = protos().control.zdd.v1;
  const c = new Control(addr, creds, CLIENT_OPTIONS) as unknown as Record<string, Function> & grpc.Client;
  const began = Date.now();
  try {
    return await new Promise((resolve) =>
      c[method].call(c, req, { deadline: new Date(Date.now() + 20_000) }, (err: grpc.ServiceError | null) =>
        resolve({ status: err ? STATUS[err.code] : 'OK', detail: err?.details ?? '', ms: Date.now() - began }),
      ),
    );
  } finally {
    c.close();
  }
}

/** Opens an agent session and sends `first`; resolves with how the coordinator answered (WELCOMED when it accepted it). */
async function agentSession(
  addr: string,
  creds: grpc.ChannelCredentials,
  first: Record<string, unknown>,
  then?: Record<string, unknown>[],
  /** the stream is opened at once, and `first` written only once this settles */
  hold?: Promise<unknown>,
): Promise<{ status: string; detail: string; ms: number }> {
  const { AgentGateway } = protos().agent.zdd.v1;
  const c = new AgentGateway(addr, creds, CLIENT_OPTIONS);
  let began = Date.now();
  try {
    return await new Promise((resolve) => {
      const s = c.Session();
      const timer = setTimeout(() => {
        s.cancel();
        resolve({ status: 'NO_ANSWER', detail: 'no answer within 10s', ms: Date.now() - began });
      }, 10_000);
      let welcomed = false;
      const done = (r: { status: string; detail: string }) => {
        // a session taken back by the real agent ends ours: what counts is that it was accepted
        if (welcomed) r = { status: 'WELCOMED', detail: `accepted; then ${r.detail}` };
        clearTimeout(timer);
        s.removeAllListeners();
        s.on('error', () => undefined);
        s.cancel();
        resolve({ ...r, ms: Date.now() - began });
      };
      s.on('data', (m: { welcome?: unknown }) => {
        if (!m.welcome) return;
        if (!then) return done({ status: 'WELCOMED', detail: 'the session was accepted' });
        welcomed = true;
        for (const msg of then) s.write(msg);
        // what follows the hello is judged by its effect, not by the session: give it a moment
        setTimeout(() => done({ status: 'WELCOMED', detail: 'sent after the hello' }), 1000);
      });
      s.on('error', (e: grpc.ServiceError) => done({ status: STATUS[e.code], detail: e.details }));
      s.on('end', () => done({ status: 'ENDED', detail: 'the coordinator ended the session without a status' }));
      void (hold ?? Promise.resolve()).then(() => {
        began = Date.now();
        s.write(first);
      });
    });
  } finally {
    c.close();
  }
}

async function enroll(addr: string, caPem: string, token: string): Promise<{ status: string; detail: string; ms: number }> {
  const { Enrollment } = protos().agent.zdd.v1;
  const c = new Enrollment(addr, fleetClientCredentials({ caPem }), CLIENT_OPTIONS);
  const { csrPem } = await createCsr({ kind: 'agent', name: 'x' });
  const began = Date.now();
  try {
    return await new Promise((resolve) =>
      c.Enroll({ token, csr_pem: csrPem }, { deadline: new Date(Date.now() + 15_000) }, (err: grpc.ServiceError | null) =>
        resolve({ status: err ? STATUS[err.code] : 'OK', detail: err?.details ?? 'a certificate was issued', ms: Date.now() - began }),
      ),
    );
  } finally {
    c.close();
  }
}

/** A coordinator impostor on loopback that presents `server` (and, in its chain, `ca`); returns its address and a stop function. */
async function rogueCoordinator(ca: KeyAndCert, server: KeyAndCert): Promise<{ addr: string; stop: () => void }> {
  const s = new grpc.Server(SERVER_OPTIONS);
  s.addService(protos().agent.zdd.v1.AgentGateway.service, {
    Session: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.write({ welcome: { coordinator_version: 'rogue', heartbeat_ms: 1000 } });
      call.write({ command: { command_id: 'rogue-1', kind: 'run_hook', args_json: JSON.stringify({ service: 'web', hook: 'pre', version: 'v1', argv: ['id'], timeoutMs: 1000, env: {} }) } });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    s.bindAsync('127.0.0.1:0', fleetServerCredentials({ caPem: ca.certPem, keyPem: server.keyPem, certPem: server.certPem }), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { addr: `127.0.0.1:${port}`, stop: () => s.forceShutdown() };
}

/** The journal's shape: counts and generations that any accepted change would move. */
export function journalState(fleet: LocalFleet): Record<string, number> {
  const db = new Database(fleet.db, { readonly: true, fileMustExist: true });
  try {
    const n = (sql: string) => Number((db.prepare(sql).get() as { n: number | null }).n ?? 0);
    return {
      services: n('SELECT count(*) AS n FROM service_specs'),
      rollouts: n('SELECT count(*) AS n FROM rollouts'),
      steps: n('SELECT count(*) AS n FROM steps'),
      events: n('SELECT count(*) AS n FROM events'),
      trafficGeneration: n('SELECT sum(generation) AS n FROM traffic'),
      trafficDiffs: n('SELECT count(*) AS n FROM traffic_diffs'),
      agents: n('SELECT count(*) AS n FROM agents'),
      certificates: n('SELECT count(*) AS n FROM certificates'),
      revoked: n('SELECT count(*) AS n FROM certificates WHERE revoked_ms > 0'),
      tokensSpent: n('SELECT count(*) AS n FROM join_tokens WHERE used_ms > 0'),
    };
  } finally {
    db.close();
  }
}

const diff = (a: Record<string, number>, b: Record<string, number>) => Object.keys(a).filter((k) => a[k] !== b[k]).map((k) => `${k} ${a[k]} → ${b[k]}`);

const agentCreds = (fleet: LocalFleet, i: number): Creds => fleet.agentCredentials(i);

const hello = (id: string, extra: Record<string, unknown> = {}) => ({
  hello: { agent_id: id, agent_version: 'probe', labels: { role: 'web' }, advertise: '127.0.0.1', port_offset: 0, facts: null, instances: [], edge: null, releases_roots: [], ...extra },
});

/**
 * Runs every probe against `fleet` (3 agents, web v1 live, agent 3 free to be revoked). `as` runs
 * zddctl with a config file, for the operators the probes need.
 */
export async function runSecurityProbes(fleet: LocalFleet, say: (s: string) => void = () => undefined): Promise<ProbeResult[]> {
  const addr = fleet.coordinatorAddr;
  const admin = readClientConfig(fleet.adminConfig);
  const caPem = admin.caPem;
  const ca: KeyAndCert = { certPem: caPem, keyPem: fs.readFileSync(path.join(fleet.pkiDir, 'ca.key'), 'utf8') };

  // --- set-up: legitimate admin actions, before the journal is measured ---
  const operatorConfig = async (name: string, role: string) => {
    const t = JSON.parse((await fleet.zddctl(['operator', 'create', name, '--role', role, '--json'])).stdout) as { token: string; ca_sha256: string };
    const file = path.join(fleet.dir, `${name}.json`);
    const r = await fleet.zddctl(['login', '--join', t.token, '--ca-sha256', t.ca_sha256, '--out', file]);
    if (r.code !== 0) throw new Error(`login as ${name} failed: ${r.stderr}`);
    return readClientConfig(file);
  };
  const viewer = await operatorConfig('vera', 'viewer');
  const deployer = await operatorConfig('dave', 'deployer');
  const spent = JSON.parse((await fleet.zddctl(['token', 'create', '--agent', 'spent-1', '--json'])).stdout).token as string;
  if ((await enroll(addr, caPem, spent)).status !== 'OK') throw new Error('a fresh token was refused');
  const expired = JSON.parse((await fleet.zddctl(['token', 'create', '--agent', 'late-1', '--ttl', '1s', '--json'])).stdout).token as string;
  // a stream host 3's certificate opened before its revocation, saying hello only after it
  let revokedNow: () => void = () => undefined;
  const heldOpen = agentSession(addr, fleetClientCredentials(agentCreds(fleet, 3)), hello(fleet.agentId(3)), undefined, new Promise<void>((r) => (revokedNow = r)));
  await new Promise((r) => setTimeout(r, 300));
  const revoked = await fleet.zddctl(['agents', 'revoke', fleet.agentId(3)]);
  if (revoked.code !== 0) throw new Error(`revoke failed: ${revoked.stderr}`);
  await new Promise((r) => setTimeout(r, 1200)); // the 1 s token is past its time
  const otherCa = await createCa('not the fleet CA');
  const foreign = await issueWithNewKey(otherCa, { identity: { kind: 'operator', name: 'admin' }, ttlMs: 86_400_000 });
  const stale = await issueWithNewKey(ca, { identity: { kind: 'operator', name: 'admin' }, ttlMs: -30_000 });
  const stolenAgentAsServer = await issueWithNewKey(ca, { identity: { kind: 'agent', name: fleet.agentId(2) }, ttlMs: 86_400_000 });
  const rogueServer = await issueWithNewKey(otherCa, { identity: { kind: 'coordinator', name: 'coordinator' }, ttlMs: 86_400_000, ips: ['127.0.0.1'] });

  const tls = (c: Creds) => fleetClientCredentials(c);
  /** agent i, with its real credentials, dials an impostor presenting `server` */
  const dialRogue = async (issuer: KeyAndCert, server: KeyAndCert, i: number) => {
    const rogue = await rogueCoordinator(issuer, server);
    try {
      return await agentSession(rogue.addr, tls(agentCreds(fleet, i)), hello(fleet.agentId(i)));
    } finally {
      rogue.stop();
    }
  };
  const probes: { name: string; expect: string[]; run: () => Promise<{ status: string; detail: string; ms: number }> }[] = [
    { name: 'no client certificate', expect: ['UNAUTHENTICATED'], run: () => controlCall(addr, tls({ caPem }), 'ListAgents', {}) },
    { name: 'a certificate from another CA', expect: ['UNAUTHENTICATED'], run: () => controlCall(addr, tls({ caPem, ...foreign }), 'ListAgents', {}) },
    { name: 'an expired certificate', expect: ['UNAUTHENTICATED'], run: () => controlCall(addr, tls({ caPem, ...stale }), 'ListAgents', {}) },
    { name: 'a revoked agent', expect: ['UNAUTHENTICATED'], run: () => agentSession(addr, tls(agentCreds(fleet, 3)), hello(fleet.agentId(3))) },
    {
      name: 'a revoked agent saying hello on a stream it opened before',
      expect: ['UNAUTHENTICATED'],
      run: async () => {
        revokedNow();
        return heldOpen;
      },
    },
    { name: "an agent's certificate with a hello naming another agent", expect: ['PERMISSION_DENIED'], run: () => agentSession(addr, tls(agentCreds(fleet, 2)), hello(fleet.agentId(1))) },
    { name: 'a join token used twice', expect: ['UNAUTHENTICATED'], run: () => enroll(addr, caPem, spent) },
    { name: 'a join token after it expired', expect: ['UNAUTHENTICATED'], run: () => enroll(addr, caPem, expired) },
    { name: 'a forged join token', expect: ['UNAUTHENTICATED'], run: () => enroll(addr, caPem, `${spent.slice(0, 22)}${'A'.repeat(43)}`) },
    { name: 'a viewer calling StartRollout', expect: ['PERMISSION_DENIED'], run: () => controlCall(addr, tls(viewer), 'StartRollout', { service: 'web', version: 'v9' }) },
    { name: 'a deployer applying a spec', expect: ['PERMISSION_DENIED'], run: () => controlCall(addr, tls(deployer), 'ApplyService', { spec_json: JSON.stringify(fleet.spec({ command: 'id' })) }) },
    { name: "an agent's certificate calling the control API", expect: ['PERMISSION_DENIED'], run: () => controlCall(addr, tls(agentCreds(fleet, 2)), 'AbortRollout', { id: 'web-1' }) },
    { name: "an operator's certificate opening an agent session", expect: ['PERMISSION_DENIED'], run: () => agentSession(addr, tls(admin), hello('admin')) },
    { name: 'a plaintext client against the TLS port', expect: ['UNAVAILABLE'], run: () => controlCall(addr, grpc.credentials.createInsecure(), 'ListAgents', {}) },
    {
      name: 'a spec with access_by_lua',
      expect: ['INVALID_ARGUMENT'],
      run: () => controlCall(addr, tls(admin), 'ApplyService', { spec_json: JSON.stringify(fleet.spec({ nginx: { ...(fleet.spec().nginx as object), directives: ['"access_by_lua" "os.execute(\'id\')";'] } })) }),
    },
    { name: 'a workdir outside --releases-root', expect: ['INVALID_ARGUMENT'], run: () => controlCall(addr, tls(admin), 'ApplyService', { spec_json: JSON.stringify(fleet.spec({ workdir: '/etc' })) }) },
    { name: 'a 10 MB label', expect: ['INVALID_ARGUMENT'], run: () => agentSession(addr, tls(agentCreds(fleet, 2)), hello(fleet.agentId(2), { labels: { role: 'web', big: 'x'.repeat(10 * 1024 * 1024) } })) },
    { name: 'a port offset of 2^31-1', expect: ['INVALID_ARGUMENT'], run: () => agentSession(addr, tls(agentCreds(fleet, 2)), hello(fleet.agentId(2), { port_offset: 2 ** 31 - 1 })) },
    { name: 'a 10 MB service name', expect: ['INVALID_ARGUMENT'], run: () => controlCall(addr, tls(admin), 'GetService', { name: 'w'.repeat(10 * 1024 * 1024) }) },
    {
      name: 'an agent pinned to the fleet CA dialling a rogue coordinator',
      expect: ['UNAVAILABLE'],
      run: () => dialRogue(otherCa, rogueServer, 2),
    },
    {
      name: "a rogue coordinator holding an agent's certificate of the fleet",
      expect: ['UNAVAILABLE'],
      run: () => dialRogue(ca, stolenAgentAsServer, 1),
    },
  ];

  const results: ProbeResult[] = [];
  for (const p of probes) {
    const before = journalState(fleet);
    const r = await p.run();
    const changed = diff(before, journalState(fleet));
    const refused = p.expect.includes(r.status) && r.ms < 10_000;
    results.push({ name: p.name, refused, status: r.status, detail: r.detail.slice(0, 300), ms: r.ms, changed });
    say(`${refused && !changed.length ? 'refused' : 'NOT REFUSED'}  ${p.name}: ${r.status} in ${r.ms} ms: ${r.detail.slice(0, 160)}${changed.length ? ` (changed: ${changed.join(', ')})` : ''}`);
  }
  return results;
}

/**
 * A command result forged from another agent's session: while host 1 gates a version whose
 * /healthz answers 503, host 2's certificate opens a session and reports host 1's start as done
 * and healthy. It must settle nothing: the rollout fails on the health check, traffic never
 * moves, v1 keeps serving. The rollout itself is journalled (the admin started it); what must not
 * change is the traffic generation and what serves.
 */
export async function forgedResultProbe(fleet: LocalFleet, say: (s: string) => void = () => undefined): Promise<ProbeResult> {
  const began = Date.now();
  fleet.writeRelease('v503', { healthStatus: 503 });
  const before = journalState(fleet);
  const c = fleet.client();
  try {
    const r = await c.call('StartRollout', { service: 'web', version: 'v503', batch: '1' });
    let commandId = '';
    for (const deadline = Date.now() + 15_000; !commandId && Date.now() < deadline; await new Promise((res) => setTimeout(res, 50))) {
      const s = await c.call('GetRollout', { id: r.id });
      const start = s.steps.find((x: { kind: string; agent_id: string; state: string }) => x.kind === 'start' && x.agent_id === fleet.agentId(1) && x.state === 'running');
      if (start) {
        const db = new Database(fleet.db, { readonly: true });
        const instance = (db.prepare("SELECT value FROM meta WHERE key = 'instance_id'").get() as { value: string }).value;
        db.close();
        commandId = `${instance}:${r.id}/${start.seq}/${start.attempt}`;
      }
    }
    if (!commandId) throw new Error("host 1's start step never ran");
    const forged = { result: { command_id: commandId, ok: true, error_code: '', error_message: '', result_json: JSON.stringify({ slot: 'a', port: 1, pid: 1, healthyAfterMs: 1 }) } };
    const sent = await agentSession(fleet.coordinatorAddr, fleetClientCredentials(agentCreds(fleet, 2)), hello(fleet.agentId(2), { port_offset: 2 }), [forged]);
    let final: { state: string; error: string } | undefined;
    for (const deadline = Date.now() + 60_000; !final && Date.now() < deadline; await new Promise((res) => setTimeout(res, 200))) {
      const s = await c.call('GetRollout', { id: r.id });
      if (s.state !== 'running') final = s;
    }
    const after = journalState(fleet);
    const changed = after.trafficGeneration !== before.trafficGeneration ? [`trafficGeneration ${before.trafficGeneration} → ${after.trafficGeneration}`] : [];
    const refused = sent.status === 'WELCOMED' && !!final && final.state !== 'succeeded' && /health|503/i.test(final.error);
    const result: ProbeResult = {
      name: 'a command result forged from another session',
      refused,
      status: refused ? 'IGNORED' : `rollout ${final?.state ?? 'still running'}`,
      detail: `rollout ${r.id} ${final?.state}: ${final?.error ?? ''}`.slice(0, 300),
      ms: Date.now() - began,
      changed,
    };
    say(`${refused && !changed.length ? 'refused' : 'NOT REFUSED'}  ${result.name}: ${result.status}: ${result.detail.slice(0, 160)}${changed.length ? ` (changed: ${changed.join(', ')})` : ''}`);
    return result;
  } finally {
    c.close();
  }
}
