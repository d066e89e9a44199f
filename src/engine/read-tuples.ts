/** The walk's reads: relationships of many objects at once, remembered for the rest of the request. */
import type { Relationship } from "../core/index.js";
import type { PlanMember } from "./plan.js";
import type { RequestContext } from "./request-context.js";
import type { Acc } from "./walk-stack.js";

/** Shared by every object without relationships; replaced by a fresh array on the first push. */
export const NONE: Relationship[] = Object.freeze([]) as unknown as Relationship[];

/**
 * Reads `relation` for many objects, fetching every relation the member needs in one call. The
 * answer is the request's memo for `relation`: it holds every id asked (and maybe more).
 */
export async function readTuples(
  ctx: RequestContext,
  member: PlanMember,
  relation: string,
  ids: readonly string[],
  acc: Acc,
): Promise<ReadonlyMap<string, readonly Relationship[]>> {
  const type = member.def.name;
  const members = member.def.members;
  // Memos are keyed by the relation's plan member: no key string is built per call.
  const own = members.get(relation);
  let byId = own === undefined ? undefined : ctx.tuples.get(own);
  let missing: readonly string[] = ids;
  if (byId !== undefined) {
    // Most calls find every id read already (a relation after its siblings): no list is made then.
    let absent: string[] | undefined;
    for (const id of ids) {
      if (byId.has(id)) continue;
      if (absent === undefined) absent = [id];
      else absent.push(id);
    }
    missing = absent ?? [];
  }
  if (missing.length > 0) {
    const wanted = member.prefetch.includes(relation) ? member.prefetch : [relation];
    const found = await ctx.reader.lookupForward({
      resourceType: type,
      resourceIds: missing,
      relations: wanted,
    });
    // Per wanted relation: its memo, and which ids this call fills (undefined: all of `missing`).
    const memos = new Map<string, { memo: Map<string, Relationship[]>; fresh: Set<string> | undefined }>();
    for (const rel of wanted) {
      // Only this function fills the memos, always with arrays of its own.
      const relMember = members.get(rel);
      let memo = (relMember === undefined ? undefined : ctx.tuples.get(relMember)) as
        | Map<string, Relationship[]>
        | undefined;
      if (memo === undefined) {
        memo = new Map();
        if (relMember !== undefined) ctx.tuples.set(relMember, memo);
      }
      let fresh: Set<string> | undefined;
      for (const id of missing) {
        if (memo.has(id)) {
          // An earlier call (for another relation) already read some: add rows only for the rest.
          const m = memo;
          fresh = new Set(missing.filter((x) => !m.has(x)));
          break;
        }
      }
      for (const id of missing) {
        if (memo.has(id)) continue;
        const extra = ctx.contextual?.get(`${type}:${id}#${rel}`);
        let list = NONE;
        if (extra !== undefined) {
          list = [];
          for (const r of extra)
            if (r.expiration === undefined || r.expiration.getTime() > ctx.now) list.push(r);
        }
        memo.set(id, list);
      }
      memos.set(rel, { memo, fresh });
    }
    for (const r of found) {
      const into = memos.get(r.relation);
      if (into === undefined) continue;
      const id = r.resource.id;
      if (into.fresh !== undefined && !into.fresh.has(id)) continue;
      const list = into.memo.get(id);
      if (list === undefined) continue;
      if (list === NONE) into.memo.set(id, [r]);
      else list.push(r);
    }
    byId = memos.get(relation)!.memo;
  }
  const memo = byId!;
  for (const id of ids) {
    const list = memo.get(id);
    if (list === undefined) continue;
    for (const r of list) {
      if (r.expiration !== undefined) {
        const at = r.expiration.getTime();
        if (at < acc.validUntil) acc.validUntil = at;
      }
    }
  }
  return memo;
}
