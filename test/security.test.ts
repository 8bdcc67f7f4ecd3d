// Fleet identity and operator access, with real TLS between real processes: every probe an attacker
// would try is refused and changes nothing; operators act within their roles and the journal says
// who did what; agents renew their certificates over the session and a revoked one is cut off.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { forgedResultProbe, journalState, runSecurityProbes } from '../testkit/security-probes.js';
import { deploy, fleetFor, parseJson, settled, sleep, until, versionsServed } from './support/fleet.js';
import type { LocalFleet } from '../testkit/local-fleet.js';
import { certInfo } from '../lib/pki.js';

const connected = async (fleet: LocalFleet) => {
  const r = await fleet.zddctl(['agents', '--json']);
  return new Set((parseJson(r) as { id: string; connected: boolean }[]).filter((a) => a.connected).map((a) => a.id));
};

test('every probe of an attacker without the right credentials is refused and changes nothing', async (t) => {
  // the probes revoke host-3: past the host grace, its host would leave the traffic, a change of
  // state that is the revocation's consequence, not a probe's; the grace outlasts the probes
  const fleet = await fleetFor(t, { agents: 3, coordinatorArgs: ['--host-grace', '10m'] });
  fleet.writeRelease('v1');
  await deploy(t, fleet, 'v1');
  const results = await runSecurityProbes(fleet, (s) => t.log(s));
  t.true(results.length >= 19);
  for (const r of results) {
    t.true(r.refused, `${r.name}: answered ${r.status} in ${r.ms} ms: ${r.detail}`);
    t.deepEqual(r.changed, [], `${r.name} changed the journal`);
  }
  const oversized = results.find((r) => r.name === 'a 10 MB service name')!;
  t.true(oversized.ms < 5000, `a 10 MB name was refused after ${oversized.ms} ms`);

  const forged = await forgedResultProbe(fleet, (s) => t.log(s));
  t.true(forged.refused, `forged result: ${forged.status}: ${forged.detail}`);
  t.deepEqual(forged.changed, []);

  // what users see: v1 serves, the impostors took nothing over, the revoked agent stays out
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));
  const live = await until('hosts 1 and 2 back in their sessions', async () => {
    const c = await connected(fleet);
    return c.has('host-1') && c.has('host-2') ? c : undefined;
  });
  t.false(live.has('host-3'), 'the revoked agent is not connected');
  await until("the revoked agent's refusal in its log", () => /refused this agent/.test(fleet.log('host-3')));

  // the refused calls of authenticated operators are in the audit log, with who made them
  const audit = parseJson(await fleet.zddctl(['audit', '--json'])) as { principal: string; action: string; outcome: string }[];
  t.truthy(audit.find((a) => a.principal === 'operator/vera' && a.action === 'StartRollout' && a.outcome === 'refused'));
  t.truthy(audit.find((a) => a.principal === 'operator/dave' && a.action === 'ApplyService' && a.outcome === 'refused'));
  t.truthy(audit.find((a) => a.principal === 'operator/admin' && a.action === 'RevokeAgent' && a.outcome === 'ok'));
});

test('operators act within their roles, and status, history and audit say who did what', async (t) => {
  const fleet = await fleetFor(t, { agents: 2 });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  await deploy(t, fleet, 'v1');
  const login = async (name: string, role: string) => {
    const tok = parseJson(await fleet.zddctl(['operator', 'create', name, '--role', role, '--json']));
    const file = path.join(fleet.dir, `${name}.json`);
    const r = await fleet.zddctl(['login', '--join', tok.token, '--ca-sha256', tok.ca_sha256, '--out', file]);
    t.is(r.code, 0, r.stderr);
    t.is(fs.statSync(file).mode & 0o777, 0o600, 'credentials are readable by their owner only');
    return (args: string[]) => fleet.zddctl(['--config', file, ...args]);
  };
  const alice = await login('alice', 'deployer');
  const victor = await login('victor', 'viewer');

  t.regex((await alice(['whoami'])).stdout, /operator\/alice \(deployer\)/);
  // a viewer reads, and is refused anything else with a clear error
  t.is((await victor(['history', 'web'])).code, 0);
  let r = await victor(['rollout', 'web', '--version', 'v2', '--detach']);
  t.is(r.code, 1);
  t.regex(r.stderr, /operator\/victor is a viewer; StartRollout needs deployer/);
  // a deployer cannot apply specs (they carry commands) nor let anyone join
  r = await alice(['apply', '-f', '-']);
  t.is(r.code, 1);
  r = await alice(['token', 'create', '--agent', 'web-9']);
  t.is(r.code, 1);
  t.regex(r.stderr, /CreateJoinToken needs admin/);

  // alice starts a rollout with a pause between batches and aborts it
  r = await alice(['rollout', 'web', '--version', 'v2', '--pause', '2m', '--detach', '--json']);
  t.is(r.code, 0, r.stderr);
  const id = parseJson(r).id;
  await until('the first batch to be done', async () => {
    const s = parseJson(await alice(['status', id, '--json']));
    return s.steps.some((x: { kind: string; state: string }) => x.kind === 'pause' && x.state === 'running');
  }, 60_000);
  r = await alice(['abort', id, '--reason', 'wrong build', '--detach']);
  t.is(r.code, 0, r.stderr);
  const final = await settled(fleet, id);
  t.is(final.state, 'aborted');
  t.is(final.created_by, 'operator/alice');
  t.truthy(final.events.find((e: { message: string }) => /aborted by alice: wrong build/.test(e.message)));
  t.regex((await fleet.zddctl(['status', id])).stdout, /started by operator\/alice/);
  t.regex((await fleet.zddctl(['history', 'web'])).stdout, /alice/);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v1']));

  const audit = parseJson(await fleet.zddctl(['audit', '--json'])) as { principal: string; action: string; outcome: string; target: string }[];
  for (const action of ['StartRollout', 'AbortRollout']) t.truthy(audit.find((a) => a.principal === 'operator/alice' && a.action === action && a.outcome === 'ok'), action);
  t.truthy(audit.find((a) => a.principal === 'operator/victor' && a.action === 'StartRollout' && a.outcome === 'refused'));

  // a revoked operator is refused from then on
  t.is((await fleet.zddctl(['operator', 'revoke', 'alice'])).code, 0);
  r = await alice(['status', id]);
  t.is(r.code, 1);
  t.regex(r.stderr, /revoked/);
});

test('agents renew their certificates over the session, a revoked agent is cut off at once, and nothing runs outside the release roots', async (t) => {
  // 45 s certificates: renewed once a third of their life is left
  const fleet = await fleetFor(t, { agents: 2, coordinatorArgs: ['--agent-cert-ttl', '45s'] });
  const certOf = (i: number) => fs.readFileSync(path.join(fleet.agentDir(i), 'tls', 'agent.pem'), 'utf8');
  const first = certOf(2);
  await until('host-2 to renew its certificate', () => /certificate renewed/.test(fleet.log('host-2')), 45_000);
  t.not(certOf(2), first, 'a new key and certificate are on disk');
  // a restarted agent comes back with the renewed certificate
  await fleet.stopAgent(2);
  fleet.startAgent(2);
  await until('host-2 back', async () => ((await connected(fleet)).has('host-2') ? true : undefined));

  // a workdir that escapes the release root through a symlink: the plan cannot see it, the agent refuses
  const outside = fs.mkdtempSync(path.join(path.dirname(fleet.dir), 'zdd-outside-'));
  t.teardown(() => fs.rmSync(outside, { recursive: true, force: true }));
  fs.copyFileSync(path.join(fleet.writeRelease('v1'), 'server.js'), path.join(outside, 'server.js'));
  fs.symlinkSync(outside, path.join(fleet.releases, 'escape-v1'));
  t.is((await fleet.apply(fleet.spec({ workdir: path.join(fleet.releases, 'escape-{version}') }))).code, 0);
  const before = journalState(fleet);
  let r = await fleet.zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%']);
  t.is(r.code, 1);
  const s = parseJson(await fleet.zddctl(['status', '--json']));
  t.regex(s.error + s.steps.map((x: { error: string }) => x.error).join(' '), /outside this agent's release roots/);
  t.is(journalState(fleet).trafficGeneration, before.trafficGeneration, 'no traffic change');
  t.deepEqual(fleet.instances().filter((i) => i.state !== 'stopped'), [], 'nothing was started');

  // past the first certificates' end, both agents are still connected, on renewed certificates
  const firstEnds = certInfo(first.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/)![0]).notAfterMs;
  await sleep(Math.max(0, firstEnds - Date.now() + 3000));
  t.deepEqual([...(await connected(fleet))].sort(), ['host-1', 'host-2']);
  t.notRegex(fleet.log('host-1') + fleet.log('host-2'), /refused this agent/);

  // revoking closes the session at once; the agent's restarts are refused
  r = await fleet.zddctl(['agents', 'revoke', 'host-2']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /session closed/);
  await until('host-2 to be disconnected', async () => (!(await connected(fleet)).has('host-2') ? true : undefined), 10_000); // each look starts zddctl, which a busy machine takes seconds to start
  await sleep(1500);
  t.false((await connected(fleet)).has('host-2'), 'it did not come back');
  t.regex(fleet.log('host-2'), /refused this agent/);
  t.true((await connected(fleet)).has('host-1'));
});

test('plaintext is an explicit exception: on loopback only, with a warning at every start, and no identities', async (t) => {
  const fleet = await fleetFor(t, { agents: 1, plaintext: true });
  t.regex(fleet.log('coordinator'), /PLAINTEXT: no TLS and no authentication/);
  t.regex(fleet.log('host-1'), /PLAINTEXT: no TLS/);
  t.true((await connected(fleet)).has('host-1'));
  // identity commands have nothing to work with
  const tok = await fleet.zddctl(['token', 'create', '--agent', 'web-9']);
  t.is(tok.code, 1);
  t.regex(tok.stderr, /serves plaintext \(--plaintext\): it has no fleet CA/);
});

test('every control call has a role in the table, and only reads are open to viewers', async (t) => {
  const { NEEDS } = await import('../coordinator/control.js');
  const { protos } = await import('../lib/grpc.js');
  const methods = Object.keys(protos().control.zdd.v1.Control.service);
  t.deepEqual(methods.filter((m) => !NEEDS[m]), [], 'a call missing from NEEDS');
  const viewer = methods.filter((m) => NEEDS[m] === 'viewer').sort();
  t.deepEqual(viewer, ['GetRollout', 'GetService', 'ListAgents', 'ListEvents', 'ListRollouts', 'Plan', 'WatchRollout', 'WhoAmI']);
  t.is(NEEDS.ApplyService, 'admin', 'a spec carries commands');
});
