/**
 * A naive reference evaluator: recursive, one object at a time, over an in-memory list of
 * relationships, three-valued (true / false / unknown) with Kleene logic at every step. No
 * batching, no caching, no expressions: obviously correct and slow. Cycles follow the same path
 * semantics as the engine: a subproblem already on the path is "not a member" there.
 */
import type { CheckState, Relationship, SubjectRef } from "../../src/core/index.js";
import type { CompiledSchema, PermissionExpr } from "../../src/schema/index.js";

type Tri = "T" | "F" | "U";

/** Recursion through the right-hand side of an exclusion: not stratified, no defined answer. */
export class CycleThroughExclusion extends Error {}

const and = (a: Tri, b: Tri): Tri => (a === "F" || b === "F" ? "F" : a === "U" || b === "U" ? "U" : "T");
const or = (a: Tri, b: Tri): Tri => (a === "T" || b === "T" ? "T" : a === "U" || b === "U" ? "U" : "F");
const not = (a: Tri): Tri => (a === "T" ? "F" : a === "F" ? "T" : "U");

export function referenceCheck(
  schema: CompiledSchema,
  relationships: readonly Relationship[],
  resource: { type: string; id: string },
  permission: string,
  subject: SubjectRef,
  context: Readonly<Record<string, unknown>> = {},
  now = Date.now(),
): CheckState {
  const live = relationships.filter((r) => r.expiration === undefined || r.expiration.getTime() > now);
  const caveat = (r: Relationship): Tri => {
    if (r.caveat === undefined) return "T";
    const def = schema.caveats.get(r.caveat.name)!;
    const result = def.condition.evaluate({ ...context, ...(r.caveat.context ?? {}) });
    if (result.kind === "error") throw new Error(`caveat error: ${result.message}`);
    return result.kind === "true" ? "T" : result.kind === "false" ? "F" : "U";
  };
  const tuples = (type: string, id: string, relation: string) =>
    live.filter((r) => r.resource.type === type && r.resource.id === id && r.relation === relation);

  /** `path`: subproblems on the way here, with how many exclusion right-hand sides enclosed each. */
  type Path = ReadonlyMap<string, number>;
  let neg = 0;
  const check = (type: string, id: string, name: string, path: Path): Tri => {
    if (subject.type === type && subject.id === id && subject.relation === name) return "T";
    const key = `${type}:${id}#${name}`;
    const seen = path.get(key);
    if (seen !== undefined) {
      if (seen !== neg) throw new CycleThroughExclusion();
      return "F";
    }
    const member = schema.definitions.get(type)?.members.get(name);
    if (member === undefined) return "F";
    const next = new Map(path).set(key, neg);
    if (member.kind === "permission") return expr(type, id, member.expr, next);
    let out: Tri = "F";
    for (const r of tuples(type, id, name)) {
      const s = r.subject;
      let hit: Tri;
      if (s.relation === undefined) {
        hit =
          s.type === subject.type && subject.relation === undefined && (s.id === subject.id || s.id === "*")
            ? "T"
            : "F";
      } else if (s.type === subject.type && s.id === subject.id && s.relation === subject.relation) {
        hit = "T";
      } else {
        hit = check(s.type, s.id, s.relation, next);
      }
      out = or(out, and(caveat(r), hit));
    }
    return out;
  };

  const expr = (type: string, id: string, e: PermissionExpr, path: Path): Tri => {
    switch (e.kind) {
      case "nil":
        return "F";
      case "computed":
        return check(type, id, e.name, path);
      case "union":
        return e.children.reduce<Tri>((acc, c) => or(acc, expr(type, id, c, path)), "F");
      case "intersection":
        return e.children.reduce<Tri>((acc, c) => and(acc, expr(type, id, c, path)), "T");
      case "exclusion": {
        const base = expr(type, id, e.base, path);
        if (base === "F") return "F";
        neg++;
        try {
          return and(base, not(expr(type, id, e.subtract, path)));
        } finally {
          neg--;
        }
      }
      case "arrow": {
        const list = tuples(type, id, e.tupleset).filter((r) => r.subject.id !== "*");
        if (e.mode === "all" && list.length === 0) return "F";
        let out: Tri = e.mode === "all" ? "T" : "F";
        for (const r of list) {
          const x = and(caveat(r), check(r.subject.type, r.subject.id, e.computed, path));
          out = e.mode === "all" ? and(out, x) : or(out, x);
        }
        return out;
      }
    }
  };

  const r = check(resource.type, resource.id, permission, new Map());
  return r === "T" ? "ALLOWED" : r === "F" ? "DENIED" : "CONDITIONAL";
}

/** A check's reference answer, or "unstratified" where recursion through an exclusion leaves none. */
export function referenceAnswer(
  schema: CompiledSchema,
  relationships: readonly Relationship[],
  item: {
    readonly resource: { type: string; id: string };
    readonly permission: string;
    readonly subject: SubjectRef;
    readonly context?: Readonly<Record<string, unknown>> | undefined;
  },
  now: number,
): CheckState | "unstratified" {
  try {
    return referenceCheck(
      schema,
      relationships,
      item.resource,
      item.permission,
      item.subject,
      item.context,
      now,
    );
  } catch (e) {
    if (e instanceof CycleThroughExclusion) return "unstratified";
    throw e;
  }
}
