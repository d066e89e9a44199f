/**
 * A per-schema evaluation plan: every name of the compiled schema resolved to the node it refers
 * to, once, so the hot path never looks a relation up by name, and each member knows which of its
 * object's relations it will read (fetched together, in one store call per batch of objects).
 */
import type { AllowedSubject, CompiledSchema, PermissionExpr } from "../schema/index.js";

export interface PlanDef {
  readonly name: string;
  readonly members: ReadonlyMap<string, PlanMember>;
}

export interface PlanMember {
  readonly def: PlanDef;
  readonly name: string;
  readonly isRelation: boolean;
  /** `type#name`, the subproblem label and cache-key part. */
  readonly label: string;
  node: PlanNode;
  /** Relations of the same object this member may read: read them all at once. */
  prefetch: readonly string[];
  /** For relations: the allowed subjects, as declared. */
  readonly allowed: readonly AllowedSubject[];
  /**
   * A "membership" relation (like `group#member`): the target of some subject set, and made only
   * of relations all the way down (no permission behind any of its subject sets). Membership in
   * it can be found by walking from the subject upwards (reverse lookups) instead of downwards.
   */
  indexed: boolean;
}

export type PlanNode =
  | { readonly k: "relation"; readonly name: string }
  | { readonly k: "union" | "intersection"; readonly children: readonly PlanNode[] }
  | { readonly k: "exclusion"; readonly base: PlanNode; readonly subtract: PlanNode }
  | { readonly k: "computed"; readonly target: PlanMember }
  | {
      readonly k: "arrow";
      readonly tupleset: string;
      readonly computed: string;
      readonly mode: "any" | "all";
      /** The computed member on each subject type that has it. */
      readonly targets: ReadonlyMap<string, PlanMember>;
    }
  | { readonly k: "nil" };

export interface Plan {
  /** Distinguishes plans in cache keys (schemas differ ⇒ plans differ). */
  readonly id: number;
  readonly schema: CompiledSchema;
  readonly defs: ReadonlyMap<string, PlanDef>;
}

let nextPlanId = 1;

export function buildPlan(schema: CompiledSchema): Plan {
  const defs = new Map<string, PlanDef>();
  for (const [name, def] of schema.definitions) {
    const members = new Map<string, PlanMember>();
    const planDef: PlanDef = { name, members };
    for (const [memberName, member] of def.members) {
      members.set(memberName, {
        def: planDef,
        name: memberName,
        isRelation: member.kind === "relation",
        label: `${name}#${memberName}`,
        node: { k: "nil" },
        prefetch: [],
        allowed: member.kind === "relation" ? member.allowed : [],
        indexed: false,
      });
    }
    defs.set(name, planDef);
  }
  const targetsByName = new Map<string, Map<string, PlanMember>>();
  const targetsFor = (computed: string): Map<string, PlanMember> => {
    let targets = targetsByName.get(computed);
    if (targets === undefined) {
      targets = new Map();
      for (const [typeName, d] of defs) {
        const m = d.members.get(computed);
        if (m !== undefined) targets.set(typeName, m);
      }
      targetsByName.set(computed, targets);
    }
    return targets;
  };
  const resolve = (def: PlanDef, expr: PermissionExpr): PlanNode => {
    switch (expr.kind) {
      case "union":
      case "intersection":
        return { k: expr.kind, children: expr.children.map((c) => resolve(def, c)) };
      case "exclusion":
        return { k: "exclusion", base: resolve(def, expr.base), subtract: resolve(def, expr.subtract) };
      case "computed": {
        const target = def.members.get(expr.name);
        return target === undefined ? { k: "nil" } : { k: "computed", target };
      }
      case "arrow":
        return {
          k: "arrow",
          tupleset: expr.tupleset,
          computed: expr.computed,
          mode: expr.mode,
          targets: targetsFor(expr.computed),
        };
      case "nil":
        return { k: "nil" };
    }
  };
  for (const [name, def] of schema.definitions) {
    const planDef = defs.get(name)!;
    for (const [memberName, member] of def.members) {
      const pm = planDef.members.get(memberName)!;
      pm.node =
        member.kind === "relation" ? { k: "relation", name: memberName } : resolve(planDef, member.expr);
    }
  }
  for (const planDef of defs.values()) {
    // A member read as part of a wider one (`viewer` inside `view = viewer + owner + parent->view`)
    // prefetches what the wider one reads: the walk asks for them next, and one call reads all.
    const wide = new Map<PlanMember, Set<string>>();
    for (const pm of planDef.members.values()) {
      const seen = new Set<PlanMember>();
      const reads = collectReads(pm, seen);
      for (const m of seen) {
        let set = wide.get(m);
        if (set === undefined) {
          set = new Set();
          wide.set(m, set);
        }
        for (const r of reads) set.add(r);
      }
    }
    for (const pm of planDef.members.values()) pm.prefetch = [...(wide.get(pm) ?? [])];
  }
  markIndexed(defs);
  return { id: nextPlanId++, schema, defs };
}

/** Greatest fixpoint: relations whose subject sets all lead to such relations; then keep targets. */
function markIndexed(defs: ReadonlyMap<string, PlanDef>): void {
  const closed = new Set<PlanMember>();
  for (const d of defs.values()) for (const m of d.members.values()) if (m.isRelation) closed.add(m);
  let changed = true;
  while (changed) {
    changed = false;
    for (const m of closed) {
      for (const a of m.allowed) {
        if (a.relation === undefined) continue;
        const target = defs.get(a.type)?.members.get(a.relation);
        if (target === undefined || !closed.has(target)) {
          closed.delete(m);
          changed = true;
          break;
        }
      }
    }
  }
  for (const d of defs.values()) {
    for (const m of d.members.values()) {
      for (const a of m.allowed) {
        if (a.relation === undefined) continue;
        const target = defs.get(a.type)?.members.get(a.relation);
        if (target !== undefined && closed.has(target)) target.indexed = true;
      }
    }
  }
}

function collectReads(member: PlanMember, seen: Set<PlanMember>, out = new Set<string>()): Set<string> {
  if (seen.has(member)) return out;
  seen.add(member);
  const walk = (node: PlanNode): void => {
    switch (node.k) {
      case "relation":
        out.add(node.name);
        break;
      case "union":
      case "intersection":
        for (const c of node.children) walk(c);
        break;
      case "exclusion":
        walk(node.base);
        walk(node.subtract);
        break;
      case "computed":
        collectReads(node.target, seen, out);
        break;
      case "arrow":
        out.add(node.tupleset);
        break;
      case "nil":
        break;
    }
  };
  walk(member.node);
  return out;
}
