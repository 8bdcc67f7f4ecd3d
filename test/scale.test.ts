// A fleet of 1,000 simulated agents (testkit/sim-fleet.ts: the real protocol over mutual TLS,
// every command checked against the agent's own schemas and run once per command id) on a real
// coordinator and SQLite file. The coordinator is SIGKILLed in the middle of a 100-host phase:
// the rollout resumes, and every host swaps exactly once. The control API answers in pages.
import test from 'ava';
import { LocalFleet } from '../testkit/local-fleet.js';
import { SIM_SPEC, SimFleet } from '../testkit/sim-fleet.js';
import { parseJson } from './support/fleet.js';
import { acquireFleetSlot } from '../testkit/fleet-slots.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const N = 1000;
const SPEC = SIM_SPEC;

test('1,000 hosts: the coordinator killed in the middle of a 100-host phase resumes, every host swaps exactly once, and no reply holds the whole rollout', async (t) => {
  // a thousand TLS sessions in this process and their coordinator are the machine's whole worth:
  // every fleet slot, so no other fleet runs beside it (beside the resume tests on CI, its
  // coordinator restart took longer than a fleet's 15 s to answer)
  const release = await acquireFleetSlot(t.title, Infinity);
  t.teardown(release);
  t.timeout(15 * 60_000);
  // 1 s heartbeats, stretched to 5 s (5 ms per agent) as the fleet grows to 1,000. A restart,
  // with 1,000 agents dialling it again at once, took about 5 s to answer here, quiet: it is given a minute.
  const fleet = await LocalFleet.start({ agents: 0, logLevel: 'warn', coordinatorReadyMs: 60_000, coordinatorArgs: ['--heartbeat-ms', '1000', '--host-grace', '10m', '--resume-wait-ms', '60000'] });
  const sims = new SimFleet(fleet.coordinatorAddr, fleet.credentials());
  const c = fleet.client();
  try {
    await sims.add({ prefix: 'edge-', first: 0, count: 1, edge: true, labels: { role: 'edge' } });
    await sims.add({ prefix: 'sim-', first: 1, count: N, labels: { role: 'web' } });
    await sims.allWelcomed(600_000);
    // the first agents were told 1 s when they joined an empty coordinator; as the fleet grew they
    // were told again: every agent now heartbeats about every 5 s
    let told: [number, number] = [0, 0];
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(1000)) {
      told = await sims.heartbeats();
      if (told[0] >= 3750 && told[1] <= 6250) break;
    }
    t.true(told[0] >= 3750 && told[1] <= 6250, `heartbeat intervals told: ${told[0]}–${told[1]} ms, expected about 5,000 for 1,001 agents`);
    await c.call('ApplyService', { spec_json: JSON.stringify(SPEC) });
    const settled = async (client: typeof c, id: string, timeoutMs: number) => {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(250)) {
        const r = await client.call('GetRollout', { id, summary_only: true }).catch(() => undefined);
        if (r && r.state !== 'running') return r;
      }
      throw new Error(`${id} still running after ${timeoutMs} ms`);
    };
    const first = await c.call('StartRollout', { service: 'app', version: 'v1', batch: '100%' });
    t.is((await settled(c, first.id, 300_000)).state, 'succeeded');

    // the 50th start of batch 2 (hosts 101-200): half the phase's commands are out when it dies
    const plan = parseJson(await fleet.zddctl(['plan', 'app', '--version', 'v2', '--batch', '10%', '--json']));
    t.is(plan.batchCount, 10);
    t.true(plan.traffic.every((d: { backendCount?: number; backends?: unknown[] }) => !d.backends && d.backendCount === N), 'a plan of 1,000 hosts shows each batch as shares, not a document');
    const starts2 = plan.steps.filter((s: { kind: string; batch: number }) => s.kind === 'start' && s.batch === 2);
    t.is(starts2.length, 100);
    const crashAt = starts2[49].seq;
    c.close();
    await fleet.stopCoordinator('SIGTERM');
    let t0 = Date.now();
    await fleet.startCoordinator({ ZDD_CRASH_AT: `${crashAt}:before` });
    t.log(`the restarted coordinator answered after ${Date.now() - t0} ms`);
    await sims.allWelcomed(120_000);
    const exited = fleet.coordinatorExited(300_000);
    const r = await fleet.zddctl(['rollout', 'app', '--version', 'v2', '--batch', '10%', '--detach']);
    t.is(r.code, 0, r.stderr);
    await exited;
    t0 = Date.now();
    await fleet.startCoordinator();
    t.log(`restarted after the crash, it answered after ${Date.now() - t0} ms`);
    const c2 = fleet.client();
    try {
      const end = await settled(c2, 'app-2', 600_000);
      t.is(end.state, 'succeeded', end.error || end.pause_reason);
      t.is(end.summary.hosts_started, N);
      t.true(end.resumed_at_ms.length >= 1, 'the rollout was resumed after the kill');
      // every host ran the new version's start once: re-sent commands were answered from the agents' records
      const starts = await sims.starts('app-2');
      const wrong = Object.entries(starts).filter(([id, n]) => id.startsWith('sim-') && n !== 1);
      t.deepEqual(wrong, [], 'hosts that did not swap exactly once');
      t.is(Object.keys(starts).filter((id) => id.startsWith('sim-')).length, N);
      t.deepEqual(await sims.invalid(), [], "commands the agents' schemas refused");
      // the traffic is all on v2, shown as shares at this size
      const traffic = JSON.parse(end.traffic_json);
      t.is(traffic.backendCount, N);
      t.deepEqual(traffic.shares.map((x: { version: string }) => x.version), ['v2']);

      // replies are pages: the default status holds 1,000 of the rollout's steps and says where the next page starts
      const full = await c2.call('GetRollout', { id: 'app-2' });
      t.is(full.steps.length, 1000);
      t.true(full.summary.steps > 2000, `${full.summary.steps} steps in all`);
      t.true(full.next_step > 0);
      let seen = full.steps.length;
      for (let after = full.next_step; after; ) {
        const p = await c2.call('GetRollout', { id: 'app-2', steps_after: after, max_steps: 5000 });
        seen += p.steps.length;
        after = p.next_step;
      }
      t.is(seen, full.summary.steps, 'paging through the steps finds each once');
      t.true(Buffer.byteLength(JSON.stringify(full)) < 4 * 1024 * 1024);
      const agents = await c2.call('ListAgents', {});
      t.is(agents.agents.length, 1000);
      t.is(agents.total, N + 1);
      t.truthy(agents.next_page_token);
      // the human views stay short
      const status = await fleet.zddctl(['status', 'app-2']);
      t.is(status.code, 0, status.stderr);
      t.regex(status.stdout, /hosts +1000: 1000 on v2/);
      t.true(status.stdout.split('\n').length < 60, status.stdout);
      const list = await fleet.zddctl(['agents']);
      t.regex(list.stdout, /1001 agents: 1001 connected/);
    } finally {
      c2.close();
    }
  } finally {
    c.close();
    await sims.stop();
    await fleet.stop();
  }
});
