/**
 * Reach: for each identity and each reach permission, the objects it may reach (ALLOWED, or
 * CONDITIONAL on request context), computed with the engine's reverse walk (LookupResources) at
 * the report's revision.
 *
 * Work is shared across identities in two ways. First, an identity's reach depends only on the
 * relationships that name it as their subject (the walk starts from those, and a check from a
 * resource down compares subjects with those too): identities whose such relationships are the
 * same once the identity's id is blanked out (agents stamped from one template, or agents with no
 * grant of their own, reaching only what wildcards give) reach the same objects, so one walk per
 * permission answers for the whole class. Second, every walk goes through one engine, whose
 * subproblem cache and single-flight share the checks walks have in common (a folder's
 * `agent_granted` for a given subject, the sensitivity gate of a document).
 */
import { formatRelationship, type Relationship, type SubjectRef } from "../core/index.js";
import type { Engine } from "../engine/index.js";
import type { MemberRef } from "./config.js";
import type { IdentityFacts } from "./inventory.js";

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
  /** Reverse walks run (classes × permissions). */
  readonly walks: number;
  /** Classes of identities with the same footprint. */
  readonly classes: number;
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

export interface ReachInput {
  readonly engine: Engine;
  /** Revision token of the report's revision, so every walk reads the same snapshot. */
  readonly token: string;
  readonly identities: ReadonlyMap<string, IdentityFacts>;
  readonly permissions: readonly MemberRef[];
  /** Ids of sensitive objects (of `sensitiveType`). */
  readonly sensitive: ReadonlySet<string>;
  readonly sensitiveType: string | undefined;
  readonly concurrency?: number;
}

export async function computeReach(input: ReachInput): Promise<{ table: ReachTable; stats: ReachStats }> {
  const classes = new Map<string, IdentityFacts[]>();
  for (const f of input.identities.values()) {
    // The type is part of the class: an agent and a service reach differently with the same grants.
    const key = `${f.type}\n${footprint(f)}`;
    const members = classes.get(key);
    if (members === undefined) classes.set(key, [f]);
    else members.push(f);
  }
  const table: ReachTable = new Map();
  for (const key of input.identities.keys()) table.set(key, new Map());
  const jobs: { members: IdentityFacts[]; permission: MemberRef }[] = [];
  for (const members of classes.values())
    for (const permission of input.permissions) jobs.push({ members, permission });
  await pool(jobs, input.concurrency ?? 4, async ({ members, permission }) => {
    const rep = members[0]!;
    const subject: SubjectRef = { type: rep.type, id: rep.id };
    let reached = 0;
    let conditional = 0;
    let sensitive = 0;
    const countSensitive = permission.type === input.sensitiveType;
    for await (const r of input.engine.lookupResources({
      resourceType: permission.type,
      permission: permission.name,
      subject,
      consistency: { kind: "at-exact-snapshot", token: input.token },
    })) {
      reached++;
      if (r.state === "CONDITIONAL") conditional++;
      if (countSensitive && input.sensitive.has(r.resourceId)) sensitive++;
    }
    const count: ReachCount = { reached, conditional, sensitive };
    const name = `${permission.type}#${permission.name}`;
    for (const m of members) table.get(m.key)!.set(name, count);
  });
  return { table, stats: { walks: jobs.length, classes: classes.size } };
}
