// The agent's state directory, named in one place: the agent writes it, and `zddctl uninstall`,
// the test kit and the benchmarks read it.
import fs from 'node:fs';
import path from 'node:path';
import { processStartTicks } from '../lib/proc.js';

export interface AgentStateLayout {
  dir: string;
  /** the supervised instances (supervisor.ts) */
  instances: string;
  /** recent command results by command id (command-log.ts) */
  commands: string;
  /** the latest leader epoch seen (coordinators sharing PostgreSQL): an older leader is refused */
  epoch: string;
  /** staged releases, unless --releases-dir says otherwise */
  releases: string;
  /** an edge agent's private nginx: its prefix and pid file */
  nginxPrefix: string;
  nginxPidFile: string;
}

export function agentStateLayout(stateDir: string): AgentStateLayout {
  const nginxPrefix = path.join(stateDir, 'edge', 'nginx');
  return Object.freeze({
    dir: stateDir,
    instances: path.join(stateDir, 'instances.json'),
    commands: path.join(stateDir, 'commands.json'),
    epoch: path.join(stateDir, 'epoch'),
    releases: path.join(stateDir, 'releases'),
    nginxPrefix,
    nginxPidFile: path.join(nginxPrefix, 'nginx.pid'),
  });
}

/**
 * The nginx master a pid file names, only while that pid still is an nginx (a stale pid file's pid
 * may now be another program) and, when `prefix` is given, one started with that prefix.
 */
export function nginxMasterPid(pidFile: string, prefix?: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || processStartTicks(pid) === undefined) return undefined;
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes('nginx') || (prefix !== undefined && !cmd.includes(prefix))) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}
