// zdd-coordinator entry point: flags → frozen config → startCoordinator (coordinator/server.ts).
import { createLogger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import { EnvCommand } from '../lib/env-options.js';
import { COORDINATOR_VERSION, startCoordinator } from './server.js';

// Each flag also from ZDD_<FLAG>: the systemd unit's EnvironmentFile.
const program = new EnvCommand('zdd-coordinator', process.env)
  .description('zdd coordinator: knows agents and services, plans and runs rollouts, journals them in SQLite')
  .version(COORDINATOR_VERSION)
  .option('--listen <addr>', 'gRPC address for agents and zddctl', '127.0.0.1:7700')
  .option('--db <file>', 'SQLite database file', '/var/lib/zdd-coordinator/zdd.db')
  .option('--insecure', 'allow plaintext gRPC on a non-loopback address', false)
  .option('--heartbeat-ms <n>', 'agent heartbeat interval', (v) => Number(v), 5000)
  .option('--agent-grace-ms <n>', 'how long a step waits for its disconnected agent before the rollout pauses', (v) => Number(v), 30_000)
  .option('--resume-wait-ms <n>', 'after a restart, how long to wait for agents before resuming rollouts', (v) => Number(v), 10_000)
  .option('--log-level <level>', 'pino log level', 'info');

async function main() {
  program.parse();
  const o = program.opts();
  const log = createLogger('zdd-coordinator', o.logLevel);
  const c = await startCoordinator(
    Object.freeze({
      listen: o.listen,
      db: o.db,
      insecure: o.insecure,
      heartbeatMs: o.heartbeatMs,
      agentGraceMs: o.agentGraceMs,
      resumeWaitMs: o.resumeWaitMs,
      log,
    }),
  );
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'coordinator stopping');
    await c.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`zdd-coordinator: ${errorMessage(err)}\n`);
  if (err instanceof ZddError && err.hint) process.stderr.write(`  ${err.hint}\n`);
  process.exit(1);
});
