/**
 * Reach: for each identity and each reach permission, the objects it may reach (ALLOWED, or
 * CONDITIONAL on request context), exactly as one LookupResources per identity would answer, at
 * the report's revision.
 *
 * Work is shared across identities in two ways. First, one reverse walk per permission carries
 * sets of identities (reach-walk.ts), so a subproblem (a folder's `view`) is computed once for all
 * the identities reaching it; what it cannot decide alone is checked in bulk through the engine.
 * Second, an identity's reach depends only on the relationships that name it as their subject:
 * identities whose such relationships are the same once the identity's id is blanked out (agents
 * stamped from one template, or agents with no grant of their own, reaching only what wildcards
 * give) reach the same objects, so the walk's sources are those classes, not the identities.
 */
import { type ErrorCode, formatRelationship, LatchError, type Relationship } from "../core/index.js";
import type { Engine, Pacer } from "../engine/index.js";
import type { CompiledSchema } from "../schema/index.js";
import type { StoreReader } from "../store/index.js";
import type { MemberRef } from "./config.js";
import type { IdentityFacts } from "./inventory.js";
import { reachSets, type WalkSource } from "./reach-walk.js";

export interface ReachCount {
  /** Objects reached: ALLOWED and CONDITIONAL. */
  readonly reached: number;
  /** Of which CONDITIONAL (a caveat the request context would decide). */
  readonly conditional: number;
  /** Of which sensitive. */
  readonly sensitive: number;
}

/** Identity key -> permission (`document#read`) -> its reach. */
export type ReachTable = Map<string, Map<string, ReachCount>>;

export interface ReachStats {
  /** Reverse walks run: one per reach permission, for every identity at once. */
  readonly walks: number;
  /** Classes of identities with the same footprint: the walks' sources. */
  readonly classes: number;
  /** (object, class) candidates the walks could not decide alone, checked in bulk. */
  readonly checks: number;
}

const SELF = "\u0000self";

/** The relationships naming the identity, with its id blanked out, as one string. */
export function footprint(f: IdentityFacts): string {
  const blank = (r: Relationship): string => {
    const self = r.resource.type === f.type && r.resource.id === f.id;
    return formatRelationship({
      ...r,
      resource: self ? { type: r.resource.type, id: SELF } : r.resource,
      subject: { ...r.subject, id: SELF },
    });
  };
  return [...f.grants, ...f.delegations, ...f.memberships].map(blank).sort().join("\n");
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

export interface ReachInput extends WalkReachInput {
  readonly identities: ReadonlyMap<string, IdentityFacts>;
  readonly permissions: readonly MemberRef[];
  /** Ids of sensitive objects (of `sensitiveType`). */
  readonly sensitive: ReadonlySet<string>;
  readonly sensitiveType: string | undefined;
}

/** Candidates (reached, but not surely) checked per CheckBulk. */
const BULK = 500;

export interface WalkReachInput {
  readonly engine: Engine;
  readonly reader: StoreReader;
  readonly schema: CompiledSchema;
  /** Revision token of the reader's revision. */
  readonly token: string;
  /** Bulk checks in flight at once (default 4). */
  readonly concurrency?: number;
  /** Yields to the event loop between steps of the walk and its tallies (reach-walk.ts). */
  readonly pacer?: Pacer | undefined;
}

/**
 * What each source reaches through `permission`, as LookupResources would answer for it alone:
 * one multi-source walk (reach-walk.ts), then the candidates it cannot decide alone checked in
 * bulk. `visit` sees every reached (source index, object id, state), in no particular order.
 */
export async function walkReach(
  input: WalkReachInput,
  sources: readonly WalkSource[],
  permission: MemberRef,
  visit: (source: number, id: string, state: "ALLOWED" | "CONDITIONAL") => void,
): Promise<{ checks: number }> {
  const sets = await reachSets(
    { schema: input.schema, reader: input.reader, sources, pacer: input.pacer },
    permission.type,
    permission.name,
  );
  const candidates: { id: string; source: number }[] = [];
  for (const [id, { any, def }] of sets) {
    if (input.pacer?.due() === true) await input.pacer.pause();
    // Both sorted: `def` ⊆ `any`, walked side by side.
    let j = 0;
    for (const i of any) {
      if (def[j] === i) {
        j++;
        visit(i, id, "ALLOWED");
      } else candidates.push({ id, source: i });
    }
  }
  const chunks: (typeof candidates)[] = [];
  for (let i = 0; i < candidates.length; i += BULK) chunks.push(candidates.slice(i, i + BULK));
  await pool(chunks, input.concurrency ?? 4, async (chunk) => {
    const result = await input.engine.checkBulk({
      items: chunk.map((c) => ({
        resource: { type: permission.type, id: c.id },
        permission: permission.name,
        subject: { type: sources[c.source]!.type, id: sources[c.source]!.id },
      })),
      consistency: { kind: "at-exact-snapshot", token: input.token },
    });
    result.results.forEach((r, j) => {
      // LookupResources fails with its check's error when a candidate's check fails: so does this.
      if (!r.ok)
        throw new LatchError(
          r.error.code as ErrorCode,
          r.error.kind ?? "internal",
          r.error.message,
          r.error.details,
        );
      // The engine answers no APPROVAL_REQUIRED (the seam's gate does): it would be a reach too.
      if (r.state !== "DENIED")
        visit(chunk[j]!.source, chunk[j]!.id, r.state === "CONDITIONAL" ? "CONDITIONAL" : "ALLOWED");
    });
  });
  return { checks: candidates.length };
}

/** One permission's reach for every class. */
async function reachOf(
  input: ReachInput,
  reps: readonly IdentityFacts[],
  permission: MemberRef,
): Promise<{ tallies: ReachCount[]; checks: number }> {
  const tallies = reps.map(() => ({ reached: 0, conditional: 0, sensitive: 0 }));
  const countSensitive = permission.type === input.sensitiveType;
  const { checks } = await walkReach(input, reps, permission, (i, id, state) => {
    const t = tallies[i]!;
    t.reached++;
    if (state === "CONDITIONAL") t.conditional++;
    if (countSensitive && input.sensitive.has(id)) t.sensitive++;
  });
  return { tallies, checks };
}

export async function computeReach(input: ReachInput): Promise<{ table: ReachTable; stats: ReachStats }> {
  const classes = new Map<string, IdentityFacts[]>();
  for (const f of input.identities.values()) {
    if (input.pacer?.due() === true) await input.pacer.pause();
    // The type is part of the class: an agent and a service reach differently with the same grants.
    const key = `${f.type}\n${footprint(f)}`;
    const members = classes.get(key);
    if (members === undefined) classes.set(key, [f]);
    else members.push(f);
  }
  const groups = [...classes.values()];
  const reps = groups.map((members) => members[0]!);
  const table: ReachTable = new Map();
  for (const key of input.identities.keys()) table.set(key, new Map());
  let checks = 0;
  for (const permission of input.permissions) {
    const name = `${permission.type}#${permission.name}`;
    const result = await reachOf(input, reps, permission);
    checks += result.checks;
    groups.forEach((members, i) => {
      const count = result.tallies[i]!;
      for (const m of members) table.get(m.key)!.set(name, count);
    });
  }
  return { table, stats: { walks: input.permissions.length, classes: classes.size, checks } };
}
