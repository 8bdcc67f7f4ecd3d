// A traffic document: which backends of a service receive traffic, at which generation. The
// coordinator computes it, the edge agent applies it; its text form is what nginx's Lua reads.

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

export interface TrafficDoc {
  readonly service: string;
  readonly generation: number;
  readonly backends: readonly Backend[];
}

/**
 * The line format read by agent/nginx/lua/zdd.lua: "generation N" then "backend TRACK ADDR WEIGHT"
 * per backend. Plain lines, so the Lua side needs no JSON library.
 */
export function trafficText(doc: TrafficDoc): string {
  const lines = [`generation ${doc.generation}`];
  for (const b of doc.backends) lines.push(`backend ${b.track} ${b.addr} ${b.weight}`);
  return lines.join('\n') + '\n';
}
