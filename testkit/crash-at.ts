// Crash injection for the resume and failover tests and benchmarks, preloaded into a coordinator
// with `node --import` (LocalFleet.startCoordinator does it when asked for a crash point): it
// subscribes to the executor's step-boundary channel and SIGKILLs the process at a step boundary.
// The product itself carries no fault injection; without this module nothing listens.
//   ZDD_CRASH_AT=SEQ:before|after    the point, for this process's life
//   ZDD_CRASH_AT_FILE=FILE           the point is read from FILE ("ROUND SEQ:before|after") at every
//                                    boundary, and kills one process per round: the first to reach
//                                    it creates FILE.fired-ROUND. Coordinators sharing PostgreSQL all
//                                    carry it, and the leader, whichever it is, dies there.
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import type { StepBoundary } from '../coordinator/executor.js';

const POINT = /^(\d+):(before|after)$/;
const file = process.env.ZDD_CRASH_AT_FILE;
if (!file && !POINT.test(process.env.ZDD_CRASH_AT ?? '')) throw new Error(`ZDD_CRASH_AT must be SEQ:before or SEQ:after, not "${process.env.ZDD_CRASH_AT ?? ''}"`);

/** The point now, and the marker that makes it fire once (file mode). */
function point(): { seq: number; when: string; marker?: string } | undefined {
  let text = process.env.ZDD_CRASH_AT ?? '';
  let marker: string | undefined;
  if (file) {
    let round = '';
    try {
      [round, text] = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
    } catch {
      return undefined;
    }
    marker = `${file}.fired-${round}`;
  }
  const m = POINT.exec(text ?? '');
  return m ? { seq: Number(m[1]), when: m[2], marker } : undefined;
}

diagnostics_channel.subscribe('zdd:step-boundary', (message) => {
  const b = message as StepBoundary;
  const p = point();
  if (!p || b.seq !== p.seq || b.when !== p.when) return;
  if (p.marker) {
    try {
      fs.writeFileSync(p.marker, String(process.pid), { flag: 'wx' });
    } catch {
      return; // another process died here already
    }
  }
  process.stderr.write(`crash point ${p.seq}:${p.when} (${b.kind}) reached: killing the coordinator\n`);
  process.kill(process.pid, 'SIGKILL');
});
