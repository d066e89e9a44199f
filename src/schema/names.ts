/** Name rules (the same as SpiceDB's, so names that load there load here) and "did you mean". */
import { clip } from "../core/index.js";

const SEGMENT = /^[a-z][a-z0-9_]{1,62}[a-z0-9]$/;
const RESERVED = new Set(["nil", "definition", "caveat", "relation", "permission", "use", "with", "and"]);

const RULE =
  "3 to 64 characters: lowercase letters, digits and `_`, starting with a letter and not ending with `_`";

/** Why a definition or caveat name (`document`, `acme/document`) is invalid, or undefined if it is fine. */
export function typeNameProblem(name: string): string | undefined {
  const segments = name.split("/");
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      return segments.length > 1
        ? `\`${clip(segment)}\` in \`${clip(name)}\` is not a valid name segment; each segment is ${RULE}`
        : `\`${clip(name)}\` is not a valid name; a name is ${RULE}`;
    }
  }
  return undefined;
}

/** Why a relation or permission name is invalid, or undefined if it is fine. */
export function memberNameProblem(name: string): string | undefined {
  if (name.includes("/"))
    return `\`${clip(name)}\` cannot contain \`/\`; only definitions and caveats have namespaces`;
  if (RESERVED.has(name)) return `\`${clip(name)}\` is a keyword and cannot name a relation or permission`;
  if (!SEGMENT.test(name)) return `\`${clip(name)}\` is not a valid name; a name is ${RULE}`;
  return undefined;
}

/** Names longer than this get no "did you mean": twice the longest valid name. */
const MAX_SUGGEST_LENGTH = 128;

function distance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** ` (did you mean \`x\`?)` for the closest candidate within a few edits, else "". */
export function suggest(name: string, candidates: Iterable<string>): string {
  // The edit distance costs |name| x |candidate|: a megabyte name against a long one would take
  // minutes. No valid name is longer than 64, and nothing that long is a typo of one.
  if (name.length > MAX_SUGGEST_LENGTH) return "";
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    // The distance is at least the difference in length: skip what cannot beat the best.
    if (Math.abs(candidate.length - name.length) >= bestDistance) continue;
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? "" : ` (did you mean \`${clip(best)}\`?)`;
}
