/**
 * What the compaction benches share (gc-bench.ts, gc-probe.ts, gc-count.ts): the schema whose
 * relationships they touch over and over (each touch a new version: the caveat context changes),
 * the churn's shape, the check they time, and their `--name value` arguments.
 */
import { parseRelationship } from "../src/core/index.js";
import type { CheckRequest } from "../src/engine/index.js";
import type { RelationshipUpdate } from "../src/store/index.js";

export const CHURN_SCHEMA = `
caveat tagged(n int) { n >= 0 }
definition user {}
definition document {
  relation viewer: user | user with tagged
  permission view = viewer
}`;
/** Relationships touched in turn, touches a write, writes paced to touches a second. */
export const CHURN = { keys: 10_000, batch: 500, rate: 1_000, windowMs: 250 } as const;

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

/** The `i`th touch: relationship `i % keys`, its context numbering the round. */
export function churnUpdate(i: number, keys: number = CHURN.keys): RelationshipUpdate {
  const k = i % keys;
  return {
    operation: "touch",
    relationship: parseRelationship(
      `document:d${k}#viewer@user:u${k % 100}[tagged:{"n":${Math.floor(i / keys)}}]`,
    ),
  };
}

/** The check of relationship `k`'s document by its user, as the benches time it. */
export function churnCheck(k: number): CheckRequest {
  return {
    resource: { type: "document", id: `d${k}` },
    permission: "view",
    subject: { type: "user", id: `u${k % 100}` },
    context: { n: 1 },
  };
}
