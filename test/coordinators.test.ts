// Which coordinator an agent dials next when several share one PostgreSQL (agent/coordinators.ts).
import test from 'ava';
import { CoordinatorRotation, UNRESPONSIVE_MS } from '../agent/coordinators.js';

const A = '127.0.0.1:17900';
const B = '127.0.0.1:17910';
const C = '127.0.0.1:17920';

test('a frozen leader, still named by the standby about to take over, is passed over: the agent waits at the standby instead of at the frozen process', (t) => {
  // what a fresh machine's failover test showed: host-3 left the frozen leader A for B; B, not yet
  // leading, named A; the agent followed, waited 15 s for A's welcome, then (its list index still
  // at B) dialled A a second time, and its host left the pool
  let now = 0;
  const r = new CoordinatorRotation([A, B], () => now);
  t.is(r.current(), A);
  r.answered(A, { leaseMs: 5000 });
  now = 10_000;
  t.false(r.ended(A, { unresponsive: true }), 'A stopped answering heartbeats');
  t.is(r.current(), B, 'the other coordinator next');
  t.false(r.ended(B, { hinted: A }), 'B still names A: not followed while A is silent');
  t.is(r.current(), B, 'B again (after the backoff): it is about to lead');
  now += 3000;
  t.false(r.ended(B, { hinted: A }));
  t.is(r.current(), B);
  r.answered(B);
  // B leads; when its session ends, A (silent 15 s ago) is in the list again
  now = 10_000 + UNRESPONSIVE_MS;
  t.false(r.ended(B));
  t.is(r.current(), A);
});

test('a leader that was only slow is followed again once a standby still names it a lease later (it renewed its lease, so it lives)', (t) => {
  let now = 0;
  const r = new CoordinatorRotation([A, B], () => now);
  r.answered(A, { leaseMs: 2000 });
  t.false(r.ended(A, { unresponsive: true }));
  t.false(r.ended(B, { hinted: A }), 'within the lease: the standby may be about to lead');
  now = 3100;
  t.true(r.ended(B, { hinted: A }), 'past the lease (and the standby\'s poll): A renewed, so A leads');
  t.is(r.current(), A);
});

test('a coordinator that advertises another name than the list gives is passed over under both', (t) => {
  let now = 0;
  const r = new CoordinatorRotation(['10.0.0.1:7700', '10.0.0.2:7700'], () => now);
  r.answered('10.0.0.1:7700', { advertise: 'coord-1:7700', leaseMs: 5000 });
  t.false(r.ended('10.0.0.1:7700', { unresponsive: true }));
  t.is(r.current(), '10.0.0.2:7700');
  t.false(r.ended('10.0.0.2:7700', { hinted: 'coord-1:7700' }), 'the standby names the silent one by its advertised name: not followed');
  t.is(r.current(), '10.0.0.2:7700');
  // and a session reached through that name goes on in the list after the entry it stands for
  now = 20_000;
  t.true(r.ended('10.0.0.2:7700', { hinted: 'coord-1:7700' }));
  r.answered('coord-1:7700', { advertise: 'coord-1:7700' });
  t.false(r.ended('coord-1:7700'));
  t.is(r.current(), '10.0.0.2:7700');
});

test('after a followed hint the list goes on from the leader dialled, not from the standby that named it', (t) => {
  const r = new CoordinatorRotation([A, B, C]);
  t.true(r.ended(A, { hinted: C }));
  t.is(r.current(), C);
  t.false(r.ended(C), 'the leader C went away');
  t.is(r.current(), A, 'the next after C, wrapping');
});

test('standbys naming each other are followed twice in a row at most', (t) => {
  const r = new CoordinatorRotation([A, B, C]);
  t.true(r.ended(A, { hinted: B }));
  t.true(r.ended(B, { hinted: A }));
  t.false(r.ended(A, { hinted: B }), 'the third hint in a row is not followed');
  t.is(r.current(), B, 'the list goes on after A');
  // a welcome starts the count again: a leader reached through two hints that later steps down
  // still has its standby's hint followed
  t.true(r.ended(B, { hinted: C }));
  t.true(r.ended(C, { hinted: A }));
  r.answered(A);
  t.true(r.ended(A, { hinted: B }));
});

test('when every coordinator is silent the list order decides, and one coordinator is always dialled again', (t) => {
  const now = 0;
  const r = new CoordinatorRotation([A, B], () => now);
  r.ended(A, { unresponsive: true });
  t.is(r.current(), B);
  r.ended(B, { unresponsive: true });
  t.is(r.current(), A, 'both silent: the next in the list');
  const one = new CoordinatorRotation([A], () => now);
  one.ended(A, { unresponsive: true });
  t.is(one.current(), A);
});
