/**
 * Rings of subject sets, the data of the hostile review of the cycle fixpoint (2026-12-06): a_i and
 * b_i view each other, a_i views a_{i+1} and is b_{i+1}'s parent; the last node grants `user:u`
 * and, behind a caveat, `user:c`. A CheckBulk of every node merges all their paths, and every cut
 * is a cycle on some of them only. Used by `bench/hostile-stall.ts` and `test/hostile/`.
 */

/** The rings' caveat and definition (with `definition user {}` beside them, a whole schema). */
export const RINGS_SCHEMA = `
caveat flagged(flag bool) {
  flag
}

definition node {
  relation parent: node
  relation viewer: user | user with flagged | node#view
  permission view = viewer + parent->view
}
`;

/** The relationships of `levels` rings, as text. */
export function ringRows(levels: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < levels; i++) {
    out.push(`node:a${i}#viewer@node:b${i}#view`, `node:b${i}#viewer@node:a${i}#view`);
    out.push(`node:a${i}#viewer@node:a${i + 1}#view`, `node:b${i + 1}#parent@node:a${i}`);
  }
  out.push(`node:a${levels}#viewer@user:u`, `node:a${levels}#viewer@user:c[flagged]`);
  return out;
}

/** Every node of `levels` rings but the last, which grants. */
export const ringIds = (levels: number): string[] =>
  Array.from({ length: levels }, (_, i) => [`a${i}`, `b${i}`]).flat();
