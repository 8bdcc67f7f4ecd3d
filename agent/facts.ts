// Host facts for hello and heartbeats, from systeminformation.
import os from 'node:os';
import si from 'systeminformation';
import type { HostFacts } from '../proto/gen/zdd/v1/HostFacts.js';

let staticFacts: { hostname: string; cores: number } | undefined;

export async function hostFacts(): Promise<HostFacts> {
  if (!staticFacts) {
    const [osInfo, cpu] = await Promise.all([si.osInfo(), si.cpu()]);
    staticFacts = { hostname: osInfo.hostname || os.hostname(), cores: cpu.cores || os.cpus().length };
  }
  const [load, mem] = await Promise.all([si.currentLoad(), si.mem()]);
  return {
    hostname: staticFacts.hostname,
    cores: staticFacts.cores,
    load_pct: Math.round(load.currentLoad * 10) / 10,
    load_avg_1m: load.avgLoad ?? os.loadavg()[0],
    mem_total_bytes: mem.total,
    mem_available_bytes: mem.available,
  };
}
