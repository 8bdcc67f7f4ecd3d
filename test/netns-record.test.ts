// What the sweep of dead e2e runs accepts from a record (e2e/netns-record.ts), and when a run adds
// an iptables rule for its bridge (e2e/bridge-forward.ts). Pure code: no namespace is created.
import test from 'ava';
import os from 'node:os';
import path from 'node:path';
import { acceptRule, planForward } from '../e2e/bridge-forward.js';
import { parseRecord, RecordInvalid } from '../e2e/netns-record.js';

const good = {
  id: 'ab12',
  owner: 4242,
  ownerTicks: 99,
  subnet: '10.231.7.0/24',
  bridge: 'zddab12',
  namespaces: ['zdd-e2e-ab12-edge', 'zdd-e2e-ab12-app1'],
  veths: ['zab120', 'zab121'],
  forwardRule: true,
  runDir: path.join(os.tmpdir(), 'zdd-e2e-hosts-Ab3xY9'),
};
const parse = (r: object, file = 'ab12.json') => parseRecord(file, JSON.stringify(r));

test('a record as create() writes it is accepted, as is the claim of an id', (t) => {
  t.deepEqual(parse(good), good);
  t.is(parse({ id: 'ab12', owner: 1, subnet: '', bridge: 'zddab12', namespaces: [], veths: [] }).id, 'ab12');
});

test('a record naming links or namespaces create() would not make is refused', (t) => {
  for (const bad of [
    { bridge: 'docker0' },
    { bridge: 'zddzz99' },
    { namespaces: ['wg0', 'zdd-e2e-ab12-app1'] },
    { namespaces: ['zdd-e2e-cd34-edge', 'zdd-e2e-ab12-app1'] },
    { namespaces: ['../../etc-ab12-x', 'zdd-e2e-ab12-app1'] },
    { veths: ['wg0', 'zab121'] },
    { veths: ['zab121', 'zab120'] },
    { veths: ['zab120'] },
    { subnet: '192.168.1.0/24' },
    { owner: -1 },
    { extra: 'field' },
  ]) {
    t.throws(() => parse({ ...good, ...bad }), { instanceOf: RecordInvalid }, JSON.stringify(bad));
  }
});

test('an id that is not four letters or digits, or a file not named for it, is refused', (t) => {
  t.throws(() => parse({ ...good, id: '../x', bridge: 'zdd../x' }, '../x.json'), { instanceOf: RecordInvalid });
  t.throws(() => parse(good, 'cd34.json'), { instanceOf: RecordInvalid });
  t.throws(() => parseRecord('ab12.json', '{"id":'), { instanceOf: RecordInvalid });
});

test('a run directory outside the temporary directory or not named zdd-… is refused', (t) => {
  for (const runDir of ['/', '/etc', os.tmpdir(), path.join(os.tmpdir(), 'other-Ab3xY9'), path.join(os.tmpdir(), 'zdd-e2e-hosts-Ab3xY9', '..'), 'zdd-e2e-hosts-Ab3xY9']) {
    t.throws(() => parse({ ...good, runDir }), { instanceOf: RecordInvalid }, runDir);
  }
});

test('bridged traffic bypassing iptables, or FORWARD accepting everything, needs no rule', (t) => {
  t.is(planForward(undefined, '-P FORWARD DROP\n').kind, 'none');
  t.is(planForward('0\n', '-P FORWARD DROP\n').kind, 'none');
  t.is(planForward('1\n', undefined).kind, 'none');
  t.is(planForward('1\n', '-P FORWARD ACCEPT\n').kind, 'none');
});

test('bridged traffic through a FORWARD that drops, by policy or by a rule, gets an ACCEPT for the bridge', (t) => {
  const docker = '-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-FORWARD\n';
  t.deepEqual(planForward('1\n', docker), { kind: 'accept', why: 'bridged traffic goes through iptables FORWARD (policy DROP, 2 rules)' });
  t.is(planForward('1\n', '-P FORWARD ACCEPT\n-A FORWARD -j REJECT\n').kind, 'accept');
  t.deepEqual(acceptRule('zddab12'), ['FORWARD', '-i', 'zddab12', '-o', 'zddab12', '-j', 'ACCEPT']);
});
