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
  /**
   * Some cycle of members through this one (by the schema: subject sets, arrows, computed members)
   * passes the right-hand side of an exclusion. On data that closes such a cycle a check has no
   * answer (walk-stack.ts, `throughExclusion`), and an answer of this member found on one path
   * (where the cycle was cut as a plain one) could hide that on another: so its answers, and what
   * is built on them, are never reused (infinite height, as past the depth limit). Schemas without
   * such a cycle (nearly all) are unaffected.
   */
  recursesThroughExclusion: boolean;
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
        recursesThroughExclusion: false,
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
  markExclusionCycles(defs);
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

/** A member's next members in the schema's graph, each marked when reached through a right-hand side. */
function edgesOf(defs: ReadonlyMap<string, PlanDef>, member: PlanMember): [PlanMember, boolean][] {
  const out: [PlanMember, boolean][] = [];
  const setsOf = (relation: PlanMember | undefined, negative: boolean) => {
    for (const a of relation?.allowed ?? []) {
      const target = a.relation === undefined ? undefined : defs.get(a.type)?.members.get(a.relation);
      if (target !== undefined) out.push([target, negative]);
    }
  };
  const walk = (node: PlanNode, negative: boolean): void => {
    switch (node.k) {
      case "relation":
        setsOf(member.def.members.get(node.name), negative);
        break;
      case "union":
      case "intersection":
        for (const c of node.children) walk(c, negative);
        break;
      case "exclusion":
        walk(node.base, negative);
        walk(node.subtract, true);
        break;
      case "computed":
        out.push([node.target, negative]);
        break;
      case "arrow":
        for (const a of member.def.members.get(node.tupleset)?.allowed ?? []) {
          const target = node.targets.get(a.type);
          if (target !== undefined) out.push([target, negative]);
        }
        break;
      case "nil":
        break;
    }
  };
  walk(member.node, false);
  return out;
}

/**
 * Sets `recursesThroughExclusion` on every member of a strongly connected component of the
 * members' graph that holds an edge through a right-hand side (Tarjan's algorithm, iterative: a
 * schema may have thousands of members).
 */
function markExclusionCycles(defs: ReadonlyMap<string, PlanDef>): void {
  const members: PlanMember[] = [];
  for (const d of defs.values()) for (const m of d.members.values()) members.push(m);
  const edges = new Map(members.map((m) => [m, edgesOf(defs, m)]));
  const index = new Map<PlanMember, number>();
  const low = new Map<PlanMember, number>();
  const onStack = new Set<PlanMember>();
  const stack: PlanMember[] = [];
  let next = 0;
  for (const root of members) {
    if (index.has(root)) continue;
    const work: [PlanMember, number][] = [[root, 0]];
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const [v, i] = top;
      if (i === 0) {
        index.set(v, next);
        low.set(v, next++);
        stack.push(v);
        onStack.add(v);
      }
      const out = edges.get(v)!;
      if (i < out.length) {
        top[1] = i + 1;
        const w = out[i]![0];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1]?.[0];
      if (parent !== undefined) low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      if (low.get(v) !== index.get(v)) continue;
      const component = new Set<PlanMember>();
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        component.add(w);
      }
      const negative = [...component].some((m) =>
        edges.get(m)!.some(([w, through]) => through && component.has(w)),
      );
      if (negative) for (const m of component) m.recursesThroughExclusion = true;
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
