// Runs an operator's command (a hook, a release's prepare step, a verification) with a time limit:
// in its own process group, so a timeout kills the shell and everything it started; output kept
// (the last 4 KB) for the rollout's events.
import { spawn } from 'node:child_process';

export interface RunResult {
  ok: boolean;
  /** why it failed: "exit status 3", "killed after 5000ms", "cannot start: …" */
  why: string;
  output: string;
  ms: number;
}

const KEEP = 4096;

export function runBounded(
  argv: readonly string[],
  o: { cwd: string; env: Record<string, string>; timeoutMs: number; onSpawn?: (pid: number) => void },
): Promise<RunResult> {
  const began = Date.now();
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-KEEP);
    };
    const child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, why: `cannot start ${argv[0]}: ${err.message}`, output, ms: Date.now() - began });
    });
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // whatever the command left running in its group goes with it, and so do the pipes it held
      killGroup();
      child.stdout.destroy();
      child.stderr.destroy();
      const why = timedOut ? `killed after ${o.timeoutMs}ms` : signal ? `killed by ${signal}` : code ? `exit status ${code}` : '';
      resolve({ ok: !why, why, output: output.trim(), ms: Date.now() - began });
    };
    // on exit, not on close: a background child that keeps the output open must not hold the result
    child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), 100));
    child.once('close', (code, signal) => finish(code, signal));
  });
}

/** The base environment of an operator's command: PATH and HOME of the agent, then the caller's variables. */
export function commandEnv(vars: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...vars,
  };
}
