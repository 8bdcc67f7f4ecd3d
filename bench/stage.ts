// The staging benchmark: a release artifact of a given size, served over HTTP on loopback, staged
// on every host of a 4-host fleet before a rolling rollout, at several staging concurrencies.
// Reports how long the staging phase took (first stage step started to last one ended) and the
// whole rollout, so the cost of staging ahead of the batches is visible.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { LocalFleet } from '../testkit/local-fleet.js';
import { Client } from '../cli/client.js';

export interface StageOptions {
  hosts: number;
  sizeMb: number;
  concurrencies: number[];
  log: (s: string) => void;
}

export interface StageResult {
  scenario: 'stage';
  hosts: number;
  artifact_mb: number;
  concurrency: number;
  stage_ms: number;
  rollout_ms: number;
  mb_per_s: number;
}

export async function stage(o: StageOptions): Promise<StageResult[]> {
  const fleet = await LocalFleet.start({ agents: o.hosts, logLevel: 'warn' });
  const server = http.createServer((req, res) => {
    const file = path.join(fleet.dir, path.basename(req.url ?? ''));
    if (!fs.existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client = fleet.client();
  try {
    // a release of the sample app plus incompressible assets of the given size
    const pack = (v: string) => {
      const dir = fleet.writeRelease(v);
      fs.writeFileSync(path.join(dir, 'assets.bin'), crypto.randomBytes(o.sizeMb << 20));
      const file = path.join(fleet.dir, `web-${v}.tar.gz`);
      if (spawnSync('tar', ['-czf', file, '-C', dir, '.']).status !== 0) throw new Error('tar failed');
      fs.rmSync(path.join(dir, 'assets.bin'));
      return { url: `http://127.0.0.1:${port}/web-${v}.tar.gz`, sha256: crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') };
    };
    const spec = fleet.spec({ release: { keep: 2 } });
    delete spec.workdir;
    await fleet.apply(spec);
    const results: StageResult[] = [];
    let n = 0;
    for (const concurrency of [0, ...o.concurrencies]) {
      const v = `v${++n}`;
      const a = pack(v);
      const began = Date.now();
      const r = await client.call('StartRollout', { service: 'web', version: v, strategy: 'rolling', batch: n === 1 ? '100%' : '1', artifact: a.url, sha256: a.sha256, stage_concurrency: Math.max(1, concurrency) });
      const final = await client.watch(r.id, () => undefined);
      if (final.state !== 'succeeded') throw new Error(`rollout ${r.id} ${final.state}: ${final.error}`);
      if (concurrency === 0) continue; // the first release: nothing to compare with yet
      const stages = final.steps.filter((s) => s.kind === 'stage');
      const stageMs = Math.max(...stages.map((s) => Number(s.ended_at_ms))) - Math.min(...stages.map((s) => Number(s.started_at_ms)));
      const res: StageResult = {
        scenario: 'stage',
        hosts: o.hosts,
        artifact_mb: o.sizeMb,
        concurrency,
        stage_ms: stageMs,
        rollout_ms: Date.now() - began,
        mb_per_s: Math.round(((o.sizeMb * o.hosts) / (stageMs / 1000)) * 10) / 10,
      };
      o.log(`[stage] ${o.hosts} hosts, ${o.sizeMb} MB, ${concurrency} at a time: staged in ${stageMs} ms, rollout ${res.rollout_ms} ms`);
      results.push(res);
    }
    return results;
  } finally {
    client.close();
    server.closeAllConnections();
    server.close();
    await fleet.stop();
  }
}
