// Durations in specs and flags: "250ms", "5s", "2m", or a number of milliseconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The longest duration zdd accepts: timers above 2^31-1 ms would fire at once. */
export const MAX_DURATION_MS = 24 * 3_600_000;

/** Parses a duration into milliseconds; undefined when the text is not one or exceeds 24h. */
export function parseDuration(input: string | number): number | undefined {
  let ms: number;
  if (typeof input === 'number') ms = input;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(input);
    if (!m) return undefined;
    ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']);
  }
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** A lifetime of a certificate or token: a duration as above, or whole days ("30d", at most 3650d). */
export function parseLifetime(input: string): number | undefined {
  const d = /^\s*(\d{1,4})d\s*$/.exec(input);
  if (d) return Number(d[1]) >= 1 && Number(d[1]) <= 3650 ? Number(d[1]) * 86_400_000 : undefined;
  const ms = parseDuration(input);
  // a bare number is not a lifetime anyone means in milliseconds
  return ms !== undefined && !/^\s*\d+(\.\d+)?\s*$/.test(input) ? ms : undefined;
}
