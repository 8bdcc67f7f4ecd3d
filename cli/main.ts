// zddctl: the operator's CLI. Parses flags (commander), talks to the coordinator's control API and
// prints tables, a live rollout view, or --json. Exit code 0 only on success.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import logUpdate from 'log-update';
import { ZddError, errorMessage } from '../lib/errors.js';
import { formatMs, parseDuration } from '../lib/duration.js';
import { parseSpecText } from '../lib/spec.js';
import type { Rollout__Output } from '../proto/gen/zdd/v1/Rollout.js';
import { Client } from './client.js';
import { agentsTable, eventLine, fleetSummary, historyTable, rolloutView } from './render.js';
import type { AgentInfo__Output } from '../proto/gen/zdd/v1/AgentInfo.js';
import type { ListAgentsResponse__Output } from '../proto/gen/zdd/v1/ListAgentsResponse.js';
import { versionShares } from '../lib/traffic.js';
import { ROOT } from '../lib/paths.js';
import { addInstallCommands } from './install.js';
import { strategies } from '../coordinator/strategies/index.js';
import { defaultConfigPaths, readClientConfig, writeClientConfig } from '../lib/client-config.js';
import { parseLifetime } from '../lib/duration.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';

const program = new Command('zddctl')
  .description('zdd: zero-downtime rollouts across your hosts')
  // -V only: subcommands use --version for the version they roll out
  .version('0.1.0', '-V', 'print the zddctl version')
  .option('--coordinator <addr>', "coordinator address, or several comma-separated (coordinators sharing PostgreSQL: zddctl finds the leader) (default: the config's, else 127.0.0.1:7700)", process.env.ZDD_COORDINATOR)
  .option('--config <file>', `operator credentials written by zddctl login (default: ${defaultConfigPaths(process.env).join(', then ')})`, process.env.ZDD_CONFIG)
  .option('--plaintext', 'talk to a coordinator that serves plaintext (--plaintext there)', !!process.env.ZDD_PLAINTEXT && process.env.ZDD_PLAINTEXT !== 'false');

/** --config, ZDD_CONFIG, or the first default path that exists. */
const configFile = (): string | undefined => program.opts().config ?? defaultConfigPaths(process.env).find((f) => fs.existsSync(f));

/** The coordinator's address: --coordinator, else the config's, else the default. */
function coordinatorAddress(): string {
  const g = program.opts();
  const file = g.plaintext ? undefined : configFile();
  return g.coordinator ?? (file ? readClientConfig(file).coordinator : '127.0.0.1:7700');
}

/** The control client: the config's TLS credentials (and address, unless --coordinator), or plaintext. */
function client(): Client {
  const g = program.opts();
  if (g.plaintext) return new Client(coordinatorAddress(), 'plaintext');
  const file = configFile();
  if (!file) {
    throw new ZddError('UNAUTHENTICATED', 'no zddctl config: zddctl talks to the coordinator over mutual TLS as an operator', {
      hint: 'ask an admin for a token (zddctl operator create NAME --role ROLE) and run the zddctl login it prints; on the coordinator host, root can use /var/lib/zdd-coordinator/pki/admin.json',
    });
  }
  const cfg = readClientConfig(file);
  return new Client(g.coordinator ?? cfg.coordinator, cfg);
}
const print = (s: string) => process.stdout.write(s + '\n');
const json = (v: unknown) => print(JSON.stringify(v, null, 2));

function durationArg(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 500ms, 10s or 2m, at most 24h');
  return ms;
}
function countArg(v: string): number {
  if (!/^\d{1,6}$/.test(v)) throw new InvalidArgumentError('expected a whole number below 1000000');
  return Number(v);
}

/**
 * Follows a rollout until it ends or pauses, live on a terminal and as event lines otherwise. A
 * coordinator that restarts meanwhile is waited for (30 s): the rollout resumes, and so does the view.
 */
/** Where `zddctl rollout` hands back to the operator: the rollout waits for them, or for its window. */
const handsBack = (r: Rollout__Output) => r.state === 'running' && (r.waiting === 'promote' || r.waiting === 'keep-old window' || r.waiting === 'preview');

async function follow(c: Client, id: string, asJson: boolean, untilHandBack = false, afterEvent = 0): Promise<Rollout__Output> {
  const tty = process.stdout.isTTY && !asJson;
  // events already told (a rollback of a rollout that ran before): not printed again
  let printed = afterEvent;
  const show = (r: Rollout__Output) => {
    if (asJson) return;
    if (tty) logUpdate(rolloutView(r));
    else {
      for (const e of r.events) if (Number(e.id) > printed) print(eventLine(e));
      printed = Math.max(printed, ...r.events.map((e) => Number(e.id)));
    }
  };
  let final: Rollout__Output | undefined;
  let lostAt = 0;
  while (!final) {
    try {
      final = await c.watch(
        id,
        (r) => {
          lostAt = 0;
          show(r);
        },
        untilHandBack ? handsBack : undefined,
      );
    } catch (err) {
      // a coordinator restarting, or leadership moving to a standby
      if (!(err instanceof ZddError) || (err.code !== 'AGENT_UNAVAILABLE' && err.code !== 'NOT_LEADER')) throw err;
      lostAt ||= Date.now();
      if (Date.now() - lostAt > 30_000) throw err;
      if (!asJson && !tty) print('coordinator unreachable; waiting for it to come back');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (tty) {
    logUpdate(rolloutView(final, 12));
    logUpdate.done();
  }
  if (asJson) json(final);
  else if (!tty) print(`rollout ${final.id} ${final.state}${final.error ? `: ${final.error}` : ''}${final.pause_reason ? `: ${final.pause_reason}` : ''}`);
  if (final.state === 'paused' && !asJson) process.stderr.write(`  resume it with: zddctl resume ${final.id}\n`);
  if (handsBack(final) && !asJson) {
    const held = final.steps.find((s) => s.kind === 'pause' && s.state === 'running');
    process.stderr.write(
      final.waiting === 'promote'
        ? `  the canary waits for you: zddctl promote ${final.id} to go on, zddctl abort ${final.id} to return to ${final.from_version}\n`
        : final.waiting === 'preview'
          ? `  ${final.version} waits on the preview listener${held?.detail ? ` (${held.detail})` : ''}: try it, then zddctl promote ${final.id} switches all traffic to it, zddctl abort ${final.id} removes it\n`
          : `  ${final.version} is live; ${final.from_version} is kept warm: zddctl rollback ${final.service} switches back, zddctl promote ${final.id} ends the window now\n`,
    );
  }
  return final;
}

/**
 * After a rollout was started, resumed or turned back: return at once with --detach, else follow
 * it to its end (or until it waits for the operator). Exit 1 unless it ends as `expect`.
 */
async function followUnlessDetached(c: Client, r: Rollout__Output, o: { detach?: boolean; json?: boolean }, verb: string, expect = 'succeeded') {
  if (o.detach) {
    if (o.json) json(r);
    else print(`rollout ${r.id} ${verb}: zddctl watch ${r.id}`);
    return;
  }
  if (!o.json) print(`rollout ${r.id} ${verb}`);
  // a rollout that was turned back or resumed has a history: only what happens from now is printed
  const after = verb.startsWith('started') ? 0 : Math.max(0, ...r.events.map((e) => Number(e.id)));
  const final = await follow(c, r.id, !!o.json, expect === 'succeeded', after);
  if (final.state !== expect && !(expect === 'succeeded' && handsBack(final))) process.exitCode = 1;
}

program
  .command('apply')
  .description('store a service spec (YAML or JSON); nothing is deployed until a rollout')
  .requiredOption('-f, --file <spec>', 'spec file, or - for standard input')
  .option('--json', 'print the stored service as JSON')
  .action(async (o) => {
    let text: string;
    try {
      text = fs.readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
    } catch (err) {
      throw new ZddError('INVALID_ARGUMENT', `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
    const spec = parseSpecText(text);
    const c = client();
    const s = await c.call('ApplyService', { spec_json: JSON.stringify(spec) });
    if (o.json) json(s);
    else print(s.changed ? `service ${s.name} stored as revision ${s.revision}` : `service ${s.name} unchanged (revision ${s.revision})`);
  });

const agents = program
  .command('agents')
  .description('list agents with their host facts and instances')
  .option('--all', 'every agent, also in a fleet of more than 50')
  .option('--json', 'JSON output (every agent)')
  .action(async (o) => {
    const c = client();
    // page by page: one reply never holds a large fleet
    const all: AgentInfo__Output[] = [];
    let r: ListAgentsResponse__Output;
    let token = '';
    do {
      r = await c.call('ListAgents', { page_token: token });
      all.push(...r.agents);
      token = r.next_page_token;
    } while (token);
    if (o.json) json(all);
    else if (!all.length) print('no agents yet: start zdd-agent on your hosts');
    else if (all.length <= 50 || o.all) print(agentsTable(all));
    else print(fleetSummary(all));
  });
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

program
  .command('cordon')
  .argument('<host>', 'agent id')
  .description('keep new rollouts off a host (it keeps serving what it runs)')
  .action(async (host: string) => {
    await client().call('Cordon', { name: host });
    print(`host ${host} cordoned: new rollouts leave it alone (zddctl uncordon ${host} undoes it)`);
  });
program
  .command('uncordon')
  .argument('<host>', 'agent id')
  .description('let rollouts use a host again; a drained host returns to traffic once healthy')
  .action(async (host: string) => {
    const a = await client().call('Uncordon', { name: host });
    print(`host ${host} uncordoned${a.out_of_pool.length ? ': its backends return to traffic once healthy on the live version' : ''}`);
  });
program
  .command('drain')
  .argument('<host>', 'agent id')
  .description("cordon a host and move its traffic away, then wait until nothing is in flight to it")
  .option('--no-wait', 'return once the drain has begun')
  .action(async (host: string, o) => {
    const c = client();
    let a = await c.call('Drain', { name: host });
    if (o.wait) {
      while (a.drain === 'draining') {
        await sleepMs(250);
        a = (await c.call('ListAgents', { id: host })).agents[0] ?? { drain: 'failed: the host was removed' };
      }
    }
    if (a.drain.startsWith('failed')) throw new ZddError('DRAIN_TIMEOUT', `drain of ${host} ${a.drain}`, { hint: `zddctl events --host ${host} says more; zddctl drain ${host} tries again` });
    print(a.drain === 'drained' ? `host ${host} drained: it serves nothing and stays cordoned` : `host ${host} draining (zddctl agents shows when it is done)`);
  });
program
  .command('remove')
  .argument('<host>', 'agent id')
  .description('forget a host that serves nothing and whose agent is stopped (admin)')
  .action(async (host: string) => {
    await client().call('RemoveAgent', { name: host });
    print(`host ${host} removed`);
  });
program
  .command('events')
  .description("the fleet's own events: hosts leaving and rejoining the pool, instances restarted")
  .option('--host <id>', "only this host's")
  .option('--limit <n>', 'how many, newest first', (v) => Number(v), 50)
  .option('--json', 'JSON output')
  .action(async (o) => {
    const r = await client().call('ListEvents', { agent_id: o.host ?? '', limit: o.limit });
    if (o.json) json(r.events);
    else print(r.events.length ? [...r.events].reverse().map((e: any) => eventLine(e)).join('\n') : 'no fleet events yet');
  });

agents
  .command('revoke')
  .argument('<id>')
  .description("close an agent's session now and refuse its certificates from then on (admin)")
  .action(async (id: string) => {
    const r = await client().call('RevokeAgent', { name: id });
    print(`agent ${id}: ${r.revoked} certificate(s) revoked${r.disconnected ? ', session closed' : ''}`);
  });

function rolloutRequest(service: string, o: any) {
  const analysis = Object.fromEntries(
    [
      ['maxErrorRate', o.maxErrorRate],
      ['maxErrorRateDelta', o.maxErrorRateDelta],
      ['maxP95Ratio', o.maxP95Ratio],
      ['minRequests', o.minRequests],
    ].filter(([, v]) => v !== undefined),
  );
  return {
    service,
    version: o.version,
    strategy: o.strategy,
    batch: o.batch ?? '',
    pause_ms: o.pause ?? 0,
    failure_limit: o.failureLimit ?? 0,
    steps: o.steps ?? '',
    step_pause_ms: o.stepPause ?? (o.strategy === 'canary' ? -1 : 0),
    canary_hosts: o.canaryHosts ?? '',
    keep_old_ms: o.keepOld ?? 0,
    bake_ms: o.bake ?? 0,
    hosts: o.hosts ?? '',
    analysis_json: Object.keys(analysis).length ? JSON.stringify(analysis) : '',
    artifact: o.artifact ? (/^[a-z]+:\/\//.test(o.artifact) ? o.artifact : path.resolve(o.artifact)) : '',
    sha256: o.sha256 ?? '',
    stage_concurrency: o.stageConcurrency ?? 0,
    in_place: !!o.inPlace,
    max_load: o.maxLoad ?? 0,
    options: { ...(o.option ?? {}), ...(o.verify ? { verify: o.verify } : {}) },
  };
}

function optionArg(v: string, prev: Record<string, string>): Record<string, string> {
  const m = /^([A-Za-z][A-Za-z0-9_-]*)=(.*)$/s.exec(v);
  if (!m) throw new InvalidArgumentError('expected key=value');
  return { ...prev, [m[1]]: m[2] };
}

function stepPauseArg(v: string): number {
  return v === 'manual' ? -1 : durationArg(v);
}
function ratioArg(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a fraction such as 0.01 or a percentage such as 1%');
  const n = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (n < 0 || n > 1) throw new InvalidArgumentError('expected a value from 0 to 1 (or 0% to 100%)');
  return n;
}
function numberArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('expected a number of at least 1');
  return n;
}

const withRolloutOptions = (cmd: Command) =>
  cmd
    .requiredOption('--version <version>', 'version to roll out')
    .option('--strategy <name>', strategies().map((s) => `${s.name}: ${s.summary}`).join('; '), 'rolling')
    .option('--batch <n|p%>', 'hosts per batch, as a count or a percentage (rolling: default 1; blue-green and canary: how many new instances start at once, default all)')
    .option('--pause <duration>', 'pause between batches', durationArg)
    .option('--failure-limit <n>', 'hosts that may fail before the rollout fails', countArg, 0)
    .option('--steps <list>', 'canary: weight steps in percent, e.g. 5,25,50,100')
    .option('--step-pause <duration|manual>', 'canary: wait per step, or manual to wait for zddctl promote (default manual)', stepPauseArg)
    .option('--canary-hosts <n|p%>', 'canary: hosts that run canary instances (default 1)')
    .option('--keep-old <duration>', 'blue-green: keep the old colour warm this long for zddctl rollback', durationArg)
    .option('--bake <duration>', 'blue-green: watch the new colour this long after the switch, switching back on errors', durationArg)
    .option('--hosts <labels>', 'blue-green: start the new colour only on hosts with these labels, k=v[,k=v]')
    .option('--max-error-rate <r>', 'analysis: highest error rate of the new version, e.g. 1% or 0.01', ratioArg)
    .option('--max-error-rate-delta <r>', "analysis: how far the new version's error rate may exceed the stable's", ratioArg)
    .option('--max-p95-ratio <x>', "analysis: the new version's p95 latency at most this times the stable's", numberArg)
    .option('--min-requests <n>', 'analysis: requests needed before a step is judged (fewer: wait)', countArg)
    .option('--artifact <path|url>', 'stage this release (.tar.gz, a file or an http(s) URL) on every host before the first batch')
    .option('--sha256 <hex>', "the artifact's sha256 (sha256sum prints it); required with --artifact")
    .option('--stage-concurrency <n>', 'hosts that fetch and unpack the artifact at the same time (default 4)', countArg)
    .option('--in-place', 'rolling: each batch leaves the pool, swaps with one instance at a time, and comes back')
    .option('--max-load <percent>', 'in-place: shrink batches so the hosts left in the pool stay under this CPU load', countArg)
    .option('--verify <manual>', 'blue-green: hold the new colour at the preview listener until zddctl promote (after the spec\'s own checks)', (v) => {
      if (v !== 'manual') throw new InvalidArgumentError('the only value is manual: checks of your own go into the spec\'s verify section');
      return v;
    })
    .option('--option <key=value>', "an option of the strategy that has no flag of its own (repeatable)", optionArg, {})
    .option('--json', 'JSON output');

withRolloutOptions(program.command('rollout').argument('<service>').description('roll a service out to a new version and follow it'))
  .option('--detach', 'start the rollout and return at once')
  .action(async (service: string, o) => {
    const c = client();
    await followUnlessDetached(c, await c.call('StartRollout', rolloutRequest(service, o)), o, 'started');
  });

withRolloutOptions(program.command('plan').argument('<service>').description('show what a rollout would do, without doing it'))
  .option('--from-batch <n>', 'show batches from this one (a plan shows 20 at a time)', countArg, 1)
  .option('--batches <n>', 'how many batches to show, at most 200', countArg, 20)
  .action(async (service: string, o) => {
    const r = await client().call('Plan', { ...rolloutRequest(service, o), plan_first_batch: o.fromBatch, plan_batches: o.batches });
    const plan = JSON.parse(r.plan_json);
    if (o.json) {
      json(plan);
      return;
    }
    print(`plan: ${plan.service} ${plan.fromVersion || '(nothing)'} → ${plan.version} [${plan.strategy}], ${plan.hostCount} host(s) in ${plan.batchCount} batch(es), edges: ${plan.edges.join(', ')}`);
    const lastShown = plan.firstBatch + plan.batches.length - 1;
    if (plan.batches.length < plan.batchCount) print(`  batches ${plan.firstBatch}–${lastShown} of ${plan.batchCount} below${lastShown < plan.batchCount ? ` (zddctl plan ${service} --from-batch ${lastShown + 1} shows the next)` : ''}`);
    const sharesOf = (d: any) => (d.shares ?? versionShares(d)) as { version: string; percent: number }[];
    if (plan.batches.some((b: string[]) => b.length > plan.hostsShownPerBatch)) print(`  each batch below shows the steps of its first ${plan.hostsShownPerBatch} hosts; the others' are alike`);
    for (const note of plan.notes ?? []) print(`  note: ${note}`);
    const rel = plan.release as { missing: { agentId: string; where: string }[]; unasked: string[] } | undefined;
    if (rel?.missing.length) {
      const shown = rel.missing.slice(0, 10).map((m) => `${m.agentId} (${m.where})`);
      print(`  MISSING: ${plan.version} is not on ${rel.missing.length} host(s): ${shown.join(', ')}${rel.missing.length > 10 ? ', …' : ''}`);
      print(`           put the release there, or roll out with --artifact URL --sha256 HASH to stage it first`);
      process.exitCode = 1;
    }
    if (rel?.unasked.length) print(`  note: ${rel.unasked.length} host(s) did not say whether they have ${plan.version}: ${rel.unasked.slice(0, 10).join(', ')}`);
    const stages = plan.steps.filter((x: { kind: string }) => x.kind === 'stage');
    if (stages.length) print(`  first: stage ${stages[0].args.url} on ${stages.map((x: { agentId: string }) => x.agentId).join(', ')}`);
    const hooks = [...new Set(plan.steps.filter((x: { kind: string }) => x.kind === 'hook').map((x: { args: { hook: string } }) => x.args.hook))];
    if (hooks.length) print(`  hooks: ${hooks.join(', ')}`);
    if (plan.strategy !== 'rolling' || plan.inPlace) {
      // blue-green, canary and in-place: the steps in order, and what each traffic change routes where
      let t = 0;
      for (const st of plan.steps as { kind: string; agentId: string; args: any; phase: number }[]) {
        if (st.kind === 'traffic') {
          if (st.agentId !== plan.edges[0]) continue;
          const d = plan.traffic[t++];
          if (!d) continue;
          const shares = sharesOf(d).map((x) => `${x.version} ${Math.round(x.percent)}%`).join(', ');
          print(`  traffic  generation ${d.generation}: live → ${d.primary ?? 'stable'}${d.preview ? `, preview → ${d.preview}` : ''}${d.split ? `, ${d.split.percent}% of clients → ${d.split.track}` : ''} (${shares})`);
        } else if (st.kind === 'start') print(`  start    ${plan.version} on ${st.agentId} in slot ${st.args.slot}`);
        else if (st.kind === 'analyze') print(`  analyze  ${st.args.mode === 'bake' ? 'bake' : `canary at ${st.args.percent}%`}: ${st.args.waitMs < 0 ? 'until zddctl promote' : `at least ${formatMs(st.args.waitMs)}`}, then until judged`);
        else if (st.kind === 'pause' && st.args.preview !== undefined) print(`  hold     ${plan.version} on the preview listener (${st.args.preview}) until zddctl promote`);
        else if (st.kind === 'window') print(`  window   keep ${plan.fromVersion} warm for ${formatMs(st.args.ms)} (zddctl rollback switches back)`);
        else if (st.kind === 'stop') print(`  stop     slot ${st.args.slot} on ${st.agentId}`);
        else if (st.kind === 'hook') print(`  hook     ${st.args.hook} on ${st.agentId}`);
        else if (st.kind === 'stage') continue;
        else if (st.kind !== 'configure_edge' && st.agentId === (st.kind === 'drain' ? plan.edges[0] : st.agentId)) print(`  ${st.kind.padEnd(8)} ${st.kind === 'drain' ? st.args.hosts.map((h: any) => h.addr).join(' ') : ''}`.trimEnd());
      }
      return;
    }
    const hostPlan = new Map(plan.hosts.map((x: any) => [x.agentId, x]));
    plan.batches.forEach((b: string[], i: number) => {
      const n = plan.firstBatch + i;
      print(`  batch ${n}: ${b.length > 10 ? `${b.length} hosts, ${b[0]} … ${b[b.length - 1]}` : b.join(', ')}`);
      for (const id of b.slice(0, 10)) {
        const h: any = hostPlan.get(id);
        print(`    ${id}: start ${plan.version} in slot ${h.newSlot} (${h.newAddr})${h.oldAddr ? `, then drain and stop ${h.oldVersion} in slot ${h.oldSlot} (${h.oldAddr})` : ''}`);
      }
      if (b.length > 10) print(`    … and ${b.length - 10} more, alike`);
      const t = plan.traffic.find((x: any) => x.batch === n);
      if (t) print(`    nginx: generation ${t.generation} → ${t.backends ? t.backends.map((x: any) => `${x.addr}(${x.version ?? '?'})`).join(' ') : sharesOf(t).map((x) => `${x.version} ${Math.round(x.percent)}%`).join(', ') + ` of ${t.backendCount} backends`}`);
    });
  });

program
  .command('status')
  .argument('[rollout]', 'rollout id (default: the latest)')
  .description('show a rollout')
  .option('--json', 'JSON output')
  .action(async (id: string | undefined, o) => {
    const r = await client().call('GetRollout', { id: id ?? '' });
    if (o.json) json(r);
    else print(rolloutView(r, 20));
  });

program
  .command('watch')
  .argument('<rollout>', 'rollout id')
  .description('follow a rollout until it ends')
  .option('--json', 'print the final state as JSON')
  .action(async (id: string, o) => {
    const final = await follow(client(), id, o.json);
    if (final.state !== 'succeeded') process.exitCode = 1;
  });

program
  .command('pause')
  .argument('<rollout>', 'rollout id')
  .description('pause a running rollout at the next step boundary (steps under way finish first)')
  .option('--json', 'JSON output')
  .action(async (id: string, o) => {
    const r = await client().call('PauseRollout', { id });
    if (o.json) json(r);
    else print(`rollout ${r.id} paused; continue it with zddctl resume ${r.id}`);
  });

program
  .command('resume')
  .argument('<rollout>', 'rollout id')
  .description('continue a paused rollout where it stopped, and follow it')
  .option('--detach', 'resume and return at once')
  .option('--json', 'JSON output')
  .action(async (id: string, o) => {
    const c = client();
    await followUnlessDetached(c, await c.call('ResumeRollout', { id }), o, 'resumed');
  });

program
  .command('promote')
  .argument('<rollout>', 'rollout id')
  .description('end the wait of a canary step, a blue-green bake or keep-old window, or a pause')
  .option('--json', 'JSON output')
  .action(async (id: string, o) => {
    const r = await client().call('PromoteRollout', { id });
    if (o.json) json(r);
    else print(`rollout ${r.id} promoted; follow it with zddctl watch ${r.id}`);
  });

program
  .command('abort')
  .argument('<rollout>', 'rollout id')
  .description('stop a rollout and return traffic to the version it replaces, and follow it')
  .option('--reason <text>', 'recorded with the rollout')
  .option('--detach', 'return at once')
  .option('--json', 'JSON output')
  .action(async (id: string, o) => {
    const c = client();
    const r = await c.call('AbortRollout', { id, reason: o.reason ?? '' });
    await followUnlessDetached(c, r, o, `aborting: returning to ${r.from_version}`, 'aborted');
  });

program
  .command('rollback')
  .argument('<service>')
  .description('return a service to its previous version (inside a blue-green keep-old window: one traffic switch), and follow it')
  .option('--detach', 'return at once')
  .option('--json', 'JSON output')
  .action(async (service: string, o) => {
    const c = client();
    const r = await c.call('Rollback', { service });
    if (r.strategy === 'rollback') await followUnlessDetached(c, r, o, `started: back to ${r.version}`);
    else await followUnlessDetached(c, r, o, `rolling back to ${r.from_version}`, 'rolled_back');
  });

program
  .command('history')
  .argument('<service>')
  .description("list a service's rollouts, newest first")
  .option('--limit <n>', 'how many', countArg, 20)
  .option('--json', 'JSON output')
  .action(async (service: string, o) => {
    await client().call('GetService', { name: service });
    const r = await client().call('ListRollouts', { service, limit: o.limit });
    if (o.json) json(r.rollouts.map((x: Rollout__Output) => ({ ...x, steps: undefined, events: undefined })));
    else print(r.rollouts.length ? historyTable(r.rollouts) : `no rollouts of ${service} yet`);
  });

function lifetimeArg(v: string): number {
  const ms = parseLifetime(v);
  if (ms === undefined) throw new InvalidArgumentError('expected a lifetime such as 10m, 1h or 7d');
  return ms;
}

/** Prints a join token and the command that spends it. */
async function createToken(kind: 'agent' | 'operator', name: string, role: string, ttlMs: number, o: { json?: boolean }) {
  const c = client();
  const t = await c.call('CreateJoinToken', { kind, name, role, ttl_ms: ttlMs });
  const address = coordinatorAddress();
  if (o.json) {
    json({ kind, name, role, token: t.token, ca_sha256: t.ca_sha256, expires_at_ms: t.expires_at_ms, coordinator: address });
    return;
  }
  print(`join token for ${kind} ${name}${role ? ` (${role})` : ''}, valid once until ${new Date(t.expires_at_ms).toISOString()}:`);
  print(`  ${t.token}`);
  print(`fleet CA sha256: ${t.ca_sha256}`);
  if (kind === 'agent') print(`on the host:  zdd-agent --coordinator ${address} --id ${name} --join ${t.token} --ca-sha256 ${t.ca_sha256} ...\n  or:         sudo zddctl install agent --coordinator ${address} --join ${t.token} --ca-sha256 ${t.ca_sha256} ...`);
  else print(`${name} runs:  zddctl login --coordinator ${address} --join ${t.token} --ca-sha256 ${t.ca_sha256}`);
}

const token = program.command('token').description('one-time join tokens (admin)');
token
  .command('create')
  .description('make a one-time token with which an agent, or an operator, joins the fleet')
  .option('--agent <id>', 'for the agent with this id')
  .option('--operator <name>', 'for an operator (with --role)')
  .option('--role <role>', 'the operator\'s role: viewer, deployer or admin')
  .option('--ttl <lifetime>', 'how long the token can be used', lifetimeArg, 3_600_000)
  .option('--json', 'JSON output')
  .action(async (o) => {
    if (!!o.agent === !!o.operator) throw new ZddError('INVALID_ARGUMENT', 'name either --agent ID or --operator NAME');
    await createToken(o.agent ? 'agent' : 'operator', o.agent ?? o.operator, o.role ?? '', o.ttl, o);
  });

const operator = program.command('operator').description('operators and their roles (admin)');
operator
  .command('create')
  .argument('<name>')
  .description('let an operator join: prints the zddctl login command with a one-time token')
  .requiredOption('--role <role>', 'viewer (reads), deployer (runs rollouts of existing services) or admin (applies specs, manages agents and operators)')
  .option('--ttl <lifetime>', 'how long the token can be used', lifetimeArg, 3_600_000)
  .option('--json', 'JSON output')
  .action(async (name: string, o) => createToken('operator', name, o.role, o.ttl, o));
operator
  .command('revoke')
  .argument('<name>')
  .description("refuse an operator's certificates from now on")
  .action(async (name: string) => {
    const r = await client().call('RevokeOperator', { name });
    print(`operator ${name}: ${r.revoked} certificate(s) revoked`);
  });

program
  .command('login')
  .description('join as an operator with a token from zddctl operator create; writes your zddctl config')
  .requiredOption('--join <token>', 'the one-time token')
  .requiredOption('--ca-sha256 <fingerprint>', "the fleet CA's sha256 (printed with the token)")
  .option('--out <file>', 'where to write the config (default: --config, else ~/.config/zdd/config.json)')
  .option('--pem-dir <dir>', 'also write ca.crt, client.crt and client.key there (0600), for tools such as Prometheus')
  .action(async (o) => {
    const address = program.opts().coordinator;
    if (!address) throw new ZddError('INVALID_ARGUMENT', 'login needs --coordinator HOST:PORT');
    // loaded here only: the X.509 library takes a while to load, and no other command needs it
    const { join } = await import('../lib/join.js');
    const j = await join(address, o.join, o.caSha256, 'operator');
    const file = o.out ?? program.opts().config ?? defaultConfigPaths(process.env)[0];
    writeClientConfig(file, { coordinator: address, caPem: j.caPem, certPem: j.certPem, keyPem: j.keyPem, principal: `operator/${j.name}`, role: j.role });
    print(`logged in as ${j.name} (${j.role}); credentials in ${file}`);
    if (o.pemDir) {
      fs.mkdirSync(o.pemDir, { recursive: true, mode: 0o700 });
      for (const [name, pem] of [['ca.crt', j.caPem], ['client.crt', j.certPem], ['client.key', j.keyPem]]) writeFileAtomic(path.join(o.pemDir, name), pem, 0o600);
      print(`  and as PEM files in ${o.pemDir}: ca.crt, client.crt, client.key`);
    }
  });

program
  .command('whoami')
  .description('show who the coordinator takes you for')
  .action(async () => {
    const r = await client().call('WhoAmI', {});
    print(`${r.principal} (${r.role})${r.not_after_ms ? `, certificate valid until ${new Date(r.not_after_ms).toISOString()}` : ''}`);
  });

program
  .command('audit')
  .description('the calls that changed something, and the refused ones, newest first (admin)')
  .option('--limit <n>', 'how many', countArg, 50)
  .option('--json', 'JSON output')
  .action(async (o) => {
    const r = await client().call('ListAudit', { limit: o.limit });
    if (o.json) json(r.entries);
    else for (const e of r.entries) print(`${new Date(e.at_ms).toISOString()}  ${e.principal} (${e.role})  ${e.action} ${e.target}  ${e.outcome}${e.detail ? `: ${e.detail}` : ''}`);
  });

program
  .command('certificates')
  .description('certificates the fleet CA issued, and which are revoked (admin)')
  .option('--json', 'JSON output')
  .action(async (o) => {
    const r = await client().call('ListCertificates', {});
    if (o.json) json(r.certificates);
    else for (const c of r.certificates) print(`${c.kind}/${c.name}${c.role ? ` (${c.role})` : ''}  until ${new Date(c.not_after_ms).toISOString()}${c.revoked_at_ms ? `  REVOKED ${new Date(c.revoked_at_ms).toISOString()}` : ''}  ${c.fingerprint.slice(0, 16)}…`);
  });

const ca = program.command('ca').description('the fleet CA (run on the coordinator host)');
ca.command('init')
  .description("create the fleet CA in the coordinator's PKI directory, unless it exists; print its sha256")
  .option('--pki-dir <dir>', "the coordinator's --pki-dir", '/var/lib/zdd-coordinator/pki')
  .action(async (o) => {
    const { createCa, fingerprint } = await import('../lib/pki.js');
    const key = path.join(o.pkiDir, 'ca.key');
    const crt = path.join(o.pkiDir, 'ca.crt');
    if (!fs.existsSync(crt)) {
      fs.mkdirSync(o.pkiDir, { recursive: true, mode: 0o700 });
      const made = await createCa();
      fs.writeFileSync(key, made.keyPem, { mode: 0o600, flag: 'wx' });
      fs.writeFileSync(crt, made.certPem, { mode: 0o600, flag: 'wx' });
      print(`fleet CA created in ${o.pkiDir}`);
    } else print(`fleet CA already in ${o.pkiDir}`);
    print(`sha256: ${fingerprint(fs.readFileSync(crt, 'utf8'))}`);
  });

const storeCmd = program.command('store').description("the coordinator's journal (run on the coordinator host)");
storeCmd
  .command('migrate')
  .description('copy a SQLite journal into an empty PostgreSQL database, for coordinators that will share it (stop the coordinator first)')
  .option('--from <file>', "the coordinator's SQLite database (its --db)", '/var/lib/zdd-coordinator/zdd.db')
  .requiredOption('--to <url>', 'the PostgreSQL database: postgres://USER:PASSWORD@HOST:5432/DATABASE')
  .action(async (o) => {
    const { migrateSqliteToPostgres } = await import('../coordinator/migrate.js');
    if (!fs.existsSync(o.from)) throw new ZddError('NOT_FOUND', `${o.from} does not exist`, { hint: "name the coordinator's database with --from (its --db)" });
    const counts = migrateSqliteToPostgres(o.from, o.to);
    print(`copied ${Object.entries(counts).filter(([, n]) => n).map(([t, n]) => `${n} ${t}`).join(', ') || 'an empty journal'}`);
    print(`next: start the coordinators with --store (ZDD_STORE) and the same --pki-dir contents (ca.key, ca.crt) on each`);
  });

addInstallCommands(program, ROOT, print);

/**
 * Exits once everything written has left the process: into a pipe, process.stdout writes are
 * asynchronous, and exiting at once cut `zddctl agents --json | wc -c` at 64 kB. A reader that
 * went away (`| head`) ends the output quietly.
 */
function exitWhenFlushed(code: number): void {
  let left = 2;
  const done = () => {
    if (--left === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

program.parseAsync().then(
  () => exitWhenFlushed(Number(process.exitCode ?? 0)),
  (err) => {
    process.stderr.write(`zddctl: ${errorMessage(err)}\n`);
    if (err instanceof ZddError && err.hint) process.stderr.write(`  ${err.hint}\n`);
    exitWhenFlushed(1);
  },
);
