/** `--delegation-permission TYPE=PERMISSION`, shared by `latch serve` and the in-process commands. */

/**
 * The permission of each principal type that says whom it delegates to; types not named use
 * `delegate`. Accepts the repeated flag, or one string (a config file's or an environment value),
 * entries separated by commas or whitespace.
 */
export function parseDelegationPermissions(
  list: readonly string[] | string | undefined,
  fail: (message: string) => Error,
): Record<string, string> | undefined {
  const entries = (typeof list === "string" ? [list] : (list ?? []))
    .flatMap((e) => e.split(/[\s,]+/))
    .filter((e) => e !== "");
  if (entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const match = /^([^=]+)=([^=]+)$/.exec(entry);
    if (match === null) throw fail(`--delegation-permission must be TYPE=PERMISSION, got "${entry}"`);
    out[match[1]!] = match[2]!;
  }
  return out;
}
