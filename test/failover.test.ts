// Coordinators sharing one PostgreSQL (a server of each test's own, started with initdb): one leads,
// the other stands by and takes over. The leader is SIGKILLed at every step boundary of a rolling
// rollout under load, frozen past its lease, and PostgreSQL itself is restarted mid-rollout: every
// rollout completes, every host swaps exactly once, no request fails, and a deposed leader's writes
// and commands take no effect.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { LocalFleet } from '../testkit/local-fleet.js';
import { TestPostgres } from '../testkit/postgres.js';
import { SyncPg } from '../coordinator/pg-sync.js';
import { Leadership, openPg } from '../coordinator/pg-store.js';
import { deploy, fleetFor, load, parseJson, rolloutNow, settled, sleep, status, until, versionsServed } from './support/fleet.js';

async function haFleet(t: ExecutionContext, coordinatorArgs: string[] = []): Promise<{ fleet: LocalFleet; pg: TestPostgres }> {
  const pg = await TestPostgres.start();
  t.teardown(() => pg.stop());
  // every journal write must carry the current leader's epoch: a trigger counts those that do not
  openPg(pg.url).close();
  pg.installStaleWriteProbe();
  const fleet = await fleetFor(t, { postgres: pg.url, coordinators: 2, coordinatorArgs });
  fleet.writeRelease('v1');
  fleet.writeRelease('v2');
  return { fleet, pg };
}

/** Which coordinator (1 or 2) the lease row names, with its epoch. */
function leader(fleet: LocalFleet, pg: TestPostgres): { n: number; epoch: number } {
  const conn = new SyncPg(pg.url);
  try {
    const l = new Leadership(conn).leader();
    return { n: fleet.coordinatorAddrs.indexOf(l.holder?.listen ?? '') + 1, epoch: l.live ? l.epoch : 0 };
  } finally {
    conn.close();
  }
}

const starts = (fleet: LocalFleet) => [1, 2, 3].map((i) => fleet.executed(i, 'start_instance'));

test('two coordinators on one PostgreSQL: one leads, the other answers as a standby naming it; the leader SIGKILLed at every step boundary of a rolling rollout under load, the standby finishes each: every host swapped once, no request failed', async (t) => {
  const { fleet, pg } = await haFleet(t);
  t.is(leader(fleet, pg).n, 1, 'the first coordinator leads');
  t.regex(fleet.log('coordinator-2'), /started as a standby/);
  t.notRegex(fleet.log('coordinator-2'), /"msg":"leading"/, 'only one leads');
  // a standby alone, asked directly: UNAVAILABLE with the leader's address, which zddctl follows
  const who = await fleet.zddctl(['whoami'], { coordinator: fleet.coordinatorAddrs[1] });
  t.is(who.code, 0, who.stderr);
  await deploy(t, fleet, 'v1');
  const plan = parseJson(await fleet.zddctl(['plan', 'web', '--version', 'v2', '--json']));
  const points = plan.steps.flatMap((s: { seq: number; kind: string }) => (['before', 'after'] as const).map((when) => ({ seq: s.seq, when, kind: s.kind })));
  t.true(points.length >= 28, `a 3-host rolling plan has ${points.length} boundaries`);
  // every coordinator carries the crash point of the round; the leader dies there, once
  const pointFile = path.join(fleet.dir, 'crash-point');
  for (const n of [1, 2]) {
    await fleet.stopCoordinator('SIGTERM', n);
    await fleet.startCoordinator({ ZDD_CRASH_AT_FILE: pointFile }, n);
  }
  await fleet.waitForAgents(3);
  const gen = load(fleet, 200, 12);
  let version = 'v1';
  const takeovers: number[] = [];
  for (const [round, p] of points.entries()) {
    version = version === 'v1' ? 'v2' : 'v1';
    const before = starts(fleet);
    const was = leader(fleet, pg);
    fs.writeFileSync(pointFile, `${round} ${p.seq}:${p.when}`);
    const r = await fleet.zddctl(['rollout', 'web', '--version', version, '--detach']);
    // a crash point right after the rollout is stored may take the answer with it
    if (r.code !== 0) t.regex(r.stderr, /cannot reach the coordinator|standby/);
    await until(`the leader to die at ${p.seq}:${p.when}`, () => fs.existsSync(`${pointFile}.fired-${round}`) || undefined, 30_000);
    const killedAt = Date.now();
    await fleet.coordinatorExited(30_000, was.n);
    const now = await until('the standby to lead', () => {
      const l = leader(fleet, pg);
      return l.n !== was.n && l.epoch > was.epoch ? l : undefined;
    }, 15_000);
    takeovers.push(Date.now() - killedAt);
    const h = parseJson(await fleet.zddctl(['history', 'web', '--json', '--limit', '1']));
    const s = await settled(fleet, h[0].id);
    const where = `killed ${p.when} step ${p.seq} (${p.kind})`;
    t.is(s.state, 'succeeded', `${where}: ${s.error}`);
    t.deepEqual(starts(fleet).map((n, i) => n - before[i]), [1, 1, 1], `${where}: every host swapped exactly once`);
    t.true(s.events.some((e: { message: string }) => e.message.includes(`leadership moved to ${fleet.coordinatorAddrs[now.n - 1]}`)), `${where}: the takeover is on record`);
    // the killed one comes back as the standby
    await fleet.startCoordinator({ ZDD_CRASH_AT_FILE: pointFile }, was.n);
  }
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.true(stats.requests > 1000);
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set([version]));
  t.is(pg.staleWrites(), 0, 'no journal write without the current epoch');
  t.log(`takeover seen by the test after ${Math.max(...takeovers)} ms at most`);
});

/** A rollout whose every start is health-gated for 2 s (the journal is written as each gate ends), under load. */
async function gatedRollout(t: ExecutionContext, fleet: LocalFleet) {
  const spec = fleet.spec({ health: { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, minHealthy: '2s', deadline: '30s' } });
  await deploy(t, fleet, 'v1', spec);
  const gen = load(fleet, 150, 8);
  const before = starts(fleet);
  t.is((await fleet.zddctl(['rollout', 'web', '--version', 'v2', '--detach'])).code, 0);
  // asked in-process: a zddctl per look takes seconds on a busy machine, and the gated window is short
  await until('batch 1 to be starting', async () => (await rolloutNow(fleet, 'web-2'))?.steps.some((s: any) => s.kind === 'start' && s.state === 'running'));
  return { gen, before };
}

test('a leader frozen (SIGSTOP) past its lease: the standby takes over and finishes the rollout; resumed (SIGCONT), the old leader writes nothing and sends nothing that takes effect', async (t) => {
  const { fleet, pg } = await haFleet(t);
  // the leader is frozen with a rollout in flight (a health gate under way)
  const { gen, before } = await gatedRollout(t, fleet);
  const old = leader(fleet, pg);
  t.is(old.n, 1);
  process.kill(fleet.pidOf(1)!, 'SIGSTOP');
  let resumed = false;
  t.teardown(() => {
    if (!resumed) process.kill(fleet.pidOf(1)!, 'SIGCONT');
  });
  const s = await settled(fleet, 'web-2', 90_000);
  t.is(s.state, 'succeeded', s.error);
  t.is(leader(fleet, pg).n, 2, 'the standby leads');
  const eventsThen = s.events.length;
  const journalThen = JSON.stringify(s.steps);
  process.kill(fleet.pidOf(1)!, 'SIGCONT');
  resumed = true;
  await until('the old leader to step down', () => /leadership lost/.test(fleet.log('coordinator')) || undefined, 15_000);
  await sleep(3000);
  const after = await status(fleet, 'web-2');
  t.is(after.events.length, eventsThen, 'nothing was journalled after the old leader woke');
  t.is(JSON.stringify(after.steps), journalThen);
  t.deepEqual(starts(fleet).map((n, i) => n - before[i]), [1, 1, 1], 'every host swapped exactly once');
  // an agent that left the frozen leader does not go back to it, even when the standby, not yet
  // leading, names it as the leader: on a fresh machine one did, waited for its welcome twice, and
  // its host was taken out of the pool before it reached the new leader
  for (const host of ['host-1', 'host-2', 'host-3']) {
    t.notRegex(fleet.log(host), new RegExp(`${fleet.coordinatorAddrs[0].replaceAll('.', '\\.')} sent no welcome`), `${host} waited at the frozen leader`);
  }
  t.is(leader(fleet, pg).n, 2, 'the new leader keeps the lease');
  t.regex(fleet.log('coordinator'), /started as a standby|waits as a standby/, 'the old leader waits as a standby');
  t.is(pg.staleWrites(), 0, 'no journal write without the current epoch');
  const stats = await gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
});

/** PostgreSQL stopped for downMs at least, and asked about meanwhile. */
async function outage(t: ExecutionContext, fleet: LocalFleet, pg: TestPostgres, downMs: number) {
  const stopped = Date.now();
  pg.halt();
  const during = await fleet.zddctl(['status', 'web-2']);
  t.is(during.code, 1, 'nothing can be read while the journal is gone');
  t.regex(during.stderr, /PostgreSQL at \S+ is unreachable|cannot learn the leader/, 'and the operator is told why');
  await sleep(stopped + downMs - Date.now());
  pg.start();
}

async function finished(t: ExecutionContext, fleet: LocalFleet, pg: TestPostgres, run: Awaited<ReturnType<typeof gatedRollout>>, expect: RegExp) {
  // paused while the journal is gone (held in memory), then on by itself: until it has ended
  const s = await until('web-2 to end', async () => {
    const r = await fleet.zddctl(['status', 'web-2', '--json']);
    const x = r.code === 0 ? parseJson(r) : undefined;
    return x && x.state !== 'running' && x.state !== 'paused' ? x : undefined;
  }, 90_000);
  t.is(s.state, 'succeeded', s.error);
  const messages = s.events.map((e: { message: string }) => e.message);
  t.true(messages.some((m: string) => expect.test(m)), `the rollout went on by itself: ${messages.join(' | ')}`);
  t.deepEqual(starts(fleet).map((n, i) => n - run.before[i]), [1, 1, 1], 'every host swapped exactly once');
  t.is(pg.staleWrites(), 0, 'no journal write without the current epoch');
  const stats = await run.gen.stop();
  t.is(stats.failed, 0, JSON.stringify(stats.failures));
  t.deepEqual(await versionsServed(fleet.nginxPort), new Set(['v2']));
}

test('PostgreSQL restarted mid-rollout: the operator is told why, the leader stops acting at once, and the rollout resumes from the journal by itself once PostgreSQL is back; no request fails', async (t) => {
  const { fleet, pg } = await haFleet(t);
  const run = await gatedRollout(t, fleet);
  await outage(t, fleet, pg, 3000);
  await finished(t, fleet, pg, run, /^interrupted: leadership moved to /);
  t.regex(fleet.log('coordinator'), /leadership lost/, 'the leader stepped down when its session was cut');
});
