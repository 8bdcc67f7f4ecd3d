// Human output for zddctl: tables, the live rollout view and event lines. Pure: data in, text out.
import Table from 'cli-table3';
import { formatMs } from '../lib/duration.js';
import type { Rollout__Output } from '../proto/gen/zdd/v1/Rollout.js';
import type { AgentInfo__Output } from '../proto/gen/zdd/v1/AgentInfo.js';
import type { Step__Output } from '../proto/gen/zdd/v1/Step.js';
import { versionShares, type TrafficDoc } from '../lib/traffic.js';

const MARK: Record<string, string> = { pending: '·', running: '…', done: '✓', failed: '✗', skipped: '-' };

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)}G`;

/**
 * The share each version took in the canary step's window, from the edges' counters, beside the
 * configured one: "v1 52% (stable), v2 48% (canary) of 1,234 requests in this step".
 */
export function measuredShares(measured: Record<string, number> | undefined, shares: { track: string; version: string }[]): string | undefined {
  if (!measured) return undefined;
  const total = Object.values(measured).reduce((a, b) => a + b, 0);
  if (!total) return undefined;
  const versionOf = (track: string) => shares.find((x) => x.track === track)?.version ?? track;
  // in the order of the serving line
  const rank = (track: string) => (shares.findIndex((x) => x.track === track) + 1 || shares.length + 1);
  const parts = Object.entries(measured)
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([track, n]) => `${versionOf(track)} ${((100 * n) / total).toFixed(0)}% (${track})`);
  return `${parts.join(', ')} of ${total.toLocaleString('en')} requests in this step`;
}

export function agentsTable(agents: AgentInfo__Output[]): string {
  const t = new Table({ head: ['AGENT', 'STATE', 'EDGE', 'ADDRESS', 'LABELS', 'CPU', 'LOAD', 'MEM FREE', 'INSTANCES'], style: { head: [], border: [] } });
  for (const a of agents) {
    const inst = (JSON.parse(a.instances_json || '[]') as { service: string; slot: string; version: string; state: string; restarts?: number }[])
      .map((i) => `${i.service}/${i.slot}=${i.version}(${i.state}${i.restarts ? `, ${i.restarts} restart${i.restarts > 1 ? 's' : ''}` : ''})`)
      .join(' ');
    t.push([
      a.id,
      hostState(a),
      a.edge ? a.edge_mode : '',
      a.advertise,
      Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(','),
      a.cores ? String(a.cores) : '',
      a.connected ? `${a.load_pct.toFixed(0)}%` : '',
      a.connected ? `${gib(a.mem_available_bytes)}/${gib(a.mem_total_bytes)}` : '',
      inst,
    ]);
  }
  return t.toString();
}

/** A large fleet in a few lines: how many are in each state, then the hosts that need a look (at most 50). */
export function fleetSummary(agents: AgentInfo__Output[]): string {
  const connected = agents.filter((a) => a.connected).length;
  const edges = agents.filter((a) => a.edge).length;
  const look = agents.filter((a) => !a.connected || a.cordoned || a.drain || a.out_of_pool.length || a.ejected.length);
  const lines = [`${agents.length} agents: ${connected} connected, ${agents.length - connected} gone, ${edges} edge(s), ${look.length} that need a look`];
  if (look.length) {
    lines.push(agentsTable(look.slice(0, 50)));
    if (look.length > 50) lines.push(`… and ${look.length - 50} more (zddctl agents --all, or --json)`);
  } else lines.push('every host connected and in the pool (zddctl agents --all lists them)');
  return lines.join('\n');
}

/** connected / gone for how long, then cordoned, draining, out of traffic, ejected by the edge */
export function hostState(a: AgentInfo__Output): string {
  const parts = [a.connected ? 'connected' : `gone ${formatMs(Date.now() - (Number(a.gone_since_ms) || Number(a.last_seen_ms)))}`];
  if (a.drain) parts.push(a.drain);
  else if (a.cordoned) parts.push('cordoned');
  if (a.out_of_pool.length) parts.push(`out of traffic: ${a.out_of_pool.map((o) => o.split(':')[0]).join(', ')}`);
  if (a.ejected.length) parts.push(`ejected by the edge: ${a.ejected.map((e) => e.split(' since ')[0]).join(', ')}`);
  return parts.join(', ');
}

/** ↻ marks a step that ran (or ran again) after the last resume. */
function stepLabel(s: Step__Output, resumedAt = 0): string {
  const names: Record<string, string> = {
    start: 'start',
    traffic: 'traffic',
    drain: 'drain',
    stop: 'stop old',
    configure_edge: 'nginx',
    pause: 'pause',
    finalize: 'finalize',
    verify: 'verify',
    analyze: 'analysis',
    window: 'keep-old',
  };
  // a hook's step detail starts with the hook's name once it ran
  if (s.kind === 'hook' && /^[a-zA-Z]+ /.test(s.detail)) names.hook = s.detail.split(' ')[0];
  const after = resumedAt && s.state !== 'pending' && s.state !== 'skipped' && (s.ended_at_ms || Date.now()) >= resumedAt ? '↻' : '';
  return `${MARK[s.state] ?? '?'}${after} ${names[s.kind] ?? s.kind}`;
}

/** More hosts than this, or a page that does not hold every step: the summary view. */
const DETAIL_HOSTS = 40;

/** The live view: one line per batch and host with its steps (a large rollout: counts and the hosts that matter), then the latest events. */
export function rolloutView(r: Rollout__Output, eventLines = 6): string {
  const sum = r.summary;
  if (sum && (sum.hosts > DETAIL_HOSTS || r.steps.length < sum.steps)) return summaryView(r, eventLines);
  const lines: string[] = [];
  const dur = (r.ended_at_ms || Date.now()) - r.created_at_ms;
  lines.push(`rollout ${r.id}: ${r.service} ${r.from_version || '(nothing)'} → ${r.version}  [${r.strategy}]  ${(r.status || r.state).toUpperCase()}  ${formatMs(dur)}`);
  if (r.created_by) lines.push(`  started by ${r.created_by}`);
  if (r.pause_reason) lines.push(`  paused: ${r.pause_reason}`);
  const resumedAt = r.resumed_at_ms.length ? r.resumed_at_ms[r.resumed_at_ms.length - 1] : 0;
  if (resumedAt) {
    lines.push(`  resumed ${r.resumed_at_ms.length} time(s), last at ${new Date(resumedAt).toISOString().slice(11, 23)}; ↻ marks steps that ran after it, the others ran before`);
  }
  const label = (s: Step__Output) => stepLabel(s, resumedAt);
  for (const note of (JSON.parse(r.params_json || '{}') as { notes?: string[] }).notes ?? []) lines.push(`  planned  ${note}`);
  const edge = r.steps.filter((s) => s.batch === 0 && s.kind === 'configure_edge');
  if (edge.length) lines.push(`  nginx    ${edge.map((s) => `${s.agent_id} ${label(s)}`).join('  ')}`);
  const stage = r.steps.filter((s) => s.batch === 0 && s.kind === 'stage');
  if (stage.length) {
    const running = stage.filter((s) => s.state === 'running' && s.detail);
    lines.push(`  stage    ${stage.map((s) => `${s.agent_id} ${MARK[s.state] ?? '?'}`).join('  ')}${running.length ? `  (${running.map((s) => `${s.agent_id}: ${s.detail}`).join('; ')})` : ''}`);
  }
  const pre = r.steps.filter((s) => s.batch === 0 && s.kind === 'hook');
  if (pre.length) lines.push(`  pre      ${pre.map((s) => `${s.agent_id} ${label(s)}`).join('  ')}`);
  for (let b = 1; b <= r.batches; b++) {
    const steps = r.steps.filter((s) => s.batch === b && s.kind !== 'finalize');
    if (!steps.length) continue;
    const hosts = [...new Set(steps.filter((s) => s.kind === 'start').map((s) => s.agent_id))];
    const shared = steps.filter((s) => ['traffic', 'drain', 'pause', 'verify', 'analyze', 'window'].includes(s.kind) || (s.kind === 'hook' && !hosts.includes(s.agent_id)));
    lines.push(`  batch ${b}  ${shared.map((s) => label(s)).join('  ')}`);
    for (const h of hosts) {
      const hs = steps.filter((s) => s.agent_id === h && (s.kind === 'start' || s.kind === 'stop' || s.kind === 'hook'));
      const running = hs.find((s) => s.state === 'running' && s.detail);
      lines.push(`    ${h.padEnd(14)} ${hs.map(label).join('  ')}${running ? `  (${running.detail})` : ''}`);
    }
  }
  const shares = versionShares(r.traffic_json ? (JSON.parse(r.traffic_json) as TrafficDoc | null) ?? undefined : undefined);
  if (shares.length > 1) {
    lines.push(`  serving  ${shares.map((x) => `${x.version} ${x.percent.toFixed(x.percent % 1 ? 1 : 0)}% (${x.track})`).join(', ')} — two versions take traffic: they must be compatible`);
  }
  if (r.analysis_json) {
    const a = JSON.parse(r.analysis_json) as { detail: string; measured?: Record<string, number> };
    const measured = measuredShares(a.measured, shares);
    if (measured) lines.push(`  measured ${measured}`);
    lines.push(`  analysis ${a.detail}`);
  }
  if (r.waiting === 'promote') lines.push(`  waiting  for zddctl promote ${r.id} (or zddctl abort ${r.id})`);
  if (r.waiting === 'preview') lines.push(`  waiting  ${r.version} is on the preview listener only: zddctl promote ${r.id} switches to it (or zddctl abort ${r.id})`);
  if (r.waiting === 'keep-old window') lines.push(`  waiting  ${r.from_version} is kept warm: zddctl rollback ${r.service} switches back`);
  if (r.forced_kills) lines.push(`  forced kills: ${r.forced_kills}`);
  if (r.failed_hosts) lines.push(`  failed hosts: ${r.failed_hosts}`);
  return withEvents(lines, r, eventLines);
}

/** The view's end: the latest events, then the error. */
function withEvents(lines: string[], r: Rollout__Output, eventLines: number): string {
  const ev = r.events.slice(-eventLines);
  if (ev.length) {
    lines.push('  events:');
    for (const e of ev) lines.push(`    ${eventLine(e)}`);
  }
  if (r.error) lines.push(`  error: ${r.error}`);
  return lines.join('\n');
}

/** A large rollout: what every batch adds up to, the steps under way or failed, the traffic's shares. */
function summaryView(r: Rollout__Output, eventLines: number): string {
  const s = r.summary!;
  const dur = (r.ended_at_ms || Date.now()) - r.created_at_ms;
  const lines = [`rollout ${r.id}: ${r.service} ${r.from_version || '(nothing)'} → ${r.version}  [${r.strategy}]  ${(r.status || r.state).toUpperCase()}  ${formatMs(dur)}`];
  if (r.created_by) lines.push(`  started by ${r.created_by}`);
  if (r.pause_reason) lines.push(`  paused: ${r.pause_reason}`);
  if (r.resumed_at_ms.length) lines.push(`  resumed ${r.resumed_at_ms.length} time(s)`);
  lines.push(`  hosts    ${s.hosts}: ${s.hosts_started} on ${r.version}${s.hosts_failed ? `, ${s.hosts_failed} failed` : ''}, ${Math.max(0, s.hosts - s.hosts_started - s.hosts_failed)} to go`);
  lines.push(`  batches  ${s.batches_done} of ${s.batches} done${s.current_batch ? `; batch ${s.current_batch} under way` : ''}`);
  lines.push(`  steps    ${s.steps}: ${s.done} done, ${s.running} running, ${s.pending} pending${s.failed ? `, ${s.failed} failed` : ''}${s.skipped ? `, ${s.skipped} skipped` : ''}`);
  const running = r.notable.filter((x) => x.state === 'running');
  const failed = r.notable.filter((x) => x.state === 'failed');
  if (running.length) lines.push(`  running  ${running.slice(0, 8).map((x) => `${x.agent_id || 'coordinator'} ${stepLabel(x)}${x.detail ? ` (${x.detail.slice(0, 60)})` : ''}`).join('  ')}${running.length > 8 ? `  … ${s.running - 8} more` : ''}`);
  for (const x of failed.slice(0, 10)) lines.push(`  failed   ${x.agent_id || 'coordinator'} ${stepLabel(x)}: ${x.error.slice(0, 160)}`);
  if (failed.length > 10) lines.push(`  failed   … ${s.failed - 10} more (zddctl status ${r.id} --json)`);
  const t = r.traffic_json ? (JSON.parse(r.traffic_json) as (TrafficDoc & { shares?: { version: string; track: string; percent: number }[] }) | null) : null;
  const shares = t ? (t.shares ?? versionShares(t)) : [];
  if (shares.length) lines.push(`  serving  ${shares.map((x) => `${x.version} ${x.percent.toFixed(x.percent % 1 ? 1 : 0)}% (${x.track})`).join(', ')}`);
  if (r.analysis_json) lines.push(`  analysis ${(JSON.parse(r.analysis_json) as { detail: string }).detail}`);
  if (r.waiting === 'promote') lines.push(`  waiting  for zddctl promote ${r.id} (or zddctl abort ${r.id})`);
  if (r.forced_kills) lines.push(`  forced kills: ${r.forced_kills}`);
  return withEvents(lines, r, eventLines);
}

export function eventLine(e: { at_ms: number; level: string; message: string; agent_id: string }): string {
  const t = new Date(e.at_ms).toISOString().slice(11, 23);
  return `${t} ${e.level === 'info' ? '' : `${e.level.toUpperCase()} `}${e.agent_id ? `[${e.agent_id}] ` : ''}${e.message}`;
}

export function historyTable(rs: Rollout__Output[]): string {
  const t = new Table({ head: ['ROLLOUT', 'VERSION', 'FROM', 'STRATEGY', 'STATE', 'STARTED', 'BY', 'TOOK', 'FORCED KILLS', 'ERROR'], style: { head: [], border: [] } });
  for (const r of rs) {
    t.push([
      r.id,
      r.version,
      r.from_version || '-',
      r.strategy,
      r.state,
      new Date(r.created_at_ms).toISOString().replace('T', ' ').slice(0, 19),
      r.created_by.replace(/^operator\//, '') || '-',
      r.ended_at_ms ? formatMs(r.ended_at_ms - r.created_at_ms) : '',
      String(r.forced_kills),
      r.error.length > 60 ? r.error.slice(0, 57) + '...' : r.error,
    ]);
  }
  return t.toString();
}
