// How agents wait before dialling a coordinator again (lib/backoff.ts): within a second for about
// ten seconds, then growing to 5 s, each wait drawn from the upper half of its window.
import test from 'ava';
import { reconnectDelay, restartsBackoff } from '../lib/backoff.js';

test('agents redial within a second for about ten seconds, then back off to 5 s, spread over the upper half of each window', (t) => {
  const low = (a: number) => reconnectDelay(a, () => 0);
  const high = (a: number) => reconnectDelay(a, () => 1);
  t.deepEqual([0, 1, 2, 3, 4].map(high), [200, 400, 800, 1000, 1000]);
  // a coordinator that restarts in ten seconds finds every agent redialling within a second
  const fast = [...Array(15).keys()];
  t.true(fast.every((a) => high(a) <= 1000));
  const waited = fast.reduce((ms, a) => ms + low(a), 0);
  t.is(waited, 6700, "the fast tries last 6.7 s at the least (13.4 s at the most)");
  // then the window doubles to 5 s and stays there
  t.deepEqual([15, 16, 17, 18, 40].map(high), [2000, 4000, 5000, 5000, 5000]);
  // equal jitter: never below half the window
  t.deepEqual([0, 3, 15, 17].map(low), [100, 500, 1000, 2500]);
});

test('the backoff starts again after a session a new leader welcomed and kept for a second, so leaders that change every few seconds are found within a second each time; within one term only 5 s sessions count', (t) => {
  // the failover benchmark: each new leader killed about 3 s after it welcomed the agent; counting
  // only 5 s sessions, takeovers grew from 1 s to 5 s over a dozen rounds
  t.true(restartsBackoff({ lastedMs: 3000, welcomedForMs: 2500, newLeader: true }), 'a new leader, kept for 2.5 s');
  t.true(restartsBackoff({ lastedMs: 1200, welcomedForMs: 1000, newLeader: true }), 'a second after its welcome is enough');
  t.false(restartsBackoff({ lastedMs: 1200, welcomedForMs: 999, newLeader: true }), 'cut within the second: no hot loop');
  t.false(restartsBackoff({ lastedMs: 3000, newLeader: true }), 'never welcomed (a standby, a refused dial): the backoff goes on growing');
  // the same term (an overloaded coordinator dropping sessions, two agents with one identity, or
  // SQLite, whose epoch is always 0): only the 5 s rule, as before
  t.false(restartsBackoff({ lastedMs: 4000, welcomedForMs: 3500, newLeader: false }));
  t.false(restartsBackoff({ lastedMs: 5000, welcomedForMs: 4900 }));
  t.true(restartsBackoff({ lastedMs: 5001 }), 'any session of more than 5 s, as before');
});
