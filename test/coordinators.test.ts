// Which coordinator an agent dials next when several share one PostgreSQL (agent/coordinators.ts).
import test from 'ava';
import { CoordinatorRotation, UNRESPONSIVE_MS } from '../agent/coordinators.js';

const A = '127.0.0.1:17900';
const B = '127.0.0.1:17910';
const C = '127.0.0.1:17920';

test('a frozen leader, still named by the standby about to take over, is passed over: the agent waits at the standby instead of at the frozen process', (t) => {
  // what a fresh machine's failover test showed: host-3 reached the leader A through B's hint;
  // A froze; B, not yet leading, named A again; the agent followed, waited 15 s for A's welcome,
  // then (its list index still at B) dialled A a second time, and its host left the pool
  let now = 0;
  const r = new CoordinatorRotation([A, B], () => now);
  t.is(r.current(), A);
  t.false(r.ended(A, { unresponsive: false }), 'A not yet listening');
  t.is(r.current(), B);
  t.true(r.ended(B, { hinted: A }), 'B is a standby and names the leader: followed');
  t.is(r.current(), A);
  r.answered(A);
  now = 10_000;
  t.false(r.ended(A, { unresponsive: true }), 'A stopped answering heartbeats');
  t.is(r.current(), B, 'the other coordinator next');
  t.false(r.ended(B, { hinted: A }), 'B still names A: not followed while A is silent');
  t.is(r.current(), B, 'B again (after the backoff): it is about to lead');
  t.false(r.ended(B, { hinted: A }));
  t.is(r.current(), B);
  r.answered(B);
  // B leads now; when B's session ends, A (silent 15 s ago) may be dialled again
  now += UNRESPONSIVE_MS;
  t.false(r.ended(B));
  t.is(r.current(), A);
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
