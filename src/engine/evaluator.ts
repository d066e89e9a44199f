/**
 * The check evaluator. Every subproblem — "which of these objects have `member` for the request's
 * subject" — goes through `dispatch`, batched over many object ids so that fan-out (subject sets,
 * arrows, bulk items) costs one store read per type, not one per tuple. Results are memberships
 * (true or a caveat expression), so they do not depend on the request context and can be cached.
 *
 * Cycles: a subproblem already on the current path counts as "not a member" there (the least
 * fixpoint SpiceDB's semantics imply for recursive data). A result that leaned on such a cut to an
 * ancestor is only valid on that path, so it is not cached. A cut that is a cycle on only some of
 * the merged paths of a batch makes the walk be done again as a fixpoint (fixpoint.ts, `solve`).
 * A cycle through an exclusion's right-hand side has no such answer: it is cut the same way but
 * carried as the `unstratified` leaf (membership.ts).
 *
 * Witnesses: a request that asks for them (`ctx.witness`) gets each answer's proof beside it (`w`,
 * see witness.ts; what each operator contributes is in operators.ts). Such a request shares no
 * answer (no cache, no single-flight, like an explanation): a cached answer carries no proof, so it
 * is computed again; a plain request only tests the flag.
 */
import { LatchError, type Relationship } from "../core/index.js";
import { type Dispatched, type Dispatcher, keyPrefix, keySuffix, type Subproblem } from "./dispatch/index.js";
import { assume, CycleWalk, noteFound, roundsFor, settle } from "./fixpoint.js";
import { addMember, caveatOf, type Member, type Memberships, tooDeep, unstratified } from "./membership.js";
import {
  arrowDone,
  arrowProof,
  arrowStep,
  computedHop,
  exclusion,
  exclusionDone,
  exclusionProof,
  follows,
  fromIndex,
  grantsDirectly,
  indexFits,
  indexProof,
  intersectionDone,
  intersectionProof,
  intersectionStep,
  isSelf,
  namesMember,
  rowProof,
  throughRow,
  unionDone,
  unionProof,
} from "./operators.js";
import { createPacer } from "./pacer.js";
import type { PlanMember, PlanNode } from "./plan.js";
import { NONE, readTuples } from "./read-tuples.js";
import type { RequestContext, TraceNode } from "./request-context.js";
import { collect, type Out, pushTrace, type Traces, wrap } from "./traces.js";
import { type Acc, baseFrame, freshAcc, type Origin, onStack, type Stack } from "./walk-stack.js";
import type { Proof, Proofs } from "./witness.js";

/**
 * Which of `ids` (objects of `member.def`) have `member` for the request's subject. Makes the walk's
 * own checks for each id (the subject itself, a cycle on its path, the depth limit), then asks the
 * engine's dispatcher (dispatch/combined.ts: cache, single-flight, then `evaluate` below) for the
 * rest. Not async itself: the dispatcher's promise is handed back as it is.
 */
function dispatch(
  ctx: RequestContext,
  member: PlanMember,
  ids: readonly string[],
  stack: Stack,
  acc: Acc,
  neg = 0,
  origin?: Origin,
  /** 0 for a step to the same object's own relation, which is not a hop (see walk-stack.ts). */
  hop = 1,
  /**
   * A frame only explaining makes (a plain relation read through a permission, which the other
   * walks read without a frame): it must not change where cycles are cut, or an explanation could
   * answer what the check does not. It is never matched as a cycle, and does not look for one.
   */
  traceOnly = false,
): Promise<Out> {
  if (ctx.signal?.aborted) {
    return Promise.reject(
      new LatchError("request/deadline-exceeded", "deadline-exceeded", "the request was aborted"),
    );
  }
  // Reads from memory answer at once, so without this a long walk would hold the event loop whole.
  // A frame of many ids (a bulk's, or where paths merge) costs as much as many frames of one.
  ctx.pacer ??= createPacer(ctx.signal);
  const pacer = ctx.pacer;
  if (pacer.due(1 + (ids.length >> 3)))
    return pacer.pause().then(() => dispatch(ctx, member, ids, stack, acc, neg, origin, hop, traceOnly));
  // `depth` numbers the frames of the path (cycle cuts point at it); `hops` is what the limit counts.
  const depth = stack.depth + 1;
  const hops = stack.hops + hop;
  if (acc.deepest < hops) acc.deepest = hops;
  const tooFar = hops > ctx.maxDepth;
  ctx.dispatches++;
  const m: Memberships = new Map();
  const t: Traces | undefined = ctx.explain ? new Map() : undefined;
  const w: Proofs | undefined = ctx.witness ? new Map() : undefined;
  const subject = ctx.subject;
  // The ids left for the dispatcher, copied only once one is answered here (most are not).
  let todo: string[] | undefined;
  // Each id's key is built once here (prefix and suffix once per call) and handed on.
  const keyed = !ctx.explain && !ctx.witness;
  const pre = keyed ? keyPrefix(ctx.plan.id, ctx.revision, member) : "";
  const suf = keyed ? keySuffix(member, ctx.subjectKey) : "";
  // Left empty when explaining: nothing is shared then.
  const built: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (isSelf(subject, member, id)) {
      m.set(id, true);
      pushTrace(t, id, { label: `${member.label} (the subject itself)`, member: true });
    } else {
      const cut = traceOnly ? undefined : onStack(stack, member.label, id, neg, origin);
      if (cut !== undefined) {
        // Either way the answer holds only on this path: never cached (see computeInto).
        if (cut.depth < acc.minCut) acc.minCut = cut.depth;
        const at = `${member.def.name}:${id}#${member.name}`;
        if (cut.throughExclusion) {
          // No answer, but no error yet: the check fails only if its answer depends on it (see
          // membership.ts `unstratified`), so the order of work cannot decide the outcome.
          const none = unstratified(member.label, at);
          m.set(id, none);
          // Where such a cycle is cut decides what the rest of it computes: an answer that met one
          // is never reused (infinite height, as past the depth limit), not even from its own root,
          // or what a check says would depend on what was asked before it.
          acc.deepest = Number.POSITIVE_INFINITY;
          pushTrace(t, id, { label: `${at} (cycle through an exclusion)`, member: none });
        } else if (stack.walk.levels !== undefined) {
          // A fixpoint round: what the round before found for it.
          const x = assume(stack.walk, neg, member.label, id);
          if (x.m !== undefined) m.set(id, x.m);
          w?.set(id, x.w);
          pushTrace(t, id, { label: `${at} (cycle, as found before)`, member: x.m });
        } else {
          if (!cut.exact) {
            // "No" may be wrong on the paths this is no cycle on: nothing above it is kept, and
            // the walk is done again (see `solve`).
            stack.walk.partial = true;
            acc.minCut = 0;
          }
          pushTrace(t, id, { label: `${at} (cycle)`, member: undefined });
        }
      } else if (tooFar) {
        // Unknown, not an error yet: the check fails only if its answer depends on it. Whatever
        // leaned on it might resolve from a shallower place, so it is never reused (infinite height).
        acc.deepest = Number.POSITIVE_INFINITY;
        const deep = tooDeep(member.label, ctx.maxDepth);
        m.set(id, deep);
        pushTrace(t, id, {
          label: `${member.def.name}:${id}#${member.name} (past the depth limit)`,
          member: deep,
        });
      } else {
        if (todo !== undefined) todo.push(id);
        if (keyed) built.push(pre + id + suf);
        continue;
      }
    }
    todo ??= ids.slice(0, i);
  }
  let asked: readonly string[] = todo ?? ids;
  let keys: readonly string[] = built;
  if (asked.length === 0) return Promise.resolve({ m, t, w });
  const once = asked.length > 1 ? withoutRepeats(asked, keys) : undefined;
  if (once !== undefined) {
    asked = once.ids;
    keys = once.keys;
  }
  return ctx.dispatcher.dispatch({
    ctx,
    member,
    ids: asked,
    keys,
    stack,
    depth,
    hops,
    neg,
    origin,
    traceOnly,
    m,
    t,
    w,
    acc,
  });
}

/**
 * Which of `ids` (objects of `member.def`) have `member` for the request's subject, asked from the
 * top: every check and lookup starts its walks here. A walk that met a cut that is a cycle on some
 * of its paths only is done again as a fixpoint (fixpoint.ts).
 */
export async function solve(ctx: RequestContext, member: PlanMember, ids: readonly string[]): Promise<Out> {
  const walk = new CycleWalk(roundsFor(ctx.maxDepth));
  const base = baseFrame(walk);
  const out = await dispatch(ctx, member, ids, base, freshAcc());
  if (!walk.partial) return out;
  return settle(walk, 0, ids, () => dispatch(ctx, member, ids, base, freshAcc()));
}

/** `ids` with each id once (and their keys, when there are any); undefined when none repeats. */
function withoutRepeats(
  ids: readonly string[],
  keys: readonly string[],
): { ids: string[]; keys: readonly string[] } | undefined {
  const seen = new Set(ids);
  if (seen.size === ids.length) return undefined;
  const once: string[] = [];
  const onceKeys: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!seen.delete(id)) continue;
    once.push(id);
    if (keys.length > 0) onceKeys.push(keys[i]!);
  }
  return { ids: once, keys: keys.length > 0 ? onceKeys : keys };
}

/** The local dispatcher, innermost of the engine's (see dispatch/combined.ts): walks the member's node. */
export const evaluate: Dispatcher<RequestContext> = { dispatch: computeInto };

async function computeInto(p: Subproblem<RequestContext>): Promise<Dispatched> {
  const { ctx, member, ids, stack, depth, hops, acc, m, t, w, neg, origin, traceOnly } = p;
  // A label no member has, for a frame that must never be found as a cycle (see dispatch).
  const label = traceOnly ? `${member.label} (explaining)` : member.label;
  const walk = stack.walk;
  const frame: Stack = { parent: stack, label, ids: new Set(ids), depth, hops, neg, origin, walk };
  const sub: Acc = { minCut: Number.POSITIVE_INFINITY, validUntil: Number.POSITIVE_INFINITY, deepest: hops };
  const out = await evalNode(ctx, member, member.node, ids, frame, sub, neg);
  if (member.recursesThroughExclusion) sub.deepest = Number.POSITIVE_INFINITY;
  // A fixpoint round's answers rest on what it assumed wherever it met a cut, this frame's own
  // cycles too: only answers that met none are kept. Otherwise cuts to this frame or below
  // (all exact, see onStack) leave an answer that holds on any path.
  const fixing = walk.levels !== undefined;
  if (sub.validUntil < acc.validUntil) acc.validUntil = sub.validUntil;
  if (sub.deepest > acc.deepest) acc.deepest = sub.deepest;
  // The batch's height stands for each id's: never lower than the id's own, so never too lenient.
  const height = sub.deepest - hops + 1;
  if (fixing) noteFound(walk, neg, member.label, ids, out);
  const settled = fixing ? sub.minCut === Number.POSITIVE_INFINITY : sub.minCut >= depth;
  const cacheable = settled && !ctx.explain && height !== Number.POSITIVE_INFINITY;
  if (sub.minCut < acc.minCut && (fixing || sub.minCut < depth)) acc.minCut = sub.minCut;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const r = out.m.get(id);
    if (r !== undefined) m.set(id, r);
    if (w !== undefined) w.set(id, out.w?.get(id));
    if (t !== undefined) {
      const children = out.t?.get(id);
      pushTrace(t, id, {
        label: `${member.def.name}:${id}#${member.name}`,
        member: r,
        ...(children === undefined ? {} : { children }),
      });
    }
  }
  return { m, t, w, ids, keys: p.keys, cacheable, until: sub.validUntil, height };
}

/**
 * Not async itself: leaves hand back their callee's promise, so each node costs no extra promise
 * or microtask; only the combinators below await their children. These functions decide the order
 * of work over batches of ids; what each operator means is in operators.ts, shared with the
 * in-memory walk.
 */
function evalNode(
  ctx: RequestContext,
  member: PlanMember,
  node: PlanNode,
  ids: readonly string[],
  frame: Stack,
  acc: Acc,
  neg: number,
): Promise<Out> {
  switch (node.k) {
    case "nil":
      return Promise.resolve({ m: new Map(), t: undefined });
    case "computed": {
      const target = node.target;
      const next = target.node;
      if (next.k !== "relation") {
        return dispatch(ctx, target, ids, frame, acc, neg, undefined, computedHop(target));
      }
      // A plain relation needs no frame of its own: its only way onwards is a subject set, which
      // dispatches (and so meets cycles) anyway. Skipping the frame saves a key, a cache write and
      // a single-flight entry per id. Not when explaining (the trace names the step), nor when the
      // subject is that very relation (dispatch answers "itself"); either way it is no hop.
      const self = namesMember(ctx.subject, target);
      if (!ctx.explain && !self) return evalRelation(ctx, target, next.name, ids, frame, acc, neg);
      return dispatch(ctx, target, ids, frame, acc, neg, undefined, computedHop(target), !self);
    }
    case "relation":
      return evalRelation(ctx, member, node.name, ids, frame, acc, neg);
    case "arrow":
      return evalArrow(ctx, member, node, ids, frame, acc, neg);
    case "union":
    case "intersection":
    case "exclusion":
      return evalCombined(ctx, member, node, ids, frame, acc, neg);
  }
}

async function evalCombined(
  ctx: RequestContext,
  member: PlanMember,
  node: Extract<PlanNode, { k: "union" | "intersection" | "exclusion" }>,
  ids: readonly string[],
  frame: Stack,
  acc: Acc,
  neg: number,
): Promise<Out> {
  switch (node.k) {
    case "union": {
      const m: Memberships = new Map();
      const t: Traces | undefined = ctx.explain ? new Map() : undefined;
      const w: Proofs | undefined = ctx.witness ? new Map() : undefined;
      let remaining = ids;
      for (const child of node.children) {
        const r = await evalNode(ctx, member, child, remaining, frame, acc, neg);
        if (w !== undefined) {
          for (const id of remaining) w.set(id, unionProof(m.get(id), w.get(id), r.m.get(id), r.w?.get(id)));
        }
        for (const [id, x] of r.m) addMember(m, id, x);
        collect(t, r, remaining, "union");
        if (remaining.length === 1) {
          if (unionDone(m.get(remaining[0]!))) break;
        } else remaining = remaining.filter((id) => !unionDone(m.get(id)));
        if (remaining.length === 0) break;
      }
      return { m, t: wrap(t, ids, m, "union"), w };
    }
    case "intersection": {
      let cur: Memberships | undefined;
      const t: Traces | undefined = ctx.explain ? new Map() : undefined;
      const w: Proofs | undefined = ctx.witness ? new Map() : undefined;
      let active = ids;
      for (const child of node.children) {
        const r = await evalNode(ctx, member, child, active, frame, acc, neg);
        collect(t, r, active, "intersection");
        if (w !== undefined) {
          for (const id of active) w.set(id, intersectionProof(w.get(id), r.m.get(id), r.w?.get(id)));
        }
        // The first operand's answers are the fold's start (everything) narrowed by it.
        let next = r.m;
        if (cur !== undefined) {
          next = new Map();
          for (const id of active) {
            const x = intersectionStep(cur.get(id), r.m.get(id));
            if (!intersectionDone(x)) next.set(id, x);
          }
        }
        cur = next;
        active = active.filter((id) => !intersectionDone(next.get(id)));
        if (active.length === 0) break;
      }
      const m = cur ?? new Map();
      return { m, t: wrap(t, ids, m, "intersection"), w };
    }
    case "exclusion": {
      const t: Traces | undefined = ctx.explain ? new Map() : undefined;
      const base = await evalNode(ctx, member, node.base, ids, frame, acc, neg);
      collect(t, base, ids, "base");
      const active = ids.filter((id) => !exclusionDone(base.m.get(id)));
      const m: Memberships = new Map();
      // The base's proofs stand for the ids it answered no; the others' are replaced below.
      const w: Proofs | undefined = ctx.witness ? new Map(base.w) : undefined;
      if (active.length > 0) {
        const subtracted = () => evalNode(ctx, member, node.subtract, active, frame, acc, neg + 1);
        // In a fixpoint round the right-hand side settles its own cycles first (fixpoint.ts).
        const subtract =
          frame.walk.levels === undefined
            ? await subtracted()
            : await settle(frame.walk, neg + 1, active, subtracted);
        collect(t, subtract, active, "subtract");
        for (const id of active) {
          const b = base.m.get(id);
          const s = subtract.m.get(id);
          if (w !== undefined) w.set(id, exclusionProof(b, base.w?.get(id), s, subtract.w?.get(id)));
          const x = exclusion(b, s);
          if (x !== undefined) m.set(id, x);
        }
      }
      return { m, t: wrap(t, ids, m, "exclusion"), w };
    }
  }
}

async function evalRelation(
  ctx: RequestContext,
  member: PlanMember,
  relation: string,
  ids: readonly string[],
  frame: Stack,
  acc: Acc,
  neg: number,
): Promise<Out> {
  const tuples = await readTuples(ctx, member, relation, ids, acc);
  const m: Memberships = new Map();
  const t: Traces | undefined = ctx.explain ? new Map() : undefined;
  const w: Proofs | undefined = ctx.witness ? new Map() : undefined;
  const s = ctx.subject;
  // Subject sets to expand, by `type#relation`, then subject id, then the (id, caveat) they feed.
  let sets: Map<string, Map<string, { id: string; r: Relationship }[]>> | undefined;
  for (const id of ids) {
    for (const r of tuples.get(id) ?? NONE) {
      const sub = r.subject;
      if (grantsDirectly(sub, s)) {
        const x = throughRow(true, r);
        if (w !== undefined) w.set(id, unionProof(m.get(id), w.get(id), x, r));
        addMember(m, id, x);
        pushTrace(t, id, directTrace(ctx, id, relation, r, x));
        continue;
      }
      // A plain subject that is not this one, or a wildcard for another subject: nothing to expand.
      if (sub.relation === undefined) continue;
      sets ??= new Map();
      const key = `${sub.type}#${sub.relation}`;
      let bySubject = sets.get(key);
      if (bySubject === undefined) {
        bySubject = new Map();
        sets.set(key, bySubject);
      }
      const feeds = bySubject.get(sub.id);
      if (feeds === undefined) bySubject.set(sub.id, [{ id, r }]);
      else feeds.push({ id, r });
    }
  }
  if (sets !== undefined) {
    for (const [key, bySubject] of sets) {
      const hash = key.indexOf("#");
      const target = ctx.plan.defs.get(key.slice(0, hash))?.members.get(key.slice(hash + 1));
      if (target === undefined) continue;
      // Objects already plainly allowed need no more work.
      const subjectIds: string[] = [];
      for (const [sid, feeds] of bySubject) {
        if (t !== undefined || feeds.some((f) => !unionDone(m.get(f.id)))) subjectIds.push(sid);
      }
      if (subjectIds.length === 0) continue;
      // Explaining uses the index too: every path must answer alike (see walk-stack.ts).
      if (target.indexed && ctx.membershipIndex !== undefined) {
        const index = await ctx.membershipIndex();
        if (index !== null && indexFits(index, frame.hops, ctx.maxDepth)) {
          if (acc.deepest < frame.hops + index.levels) acc.deepest = frame.hops + index.levels;
          if (index.validUntil < acc.validUntil) acc.validUntil = index.validUntil;
          for (const sid of subjectIds) {
            const found = fromIndex(index, target, sid);
            // A membership relation is only relations all the way down: a no needs no proof, a
            // yes is proved by the path the index found it through.
            const proof =
              w === undefined || found === undefined ? undefined : indexProof(ctx.plan, index, target, sid);
            for (const f of bySubject.get(sid)!) {
              const y = throughRow(found, f.r);
              if (w !== undefined)
                w.set(f.id, unionProof(m.get(f.id), w.get(f.id), y, rowProof(found, proof, f.r)));
              addMember(m, f.id, y);
              pushTrace(t, f.id, {
                label: `${member.def.name}:${f.id}#${relation} -> ${key.replace("#", `:${sid}#`)} (memberships found upwards from the subject)`,
                member: y,
              });
            }
          }
          continue;
        }
      }
      // The paths each subject is asked for: only objects not yet plainly allowed need it (a path
      // through one that is would make a cycle seen there count for the others; see onStack). An
      // explanation asks for those too, and there they are the only ones.
      const origin = new Map<string, string[]>();
      for (const sid of subjectIds) {
        const feeds = bySubject.get(sid)!;
        const open: string[] = [];
        for (const f of feeds) if (!unionDone(m.get(f.id))) open.push(f.id);
        origin.set(sid, open.length > 0 ? open : feeds.map((f) => f.id));
      }
      const r = await dispatch(ctx, target, subjectIds, frame, acc, neg, origin);
      for (const sid of subjectIds) {
        const x = r.m.get(sid);
        for (const f of bySubject.get(sid)!) {
          const y = throughRow(x, f.r);
          if (w !== undefined) {
            w.set(f.id, unionProof(m.get(f.id), w.get(f.id), y, rowProof(x, r.w?.get(sid), f.r)));
          }
          addMember(m, f.id, y);
          if (t !== undefined) {
            const caveat = caveatOf(f.r);
            pushTrace(t, f.id, {
              label: `${member.def.name}:${f.id}#${relation} -> ${key.replace("#", `:${sid}#`)}`,
              member: y,
              ...(caveat === undefined ? {} : { caveat }),
              children: r.t?.get(sid) ?? [],
            });
          }
        }
      }
    }
  }
  return { m, t, w };
}

function directTrace(
  ctx: RequestContext,
  id: string,
  relation: string,
  r: Relationship,
  x: Member,
): TraceNode {
  const caveat = caveatOf(r);
  const who = r.subject.id === "*" ? `${r.subject.type}:*` : ctx.subjectKey;
  return {
    label: `${r.resource.type}:${id}#${relation}@${who}`,
    member: x,
    ...(caveat === undefined ? {} : { caveat }),
  };
}

async function evalArrow(
  ctx: RequestContext,
  member: PlanMember,
  node: Extract<PlanNode, { k: "arrow" }>,
  ids: readonly string[],
  frame: Stack,
  acc: Acc,
  neg: number,
): Promise<Out> {
  const tuples = await readTuples(ctx, member, node.tupleset, ids, acc);
  const t: Traces | undefined = ctx.explain ? new Map() : undefined;
  // Subjects by type, then id; the arrow follows the object and ignores any subject relation.
  const byType = new Map<string, Map<string, string[]>>();
  for (const id of ids) {
    for (const r of tuples.get(id) ?? NONE) {
      if (!follows(r)) continue;
      let set = byType.get(r.subject.type);
      if (set === undefined) {
        set = new Map();
        byType.set(r.subject.type, set);
      }
      const from = set.get(r.subject.id);
      if (from === undefined) set.set(r.subject.id, [id]);
      else if (from[from.length - 1] !== id) from.push(id);
    }
  }
  const results = new Map<string, Out>();
  for (const [type, set] of byType) {
    const target = node.targets.get(type);
    if (target === undefined) continue;
    results.set(type, await dispatch(ctx, target, [...set.keys()], frame, acc, neg, set));
  }
  const m: Memberships = new Map();
  const w: Proofs | undefined = ctx.witness ? new Map() : undefined;
  const mode = node.mode;
  for (const id of ids) {
    const list = tuples.get(id) ?? NONE;
    let got: Member | undefined;
    let gotw: Proof;
    let first = true;
    for (const r of list) {
      if (!follows(r)) continue;
      const sub = results.get(r.subject.type);
      const xm = sub?.m.get(r.subject.id);
      const x = throughRow(xm, r);
      if (w !== undefined)
        gotw = arrowProof(mode, got, gotw, x, rowProof(xm, sub?.w?.get(r.subject.id), r), r, first);
      got = arrowStep(mode, got, x, first);
      first = false;
      // Explaining traces every object followed; otherwise stop where the rest cannot matter.
      if (t === undefined) {
        if (arrowDone(mode, got)) break;
      } else {
        const caveat = caveatOf(r);
        pushTrace(t, id, {
          label: `${member.def.name}:${id}#${node.tupleset}@${r.subject.type}:${r.subject.id} -> ${node.computed}`,
          member: x,
          ...(caveat === undefined ? {} : { caveat }),
          children: sub?.t?.get(r.subject.id) ?? [],
        });
      }
    }
    if (got !== undefined) m.set(id, got);
    if (w !== undefined) w.set(id, gotw);
  }
  if (t === undefined) return { m, t, w };
  const arrowLabel =
    node.mode === "all" ? `${node.tupleset}.all(${node.computed})` : `${node.tupleset}->${node.computed}`;
  const out: Traces = new Map();
  for (const id of ids) {
    const children = t.get(id) ?? [];
    out.set(id, [{ label: arrowLabel, member: m.get(id), children }]);
  }
  return { m, t: out, w };
}
