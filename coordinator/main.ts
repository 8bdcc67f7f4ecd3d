// zdd-coordinator entry point: flags → frozen config → startCoordinator (coordinator/server.ts).
import { createLogger } from '../lib/log.js';
import { ZddError, errorMessage } from '../lib/errors.js';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { EnvCommand } from '../lib/env-options.js';
import { parseLifetime } from '../lib/duration.js';
import { COORDINATOR_VERSION, startCoordinator } from './server.js';

function lifetime(v: string): number {
  const ms = parseLifetime(v);
  if (ms === undefined || ms < 10_000) throw new InvalidArgumentError('expected a lifetime such as 30d, 12h or 10m (at least 10s)');
  return ms;
}

// Each flag also from ZDD_<FLAG>: the systemd unit's EnvironmentFile.
const program = new EnvCommand('zdd-coordinator', process.env)
  .description('zdd coordinator: knows agents and services, plans and runs rollouts, journals them in SQLite (or PostgreSQL, with standbys)')
  .version(COORDINATOR_VERSION)
  .option('--listen <addr>', 'gRPC address for agents and zddctl', '127.0.0.1:7700')
  .option('--db <file>', 'SQLite database file', '/var/lib/zdd-coordinator/zdd.db')
  .option('--store <url>', 'the journal on PostgreSQL instead (postgres://USER:PASSWORD@HOST/DB): coordinators sharing it elect a leader, the others wait as standbys')
  .option('--lease <duration>', 'with --store: the leader\'s lease; a standby takes over this long after a leader stops renewing it (longer rides through a slower PostgreSQL failover without a change of leader)', (v) => {
    const ms = parseLifetime(v);
    if (ms === undefined || ms < 2000) throw new InvalidArgumentError('expected a duration such as 5s or 30s (at least 2s)');
    return ms;
  }, 5000)
  .option('--advertise <addr>', 'the address agents and zddctl reach this coordinator at, when not --listen (standbys tell it as the leader\'s)')
  .option('--pki-dir <dir>', "the fleet CA, the coordinator's certificate and the local admin's zddctl config (default: DB's directory/pki)")
  .option('--tls-san <names>', 'more DNS names or IP addresses for the server certificate, comma-separated', (v) => v.split(',').map((x) => x.trim()).filter(Boolean), [])
  .option('--agent-cert-ttl <lifetime>', "lifetime of agents' certificates (renewed over the session when a third is left)", lifetime, 30 * 86_400_000)
  .option('--operator-cert-ttl <lifetime>', "lifetime of operators' certificates", lifetime, 30 * 86_400_000)
  .option('--plaintext', 'serve plaintext gRPC with no authentication (loopback only, unless --insecure too)', false)
  .option('--insecure', 'serve plaintext on a non-loopback address (implies --plaintext)', false)
  .option('--heartbeat-ms <n>', 'agent heartbeat interval', (v) => Number(v), 5000)
  .option('--agent-grace-ms <n>', 'how long a step waits for its disconnected agent before the rollout pauses', (v) => Number(v), 30_000)
  .option('--host-grace <lifetime>', 'how long an agent may be gone before its host leaves the pool (taken out of traffic)', (v) => {
    const ms = parseLifetime(v);
    if (ms === undefined || ms < 1000) throw new InvalidArgumentError('expected a duration such as 10s or 2m (at least 1s)');
    return ms;
  }, 20_000)
  .option('--resume-wait-ms <n>', 'after a restart, how long to wait for agents before resuming rollouts', (v) => Number(v), 10_000)
  .option('--metrics-listen <addr>', 'serve Prometheus metrics at https://ADDR/metrics to operators\' certificates (a bare port: loopback); off by default')
  .option('--log-level <level>', 'pino log level', 'info');

async function main() {
  program.parse();
  const o = program.opts();
  const log = createLogger('zdd-coordinator', o.logLevel);
  const c = await startCoordinator(
    Object.freeze({
      listen: o.listen,
      advertise: o.advertise,
      db: o.db,
      store: o.store,
      leaseMs: o.lease,
      // --insecure alone means plaintext too: it is what a plaintext coordinator on a network needed before TLS existed
      plaintext: o.plaintext || o.insecure,
      insecure: o.insecure,
      pkiDir: path.resolve(o.pkiDir ?? path.join(path.dirname(path.resolve(o.db)), 'pki')),
      tlsSans: o.tlsSan,
      agentCertTtlMs: o.agentCertTtl,
      operatorCertTtlMs: o.operatorCertTtl,
      heartbeatMs: o.heartbeatMs,
      agentGraceMs: o.agentGraceMs,
      hostGraceMs: o.hostGrace,
      resumeWaitMs: o.resumeWaitMs,
      metricsListen: o.metricsListen,
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
