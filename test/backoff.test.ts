// How agents wait before dialling a coordinator again (lib/backoff.ts): within a second for about
// ten seconds, then growing to 5 s, each wait drawn from the upper half of its window.
import test from 'ava';
import { reconnectDelay } from '../lib/backoff.js';

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
