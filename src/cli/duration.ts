/** Durations as flags take them: `24h`, `90m`, `30s`, `500ms`, `2d`, or a bare number of ms. */
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  const ms = match === null ? Number.NaN : Number(match[1]) * (UNITS[match[2] ?? "ms"] ?? Number.NaN);
  if (!Number.isSafeInteger(Math.round(ms)) || ms < 0) {
    throw new Error(`${flag} must be a duration such as 24h, 30m, 45s or 500ms, got "${text}"`);
  }
  return Math.round(ms);
}
