/**
 * The benchmark corpus: a deterministic (seeded) document store shaped like a real deployment.
 * Scale `m` is the standard corpus (about 412k relationships); `s` is a tenth, `l` ten times.
 * Built outside any timed code; every benchmark and tool loads exactly the same data.
 */
import type { Relationship } from "../src/core/index.js";

export type Scale = "s" | "m" | "l";

export interface CorpusShape {
  readonly users: number;
  readonly groups: number;
  readonly folders: number;
  readonly documents: number;
}

export const SCALES: Readonly<Record<Scale, CorpusShape>> = {
  s: { users: 1_000, groups: 100, folders: 100, documents: 10_000 },
  m: { users: 10_000, groups: 1_000, folders: 1_000, documents: 100_000 },
  l: { users: 100_000, groups: 10_000, folders: 10_000, documents: 1_000_000 },
};

/**
 * Agents hold no relationship in the generated corpus unless `agents` asks for them (the posture
 * benchmark): `check/delegated` (bench/run.ts) adds an agent per question, with its own grant and
 * its user's delegation.
 */
export const CORPUS_SCHEMA = `definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}

definition agent {
  relation owner: user
}

definition group {
  relation member: user | group#member
}

definition folder {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member | agent
  permission view = viewer + owner + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member | user:* | agent
  permission edit = owner
  permission view = viewer + owner + parent->view
}
`;

/** The caveated variant: sensitivity and purpose on documents, time-window grants. */
export const CAVEATED_CORPUS_SCHEMA = `caveat clearance(sensitivity int, clearance int) {
  clearance >= sensitivity
}

caveat allowed_purpose(purposes list<string>, purpose string) {
  purpose in purposes
}

caveat in_window(start timestamp, end timestamp, now timestamp) {
  now >= start && now < end
}

definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member
  permission view = viewer + owner + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member | user:* | user with in_window | group#member with allowed_purpose
  /** Every document is cleared for all users at its sensitivity: the caller's clearance decides. */
  relation cleared: user:* with clearance
  permission edit = owner
  permission view = (viewer + owner + parent->view) & cleared
}
`;

/** mulberry32: tiny, fast, good enough for reproducible synthetic data. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Corpus {
  readonly scale: Scale;
  readonly shape: CorpusShape;
  readonly schema: string;
  readonly relationships: readonly Relationship[];
  /** Group nesting level (0 = top) by group index, for choosing fixtures. */
  readonly groupLevels: readonly number[];
}

export interface CorpusOptions {
  readonly seed?: number;
  readonly caveated?: boolean;
  /**
   * Adds this many agents (`agent:a0`...), each with an owner (`agent#owner`), its owner's
   * delegation (`user#delegate_to`), three document grants and, for three in ten, a folder grant
   * (`#viewer@agent:...`): the identities `bench/posture-bench.ts` reports on. Uncaveated schema only.
   */
  readonly agents?: number;
}

const rel = (
  type: string,
  id: string,
  relation: string,
  subjectType: string,
  subjectId: string,
  subjectRelation?: string,
): Relationship => ({
  resource: { type, id },
  relation,
  subject:
    subjectRelation === undefined
      ? { type: subjectType, id: subjectId }
      : { type: subjectType, id: subjectId, relation: subjectRelation },
});

/**
 * Groups nest in three levels (a tenth, three tenths and six tenths of them): each child group is a
 * member of one parent a level up, and every group has ten direct user members.
 */
export function generateCorpus(scale: Scale, options: CorpusOptions = {}): Corpus {
  const shape = SCALES[scale];
  const random = createRandom(options.seed ?? 42);
  const pick = (n: number) => Math.floor(random() * n);
  const out: Relationship[] = [];

  const levelStarts = [0, Math.floor(shape.groups * 0.1), Math.floor(shape.groups * 0.4), shape.groups];
  const groupLevels: number[] = [];
  for (let level = 0; level < 3; level++) {
    for (let g = levelStarts[level]!; g < levelStarts[level + 1]!; g++) {
      groupLevels.push(level);
      for (let m = 0; m < 10; m++) out.push(rel("group", `g${g}`, "member", "user", `u${pick(shape.users)}`));
      if (level > 0) {
        const parentStart = levelStarts[level - 1]!;
        const parent = parentStart + pick(levelStarts[level]! - parentStart);
        out.push(rel("group", `g${parent}`, "member", "group", `g${g}`, "member"));
      }
    }
  }

  // A random tree: each folder's parent is an earlier folder, so there are no cycles.
  for (let f = 0; f < shape.folders; f++) {
    if (f > 0) out.push(rel("folder", `f${f}`, "parent", "folder", `f${pick(f)}`));
    out.push(rel("folder", `f${f}`, "owner", "user", `u${pick(shape.users)}`));
    if (random() < 0.3)
      out.push(rel("folder", `f${f}`, "viewer", "group", `g${pick(shape.groups)}`, "member"));
  }

  for (let d = 0; d < shape.documents; d++) {
    const id = `d${d}`;
    out.push(rel("document", id, "parent", "folder", `f${pick(shape.folders)}`));
    out.push(rel("document", id, "owner", "user", `u${pick(shape.users)}`));
    for (let v = 0; v < 2; v++) {
      if (random() < 0.7) out.push(rel("document", id, "viewer", "user", `u${pick(shape.users)}`));
      else out.push(rel("document", id, "viewer", "group", `g${pick(shape.groups)}`, "member"));
    }
    if (random() < 0.002) out.push(rel("document", id, "viewer", "user", "*"));
    if (options.caveated) {
      out.push({
        ...rel("document", id, "cleared", "user", "*"),
        caveat: { name: "clearance", context: { sensitivity: pick(4) } },
      });
      const r = random();
      if (r < 0.1) {
        out.push({
          ...rel("document", id, "viewer", "user", `u${pick(shape.users)}`),
          caveat: {
            name: "in_window",
            context: { start: "2026-01-01T00:00:00Z", end: "2027-01-01T00:00:00Z" },
          },
        });
      } else if (r < 0.2) {
        out.push({
          ...rel("document", id, "viewer", "group", `g${pick(shape.groups)}`, "member"),
          caveat: { name: "allowed_purpose", context: { purposes: ["support", "summarize"] } },
        });
      }
    }
  }

  for (let a = 0; a < (options.agents ?? 0); a++) {
    const id = `a${a}`;
    const owner = `u${pick(shape.users)}`;
    out.push(rel("agent", id, "owner", "user", owner));
    out.push(rel("user", owner, "delegate_to", "agent", id));
    for (let g = 0; g < 3; g++) out.push(rel("document", `d${pick(shape.documents)}`, "viewer", "agent", id));
    if (random() < 0.3) out.push(rel("folder", `f${pick(shape.folders)}`, "viewer", "agent", id));
  }

  return {
    scale,
    shape,
    schema: options.caveated ? CAVEATED_CORPUS_SCHEMA : CORPUS_SCHEMA,
    relationships: out,
    groupLevels,
  };
}
