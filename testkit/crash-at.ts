// Crash injection for the resume tests and benchmark, preloaded into a coordinator with
// `node --import` (LocalFleet.startCoordinator does it when asked for a crash point): it subscribes
// to the executor's step-boundary channel and SIGKILLs the process at ZDD_CRASH_AT=SEQ:before|after.
// The product itself carries no fault injection; without this module nothing listens.
import diagnostics_channel from 'node:diagnostics_channel';
import type { StepBoundary } from '../coordinator/executor.js';

const m = /^(\d+):(before|after)$/.exec(process.env.ZDD_CRASH_AT ?? '');
if (!m) throw new Error(`ZDD_CRASH_AT must be SEQ:before or SEQ:after, not "${process.env.ZDD_CRASH_AT ?? ''}"`);
const seq = Number(m[1]);
const when = m[2];

diagnostics_channel.subscribe('zdd:step-boundary', (message) => {
  const b = message as StepBoundary;
  if (b.seq !== seq || b.when !== when) return;
  process.stderr.write(`crash point ${seq}:${when} (${b.kind}) reached: killing the coordinator\n`);
  process.kill(process.pid, 'SIGKILL');
});
