// The multi-host end-to-end run (e2e/hosts.ts) as a test: network namespaces on a private bridge
// stand in for an edge, four app hosts and a client. It needs root and the ip command; without them
// the test is registered as skipped, the reason in its name.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/paths.js';
import { acquireFleetSlot } from '../testkit/fleet-slots.js';

const canCreateNamespaces = process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;

if (canCreateNamespaces) {
  test('a rolling rollout across four hosts with real addresses, artifacts staged over HTTP from the edge and hooks, fails no request and leaves nothing behind', async (t) => {
    // six hosts' worth of processes: the whole machine's fleet slots, so it runs alone
    const release = await acquireFleetSlot(t.title, Infinity);
    t.teardown(release);
    t.timeout(240_000);
    // a prefix of this test's own, so that what is left behind can be told from other runs'
    const prefix = `zdd-test-${process.pid}`;
    const args = [path.join(ROOT, 'dist/e2e/hosts.js'), '--prefix', prefix];
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      child.on('close', (code) => resolve({ code: code ?? 1, out }));
    });
    const lines = r.out.trim().split('\n');
    t.is(r.code, 0, lines.slice(-40).join('\n'));
    const m = /^(\d+) requests, (\d+) failed$/.exec(lines.at(-1) ?? '');
    t.truthy(m, `last line: ${lines.at(-1)}`);
    t.true(Number(m?.[1]) > 0, 'no request was sent');
    t.is(Number(m?.[2]), 0, lines.slice(-10).join('\n'));
    const bridge = /bridge (zdd[a-z0-9]{4})/.exec(r.out)?.[1];
    t.truthy(bridge, 'the run names its bridge');
    t.false(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(prefix), 'a namespace of the run is left');
    const links = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    t.false(new RegExp(`: ${bridge}[@:]`).test(links), `the bridge ${bridge} is left`);
    t.false(new RegExp(`: z${bridge?.slice(3)}\\d+[@:]`).test(links), 'a veth of the run is left');
  });
} else {
  test.skip('multi-host e2e over network namespaces (skipped: needs root and the ip command to create network namespaces)', () => {});
}
