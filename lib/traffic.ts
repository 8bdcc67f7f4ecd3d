// A traffic document: which backends of a service receive traffic, on which track, at which
// generation. The coordinator computes it, the edge agent applies it; its text form is what
// nginx's Lua reads. Tracks: "stable" for rolling, a colour for blue/green, "canary" beside the
// primary track while a canary runs.
import { ZddError } from './errors.js';

export interface Backend {
  /** host:port at which nginx reaches the instance */
  readonly addr: string;
  readonly track: string;
  readonly weight: number;
  /** agent id and slot, for people reading a plan */
  readonly agentId?: string;
  readonly slot?: string;
  readonly version?: string;
}

/** A share of clients, chosen by a stable client key, sent to another track (a canary). */
export interface Split {
  readonly track: string;
  /** 0..100 */
  readonly percent: number;
}

export interface TrafficDoc {
  readonly service: string;
  readonly generation: number;
  readonly backends: readonly Backend[];
  /** the track the live listener serves; "stable" when absent */
  readonly primary?: string;
  /** the track the preview listener serves; the primary track when absent */
  readonly preview?: string;
  readonly split?: Split;
}

export const DEFAULT_TRACK = 'stable';
export const primaryTrack = (doc: TrafficDoc | undefined): string => doc?.primary ?? DEFAULT_TRACK;

/**
 * The line format read by agent/nginx/lua/zdd.lua: "generation N", then optionally "primary TRACK",
 * "preview TRACK" and "split TRACK PERCENT", then "backend TRACK ADDR WEIGHT" per backend. Plain
 * lines, so the Lua side needs no JSON library.
 */
export function trafficText(doc: TrafficDoc, newest?: string): string {
  const lines = [`generation ${doc.generation}`, `primary ${primaryTrack(doc)}`];
  if (doc.preview) lines.push(`preview ${doc.preview}`);
  if (doc.split) lines.push(`split ${doc.split.track} ${doc.split.percent}`);
  if (newest && VERSION_WORD.test(newest)) lines.push(`newest ${newest}`);
  for (const b of doc.backends) lines.push(`backend ${b.track} ${b.addr} ${b.weight}${b.version && VERSION_WORD.test(b.version) ? ` ${b.version}` : ''}`);
  return lines.join('\n') + '\n';
}

const VERSION_WORD = /^[^\s]{1,128}$/;

/**
 * The version long-lived connections should prefer after a change from `prev` to `doc`: the one
 * that gained backends taking traffic (a rolling batch moved to it, or a return moved back to it);
 * when none did, the one preferred before, if it still takes traffic.
 */
export function newestVersion(prev: TrafficDoc | undefined, doc: TrafficDoc, before?: string): string | undefined {
  const count = (d: TrafficDoc | undefined) => {
    const n = new Map<string, number>();
    for (const b of d?.backends ?? []) if (b.weight > 0 && b.version) n.set(b.version, (n.get(b.version) ?? 0) + 1);
    return n;
  };
  const was = count(prev);
  const now = count(doc);
  const gained = [...now].filter(([v, n]) => n > (was.get(v) ?? 0)).map(([v]) => v);
  if (gained.length === 1) return gained[0];
  if (before && now.has(before)) return before;
  return gained[0];
}

export interface Move {
  agentId: string;
  backend: Backend;
}

/**
 * A change to a traffic document. A traffic step carries a list of them; the executor applies
 * them to the journalled document, leaving out hosts whose new instance never became healthy.
 */
export type TrafficOp =
  /** rolling: each moved host's backend in the primary track is replaced by its new one */
  | { op: 'swap'; moves: Move[] }
  /** new backends (a new colour, canary instances) */
  | { op: 'add'; backends: Backend[] }
  /** in-place: the hosts' backends leave the primary track while they swap */
  | { op: 'remove'; agentIds: string[] }
  /** every backend of a track leaves */
  | { op: 'drop'; track: string }
  /** a track's backends change track (a promoted canary becomes the primary track) */
  | { op: 'retrack'; from: string; to: string }
  /** which track each listener serves and the canary share; null clears */
  | { op: 'route'; primary?: string; preview?: string | null; split?: Split | null };

// ordinal, not locale-aware: a document of 10,000 backends is sorted on every traffic change
const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
// a total order (ties broken by every field): a document rebuilt from a difference comes out in
// the same order as the one it was made from
const byHost = (a: Backend, b: Backend) =>
  cmp(a.agentId ?? a.addr, b.agentId ?? b.addr) || cmp(a.track, b.track) || cmp(a.addr, b.addr) || cmp(a.slot ?? '', b.slot ?? '') || cmp(a.version ?? '', b.version ?? '') || a.weight - b.weight;

/** Backends in a document's order (by host, then track; ties broken by every field): every document zdd writes is in it. */
export const inOrder = (backends: readonly Backend[]): Backend[] => [...backends].sort(byHost);

/** Applies ops to a document, as a new generation. Backends of hosts in `exclude` are not added. Pure. */
export function applyOps(prev: TrafficDoc | undefined, service: string, ops: readonly TrafficOp[], generation: number, exclude: ReadonlySet<string> = new Set()): TrafficDoc {
  let backends = [...(prev?.backends ?? [])];
  let primary = primaryTrack(prev);
  let preview = prev?.preview;
  let split = prev?.split;
  const ok = (agentId: string | undefined) => !agentId || !exclude.has(agentId);
  for (const o of ops) {
    switch (o.op) {
      case 'swap': {
        const moves = o.moves.filter((m) => ok(m.agentId));
        const moved = new Set(moves.map((m) => m.agentId));
        backends = backends.filter((b) => !(b.agentId && moved.has(b.agentId) && b.track === primary));
        backends.push(...moves.map((m) => ({ ...m.backend, track: primary })));
        break;
      }
      case 'add': {
        const have = new Set(backends.map((x) => `${x.addr} ${x.track}`));
        backends.push(...o.backends.filter((b) => ok(b.agentId) && !have.has(`${b.addr} ${b.track}`)));
        break;
      }
      case 'remove': {
        const out = new Set(o.agentIds);
        backends = backends.filter((b) => !(b.agentId && out.has(b.agentId) && b.track === primary));
        break;
      }
      case 'drop':
        backends = backends.filter((b) => b.track !== o.track);
        break;
      case 'retrack':
        backends = backends.map((b) => (b.track === o.from ? { ...b, track: o.to } : b));
        break;
      case 'route':
        if (o.primary !== undefined) primary = o.primary;
        if (o.preview !== undefined) preview = o.preview ?? undefined;
        if (o.split !== undefined) split = o.split ?? undefined;
        break;
    }
  }
  backends.sort(byHost);
  const doc: TrafficDoc = {
    service,
    generation,
    backends,
    ...(primary !== DEFAULT_TRACK ? { primary } : {}),
    ...(preview && preview !== primary ? { preview } : {}),
    ...(split ? { split } : {}),
  };
  return doc;
}

/** A document's routes (primary, preview, split), only those it sets. */
const routesOf = (r: { primary?: string; preview?: string; split?: Split } | undefined) => ({
  ...(r?.primary ? { primary: r.primary } : {}),
  ...(r?.preview ? { preview: r.preview } : {}),
  ...(r?.split ? { split: r.split } : {}),
});

/**
 * What a traffic change replaced, kept as a difference from the document it made: the backends it
 * took out (whole), the ones it put in (by key), and the routes before. A journal entry of a
 * one-host change stays a few hundred bytes however large the document is.
 */
export interface Replaced {
  generation: number;
  /** there was no document before */
  none?: boolean;
  removed: readonly Backend[];
  added: string[];
  primary?: string;
  preview?: string;
  split?: Split;
}

const backendKey = (b: Backend) => `${b.addr} ${b.track} ${b.weight} ${b.agentId ?? ''} ${b.slot ?? ''} ${b.version ?? ''}`;

/** The difference that turns `next` back into `prev`. */
export function replacedBy(prev: TrafficDoc | undefined, next: TrafficDoc): Replaced {
  const { removed, added } = changes(prev?.backends ?? [], next.backends);
  return {
    generation: prev?.generation ?? 0,
    ...(prev ? {} : { none: true }),
    removed,
    added: added.map(backendKey),
    ...routesOf(prev),
  };
}

/** the last pair compared: a traffic change is compared for its step, its journal entry and each edge */
let lastChanges: { before: readonly Backend[]; after: readonly Backend[]; removed: readonly Backend[]; added: readonly Backend[] } | undefined;

/**
 * The backends that leave and come in between two lists, copy by copy. applyOps keeps the backends
 * it does not touch as they are: those are matched by identity, and only the others by key (a
 * one-host change to 10,000 backends keys a handful).
 */
function changes(before: readonly Backend[], after: readonly Backend[]): { readonly removed: readonly Backend[]; readonly added: readonly Backend[] } {
  if (lastChanges?.before === before && lastChanges.after === after) return lastChanges;
  const same = new Map<Backend, number>();
  for (const b of before) same.set(b, (same.get(b) ?? 0) + 1);
  const fresh: Backend[] = [];
  for (const b of after) {
    const n = same.get(b);
    if (n) same.set(b, n - 1);
    else fresh.push(b);
  }
  const left = new Map<string, Backend[]>();
  for (const [b, n] of same) {
    if (!n) continue;
    const k = backendKey(b);
    left.set(k, [...(left.get(k) ?? []), ...Array<Backend>(n).fill(b)]);
  }
  const added: Backend[] = [];
  for (const b of fresh) {
    const twin = left.get(backendKey(b));
    if (twin?.length) twin.pop();
    else added.push(b);
  }
  // shared by every caller of the same pair: frozen, so that none can change what the others see
  lastChanges = { before, after, removed: Object.freeze([...left.values()].flat()), added: Object.freeze(added) };
  return lastChanges;
}

/**
 * A new generation as a difference from a known one (the base): the backends that leave (by key,
 * one entry per copy), the ones that come in, and the new routes whole. An edge that holds the
 * base rebuilds the document from it (applyDiff); the journal keeps one between whole documents.
 * A one-host change to 10,000 backends is a few hundred bytes instead of a megabyte.
 */
export interface TrafficDiff {
  service: string;
  generation: number;
  /** the generation it applies to */
  base: number;
  /** how many backends the document has after it: checked when it is applied */
  count: number;
  removed: string[];
  added: readonly Backend[];
  primary?: string;
  preview?: string;
  split?: Split;
}

/** The difference that turns `base` into `next`. */
export function trafficDiff(base: TrafficDoc, next: TrafficDoc): TrafficDiff {
  const { removed, added } = changes(base.backends, next.backends);
  return {
    service: next.service,
    generation: next.generation,
    base: base.generation,
    count: next.backends.length,
    removed: removed.map(backendKey),
    added,
    ...routesOf(next),
  };
}

/** The document a difference makes of its base; throws TRAFFIC_BASE when `base` is not the one it was made from. */
export function applyDiff(base: TrafficDoc | undefined, d: TrafficDiff): TrafficDoc {
  if (!base || base.service !== d.service || base.generation !== d.base) {
    throw new ZddError('TRAFFIC_BASE', `traffic generation ${d.generation} of ${d.service} was sent as a change to generation ${d.base}, and this side holds ${base ? `generation ${base.generation}` : 'none'}`, {
      hint: 'the coordinator sends the whole document instead',
    });
  }
  const out = new Map<string, number>();
  for (const k of d.removed) out.set(k, (out.get(k) ?? 0) + 1);
  const backends = base.backends.filter((b) => {
    if (!out.size) return true;
    const k = backendKey(b);
    const n = out.get(k);
    if (!n) return true;
    if (n === 1) out.delete(k);
    else out.set(k, n - 1);
    return false;
  });
  backends.push(...d.added);
  if (out.size || backends.length !== d.count) {
    throw new ZddError('TRAFFIC_BASE', `traffic generation ${d.generation} of ${d.service} does not apply to generation ${d.base} as held here (${backends.length} backends, expected ${d.count})`, {
      hint: 'the coordinator sends the whole document instead',
    });
  }
  backends.sort(byHost);
  return {
    service: d.service,
    generation: d.generation,
    backends,
    ...routesOf(d),
  };
}

export const isTrafficDiff = (a: TrafficDoc | TrafficDiff): a is TrafficDiff => 'base' in a;

/**
 * The document before a change, from the document now (which later fleet changes may have
 * touched: those stay): what the change added leaves, what it removed returns, its routes return.
 * Undefined when there was no document before. The generation is the old one: a revert pushes it
 * as a newer generation.
 */
export function restoreReplaced(cur: TrafficDoc | undefined, r: Replaced, service: string): TrafficDoc | undefined {
  if (r.none) return undefined;
  const added = new Set(r.added);
  const backends = [...(cur?.backends ?? []).filter((b) => !added.has(backendKey(b))), ...r.removed].sort(byHost);
  return {
    service,
    generation: r.generation,
    backends,
    ...routesOf(r),
  };
}

/** A document in a line for an event: every backend when there are few, else the versions' shares and what changed. */
export function describeTraffic(doc: TrafficDoc, r?: Replaced): string {
  const primary = primaryTrack(doc);
  if (doc.backends.length <= 20) return doc.backends.map((b) => `${b.agentId ?? b.addr}=${b.track === primary ? '' : `${b.track}:`}${b.version ?? '?'}`).join(' ');
  const counts = new Map<string, number>();
  for (const b of doc.backends) counts.set(`${b.track === primary ? '' : `${b.track}:`}${b.version ?? '?'}`, (counts.get(`${b.track === primary ? '' : `${b.track}:`}${b.version ?? '?'}`) ?? 0) + 1);
  const change = r ? ` (${r.added.length} in, ${r.removed.length} out)` : '';
  return `${doc.backends.length} backends: ${[...counts].map(([v, n]) => `${v}×${n}`).join(' ')}${change}`;
}

/** True when a document routes beyond one track: a canary split, a preview, or a second colour. */
export function isMixed(doc: TrafficDoc | undefined): boolean {
  return !!doc && (!!doc.split || !!doc.preview || new Set(doc.backends.map((b) => b.track)).size > 1);
}

/** Refuses a document that would leave the live listener with nothing to serve. */
export function checkServable(doc: TrafficDoc): void {
  const primary = primaryTrack(doc);
  if (!doc.backends.some((b) => b.track === primary && b.weight > 0)) {
    throw new ZddError('INTERNAL', `traffic generation ${doc.generation} of ${doc.service} leaves its primary track "${primary}" without a backend`, {
      hint: 'nothing was changed; this is a planning error, please report it',
    });
  }
}

/** Which share of new clients each version gets under a document: what a person wants to know while two versions serve. */
export function versionShares(doc: TrafficDoc | undefined): { version: string; track: string; percent: number }[] {
  if (!doc) return [];
  const primary = primaryTrack(doc);
  const versionsOf = (track: string) => [...new Set(doc.backends.filter((b) => b.track === track && b.weight > 0).map((b) => b.version ?? '?'))].join('+');
  const splitPct = doc.split && doc.backends.some((b) => b.track === doc.split!.track && b.weight > 0) ? doc.split.percent : 0;
  const out: { version: string; track: string; percent: number }[] = [];
  // within the primary track, share by backend count (round robin)
  const prim = doc.backends.filter((b) => b.track === primary && b.weight > 0);
  const perVersion = new Map<string, number>();
  for (const b of prim) perVersion.set(b.version ?? '?', (perVersion.get(b.version ?? '?') ?? 0) + b.weight);
  const total = [...perVersion.values()].reduce((a, b) => a + b, 0) || 1;
  for (const [version, w] of perVersion) out.push({ version, track: primary, percent: ((100 - splitPct) * w) / total });
  if (splitPct > 0) out.push({ version: versionsOf(doc.split!.track), track: doc.split!.track, percent: splitPct });
  return out;
}
