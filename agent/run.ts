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

export function runBounded(argv: readonly string[], o: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<RunResult> {
  const began = Date.now();
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-KEEP);
    };
    const child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // whatever the command left running in its group goes with it
      killGroup();
      const why = timedOut ? `killed after ${o.timeoutMs}ms` : signal ? `killed by ${signal}` : code ? `exit status ${code}` : '';
      resolve({ ok: !why, why, output: output.trim(), ms: Date.now() - began });
    });
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
