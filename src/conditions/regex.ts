import type { RE2JS } from "re2js";
import { clip } from "../core/index.js";
import { re2Library } from "./libraries.js";

/**
 * CEL's `matches` with RE2 semantics, as the CEL specification requires: linear-time matching, so a
 * pattern such as `^(a+)+$` cannot backtrack for seconds (JavaScript's RegExp can). Compiled
 * patterns are kept in a small bounded cache: patterns may come from requests, so the cache must not
 * grow with them.
 */
const MAX_CACHED = 256;
const cache = new Map<string, RE2JS>();

/** Compiles an RE2 pattern (cached); throws an Error naming the pattern when it is not valid RE2. */
export function compileRe2(pattern: string): RE2JS {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit;
  let re: RE2JS;
  try {
    re = re2Library().compile(pattern);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`invalid RE2 regular expression ${JSON.stringify(clip(pattern, 60))}: ${reason}`);
  }
  // Insertion order is age: drop the oldest when full (a hit does not refresh; good enough here).
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, re);
  return re;
}

/** Whether `pattern` matches anywhere in `text` (CEL `matches` is unanchored, like RE2's find). */
export function re2Matches(text: string, pattern: string): boolean {
  return compileRe2(pattern).matcher(text).find();
}
