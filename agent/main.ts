// zdd-agent entry point: parses flags into a frozen config and runs the agent (agent/agent.ts);
// with --edge it also drives nginx (agent/nginx/edge.ts).
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import net from 'node:net';
import { InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../lib/log.js';
import { errorMessage } from '../lib/errors.js';
import { EnvCommand } from '../lib/env-options.js';
import { Agent, AGENT_VERSION } from './agent.js';
import { createNginxEdge, luaModuleInstalled } from './nginx/edge.js';
import type { EdgeDriver } from './edge-driver.js';
import { agentStateLayout } from './state-layout.js';
import { AgentIdentity } from './identity.js';
import { join } from '../lib/join.js';
import { normalizeFingerprint } from '../lib/identity.js';
import { MAX_PORT_OFFSET } from '../lib/spec.js';

function parseLabels(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+)=([A-Za-z0-9_.-]*)$/.exec(part.trim());
    if (!m) throw new InvalidArgumentError(`"${part}" is not key=value`);
    out[m[1]] = m[2];
  }
  return out;
}

function parseIntArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

// Each flag also from ZDD_<FLAG> (ZDD_AGENT_ID for --id): the systemd unit's EnvironmentFile.
const program = new EnvCommand('zdd-agent', process.env, { id: 'ZDD_AGENT_ID' })
  .description('zdd host agent: supervises app instances and, with --edge, drives nginx')
  .version(AGENT_VERSION)
  .requiredOption('--coordinator <addr>', 'coordinator address (host:port), or several comma-separated (coordinators sharing PostgreSQL: the agent keeps a session to the leader)')
  .option('--id <id>', 'agent id, unique in the fleet', os.hostname())
  .option('--state-dir <dir>', 'where the agent keeps its state, logs and nginx files', '/var/lib/zdd-agent')
  .option('--labels <k=v,...>', 'labels that service specs select hosts by', parseLabels, {})
  .option('--releases-dir <dir>', 'where staged releases live (default: STATE_DIR/releases)')
  .option('--releases-root <dirs>', 'directories (comma-separated) that apps and hooks may run in, besides the staged releases; a spec workdir elsewhere is refused', (v) => v.split(',').map((x) => x.trim()).filter(Boolean), [])
  .option('--join <token>', 'first start: join the fleet with this one-time token (zddctl token create --agent ID); ignored once joined')
  .option('--ca-sha256 <fingerprint>', "the fleet CA's sha256, pinned when joining (zddctl token create prints it)")
  .option('--plaintext', 'talk to a coordinator that serves plaintext (--plaintext there): no TLS, no identity', false)
  .option('--advertise <addr>', 'address at which nginx reaches the apps on this host', '127.0.0.1')
  .option('--port-offset <n>', "added to every port of a spec (several agents on one machine)", parseIntArg, 0)
  .option('--edge', 'also drive nginx on this host', false)
  .addOption(new Option('--edge-mode <mode>', 'dynamic (Lua, no reload) or reload (plain nginx)').choices(['dynamic', 'reload']))
  .option('--nginx-admin <addr>', 'loopback address of the nginx admin endpoint', '127.0.0.1:9180')
  .option('--nginx-include-dir <dir>', 'manage the system nginx through this include directory instead of running a private nginx')
  .option('--nginx-bin <path>', 'nginx binary', 'nginx')
  .option('--nginx-modules <dir>', 'directory of nginx dynamic modules', '/usr/lib/nginx/modules')
  .option('--edge-access-log <file>', "dynamic mode: log each request with its upstream, status and timing ($msec $request_time $status $request_method $upstream_addr $upstream_status $upstream_header_time)")
  .option('--nginx-workers <n>', 'worker processes of a private nginx', parseIntArg, 2)
  .option('--stop-nginx', 'stop the private nginx when the agent stops (by default it keeps serving and the next agent adopts it)', false)
  .option('--log-level <level>', 'pino log level', 'info');

async function main() {
  program.parse();
  const o = program.opts();
  const baseLog = createLogger('zdd-agent', o.logLevel);
  let log = baseLog.child({ agentId: o.id });
  const stateDir = path.resolve(o.stateDir);
  fs.mkdirSync(stateDir, { recursive: true });
  if (!net.isIP(o.advertise)) {
    throw new Error(`--advertise ${o.advertise} must be an IP address: nginx's balancer connects to addresses, not names`);
  }
  if (!/^127\.\d+\.\d+\.\d+:\d+$|^\[::1\]:\d+$|^localhost:\d+$/.test(o.nginxAdmin)) {
    throw new Error(`--nginx-admin ${o.nginxAdmin} must be a loopback address: the admin endpoint moves traffic`);
  }
  if (o.portOffset < 0 || o.portOffset > MAX_PORT_OFFSET) throw new Error(`--port-offset must be from 0 to ${MAX_PORT_OFFSET}`);
  let identity: AgentIdentity | undefined;
  let id: string = o.id;
  if (o.plaintext) {
    log.warn({ coordinator: o.coordinator }, 'PLAINTEXT: no TLS; this agent runs whatever reaches it as its coordinator. Use only on loopback or a network you fully control.');
  } else {
    identity = AgentIdentity.load(stateDir);
    if (identity && o.caSha256 && normalizeFingerprint(o.caSha256) !== identity.caSha256) {
      throw new Error(`--ca-sha256 does not match the fleet CA this agent joined (${identity.caSha256}); to join another fleet, remove ${AgentIdentity.files(stateDir).dir} first`);
    }
    if (!identity) {
      if (!o.join || !o.caSha256) {
        throw new Error('this agent has not joined the fleet: start it once with --join TOKEN --ca-sha256 FINGERPRINT (zddctl token create --agent ID prints both), or with --plaintext for a plaintext coordinator');
      }
      const joined = await join(o.coordinator, o.join, o.caSha256, 'agent');
      identity = AgentIdentity.save(stateDir, joined);
      log.info({ agentId: identity.name, notAfter: new Date(identity.notAfterMs).toISOString() }, 'joined the fleet');
    } else if (o.join) log.info({ agentId: identity.name }, 'already joined; --join ignored');
    if (program.getOptionValueSource('id') !== 'default' && o.id !== identity.name) {
      throw new Error(`--id ${o.id} does not match this agent's certificate, which names ${identity.name}`);
    }
    id = identity.name;
  }
  let edge: EdgeDriver | undefined;
  if (o.edge) {
    const mode = o.edgeMode ?? (luaModuleInstalled(o.nginxModules) ? 'dynamic' : 'reload');
    if (mode === 'dynamic' && !luaModuleInstalled(o.nginxModules)) {
      throw new Error(`--edge-mode dynamic needs nginx's Lua module in ${o.nginxModules} (Debian: apt-get install libnginx-mod-http-lua lua-resty-core)`);
    }
    edge = createNginxEdge({
      mode,
      stateDir,
      adminListen: o.nginxAdmin,
      systemIncludeDir: o.nginxIncludeDir,
      nginxBin: o.nginxBin,
      modulesDir: o.nginxModules,
      workerProcesses: o.nginxWorkers,
      ...(o.edgeAccessLog ? { accessLog: path.resolve(o.edgeAccessLog) } : {}),
      log: log.child({ part: 'edge' }),
    });
    await edge.start();
  }
  log = baseLog.child({ agentId: id });
  const releasesDir = path.resolve(o.releasesDir ?? agentStateLayout(stateDir).releases);
  const agent = new Agent(
    Object.freeze({
      coordinator: o.coordinator,
      id,
      identity,
      releasesRoots: [releasesDir, ...o.releasesRoot.map((d: string) => path.resolve(d))],
      stateDir,
      labels: o.labels,
      advertise: o.advertise,
      portOffset: o.portOffset,
      releasesDir,
      log,
    }),
    edge,
  );
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    // Apps and nginx keep serving: a restart or an upgrade of the agent (systemd: KillMode=process)
    // must not cost a request, and the next agent adopts both. --stop-nginx stops a private nginx.
    log.info({ sig, nginx: edge && !o.stopNginx ? 'keeps running' : undefined }, 'agent stopping; app instances keep running');
    await agent.stop();
    if (o.stopNginx) await edge?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  log.info({ coordinator: o.coordinator, edge: edge?.mode ?? null, stateDir }, 'agent started');
  await agent.run();
}

main().catch((err) => {
  process.stderr.write(`zdd-agent: ${errorMessage(err)}\n`);
  process.exit(1);
});
