/**
 * CheckBulk: items that ask the same question of the same subject form a group; each group is
 * answered from the cache and the in-memory walk where possible and by one batched walk for the
 * rest; one item's error never fails its neighbours. The request yields to the event loop every
 * few milliseconds and honours its deadline between items (pacer.ts). A request that asks for
 * witnesses reads no remembered answer (it has no proof): its walks keep proofs (witness.ts).
 */
import { LatchError, type Relationship, type Revision } from "../core/index.js";
import type { MemorySnapshot } from "../store/index.js";
import { ALLOWED, abortCheck, type CheckDeps, DENIED } from "./check-deps.js";
import { createCaveatEvaluator } from "./evaluate-caveats.js";
import type { Member } from "./membership.js";
import { COSTLY_ITEM, createPacer, type Pacer } from "./pacer.js";
import type { Plan, PlanMember } from "./plan.js";
import type { RequestContext, ResultStore } from "./request-context.js";
import type { SnapshotWalk } from "./snapshot-walk.js";
import type {
  Cancellation,
  CheckBulkItemResult,
  CheckBulkRequest,
  CheckBulkResult,
  RequestOptions,
} from "./types.js";
import { indexContextual, resolveMember, validateContext, validateSubject } from "./validate-request.js";
import { type Proof, proofRelationships } from "./witness.js";

/** Steps of the in-memory walk counted as one unit of the pacer (2^6: a cheap item takes a few). */
const STEP_UNIT_SHIFT = 6;

interface Group {
  readonly member: PlanMember;
  readonly subjectKey: string;
  readonly items: number[];
}

const isDeadline = (e: unknown) => e instanceof LatchError && e.code === "request/deadline-exceeded";

export async function checkBulk(
  deps: CheckDeps,
  request: CheckBulkRequest,
  opts?: RequestOptions,
): Promise<CheckBulkResult> {
  const signal = opts?.signal;
  abortCheck(signal);
  const { maxBulkItems, maxContextual } = deps.limits;
  if (request.items.length > maxBulkItems) {
    throw new LatchError(
      "check/too-many-items",
      "resource-exhausted",
      `at most ${maxBulkItems} items per bulk check, got ${request.items.length}`,
      { max: maxBulkItems, count: request.items.length },
    );
  }
  // Most requests resolve both at once: no await then (each would be a turn of the microtask queue).
  const resolved = deps.revisions.resolve(request.consistency, signal);
  const revision = typeof resolved === "bigint" ? resolved : await resolved;
  const planned = deps.revisions.planAt(revision);
  const plan = planned instanceof Promise ? await planned : planned;
  const contextual = indexContextual(plan, request.contextualRelationships, maxContextual);
  const bulk = new BulkRun(deps, request, plan, revision, contextual, signal);
  for (const group of bulk.group()) {
    abortCheck(signal);
    // Most groups are answered at once from memory: no promise to wait for then.
    const answering = bulk.answer(group);
    if (answering !== undefined) await answering;
  }
  return { results: bulk.results, revision, token: deps.tokens.of(revision) };
}

/** One CheckBulk's state: its results, its in-memory snapshot and walks, and its pacer. */
class BulkRun {
  readonly results: CheckBulkItemResult[];
  private readonly tuples: RequestContext["tuples"] = new Map();
  private readonly resultStore: ResultStore;
  /** One synchronous walk per subject: its answers serve every item of that subject. */
  private readonly walks = new Map<string, SnapshotWalk>();
  private snapshot: MemorySnapshot | undefined;
  private readonly pacer: Pacer;
  private readonly witness: boolean;

  constructor(
    private readonly deps: CheckDeps,
    private readonly request: CheckBulkRequest,
    private readonly plan: Plan,
    private readonly revision: Revision,
    private readonly contextual: ReadonlyMap<string, readonly Relationship[]> | undefined,
    private readonly signal: Cancellation | undefined,
  ) {
    this.results = new Array(request.items.length);
    this.resultStore = deps.resultsFor(contextual);
    this.snapshot = contextual === undefined ? deps.store.at(revision).snapshot?.() : undefined;
    this.pacer = createPacer(signal);
    this.witness = request.witness === true;
  }

  private fail(i: number, e: unknown): void {
    if (e instanceof LatchError)
      this.results[i] = {
        ok: false,
        error: { code: e.code, message: e.message, kind: e.kind, details: e.details },
      };
    else throw e;
  }

  /** Validates every item and groups the valid ones by question and subject. */
  group(): Iterable<Group> {
    const groups = new Map<string, Group>();
    const contextLimits = this.deps.limits.contextLimits;
    this.request.items.forEach((item, i) => {
      try {
        validateContext(item.context, contextLimits);
        const member = resolveMember(this.plan, item.resource, item.permission);
        const subjectKey = validateSubject(this.plan, item.subject);
        const key = `${member.label}@${subjectKey}`;
        const group = groups.get(key);
        if (group === undefined) groups.set(key, { member, subjectKey, items: [i] });
        else group.items.push(i);
      } catch (e) {
        this.fail(i, e);
      }
    });
    return groups.values();
  }

  /** The snapshot is only good until the next yield: take a fresh one after each. */
  private refreshSnapshot(): void {
    if (this.snapshot === undefined) return;
    this.snapshot = this.deps.store.at(this.revision).snapshot?.();
    this.walks.clear();
  }

  /** Undefined when answered synchronously (cache and in-memory walk, no pause for others). */
  answer(group: Group): Promise<void> | undefined {
    const members = new Map<string, Member>();
    // Each id's proof, when the request asks for witnesses.
    const proofs = this.witness ? new Map<string, Proof>() : undefined;
    const ids = this.fromMemory(group, members, proofs, [], 0);
    if (ids instanceof Promise) return ids.then((left) => this.afterMemory(group, left, members, proofs));
    return this.afterMemory(group, ids, members, proofs);
  }

  private afterMemory(
    group: Group,
    ids: readonly string[],
    members: Map<string, Member>,
    proofs: Map<string, Proof> | undefined,
  ) {
    if (ids.length > 0)
      return this.fromStore(group, ids, members, proofs).then(() => this.verdicts(group, members, proofs, 0));
    return this.verdicts(group, members, proofs, 0);
  }

  /**
   * Answers what the cache and the in-memory walk can into `members`, from the group's `start`th
   * item; returns the ids left for the batched evaluator, or a promise of them when it paused to
   * let other requests run.
   */
  private fromMemory(
    group: Group,
    members: Map<string, Member>,
    proofs: Map<string, Proof> | undefined,
    ids: string[],
    start: number,
  ): string[] | Promise<string[]> {
    const items = this.request.items;
    if (this.snapshot === undefined) {
      for (let k = start; k < group.items.length; k++) ids.push(items[group.items[k]!]!.resource.id);
      return ids;
    }
    const deps = this.deps;
    const subject = items[group.items[0]!]!.subject;
    let walk = this.walks.get(group.subjectKey);
    let steps = walk?.steps ?? 0;
    const now = Date.now();
    for (let k = start; k < group.items.length; k++) {
      // The walk's steps count too: one that gives up on a cycle may take thousands first (its
      // budget), so a bulk of such items would otherwise read the clock only every 32 of them.
      const taken = walk === undefined ? 0 : walk.steps - steps;
      steps = walk?.steps ?? 0;
      if (this.pacer.due(1 + (taken >> STEP_UNIT_SHIFT))) {
        // Let other requests run, then go on with a fresh snapshot.
        return this.pacer.pause().then(() => {
          this.refreshSnapshot();
          return this.fromMemory(group, members, proofs, ids, k);
        });
      }
      const id = items[group.items[k]!]!.resource.id;
      if (walk === undefined) {
        walk = deps.snapshotWalk(
          this.plan,
          this.revision,
          this.snapshot,
          subject,
          group.subjectKey,
          this.witness,
        );
        this.walks.set(group.subjectKey, walk);
      }
      const key = deps.topKey(this.plan, this.revision, group.member, id, group.subjectKey);
      if (proofs !== undefined) {
        // Remembered answers without a proof are of no use here: only witnessed ones.
        const known = deps.recallWitnessed(key, now);
        if (known !== undefined) {
          if (known.m !== undefined) members.set(id, known.m);
          proofs.set(id, known.proof);
          continue;
        }
        const m = deps.answerBy(walk, group.member, id, undefined);
        if (m === undefined) ids.push(id);
        else {
          if (m !== false) members.set(id, m);
          proofs.set(id, walk.witness());
          deps.rememberWitnessed(key, walk, m === false ? undefined : m);
        }
        continue;
      }
      const hit = key === undefined ? undefined : deps.recall(key, now);
      if (hit !== undefined) {
        if (hit.m !== undefined) members.set(id, hit.m);
        continue;
      }
      const m = deps.answerBy(walk, group.member, id, key);
      if (m === undefined) ids.push(id);
      else if (m !== false) members.set(id, m);
    }
    return ids;
  }

  /** One batched walk for `ids`; on an error, each id again alone so only its item fails. */
  private async fromStore(
    group: Group,
    ids: readonly string[],
    members: Map<string, Member>,
    proofs: Map<string, Proof> | undefined,
  ): Promise<void> {
    const items = this.request.items;
    const subject = items[group.items[0]!]!.subject;
    const ctx = () => {
      const c = this.deps.makeContext(
        this.plan,
        this.revision,
        subject,
        group.subjectKey,
        this.contextual,
        false,
        this.signal,
        this.tuples,
        this.resultStore,
        this.witness,
      );
      // One pacer for the whole request: a walk per failed item, each too short to yield on its
      // own, would otherwise hold the event loop for all of them.
      c.pacer = this.pacer;
      return c;
    };
    try {
      const out = await this.deps.run(ctx(), group.member, ids);
      for (const [id, m] of out.m) members.set(id, m);
      if (proofs !== undefined) for (const id of ids) proofs.set(id, out.w?.get(id));
      this.refreshSnapshot();
    } catch (e) {
      if (!(e instanceof LatchError) || isDeadline(e)) throw e;
      const failed = new Set(ids);
      for (const i of group.items) {
        const id = items[i]!.resource.id;
        if (!failed.has(id)) continue;
        try {
          const out = await this.deps.run(ctx(), group.member, [id]);
          const m = out.m.get(id);
          if (m !== undefined) members.set(id, m);
          proofs?.set(id, out.w?.get(id));
        } catch (inner) {
          if (isDeadline(inner)) throw inner;
          this.fail(i, inner);
        }
      }
    }
  }

  /**
   * Each item's answer from its membership and its own context, from the group's `start`th item;
   * a promise only when it paused to let other requests run.
   */
  private verdicts(
    group: Group,
    members: ReadonlyMap<string, Member>,
    proofs: ReadonlyMap<string, Proof> | undefined,
    start: number,
  ): Promise<void> | undefined {
    const items = this.request.items;
    const maxCaveatCost = this.deps.limits.maxCaveatCost;
    for (let k = start; k < group.items.length; k++) {
      const i = group.items[k]!;
      if (this.results[i] !== undefined) continue;
      const item = items[i]!;
      const m = members.get(item.resource.id);
      try {
        // Plain answers need no caveat evaluator (most items of a bulk check).
        const v =
          m === true
            ? ALLOWED
            : m === undefined
              ? DENIED
              : createCaveatEvaluator(this.plan.schema, item.context, false, maxCaveatCost).verdict(m);
        this.results[i] =
          proofs === undefined || v.state === "DENIED"
            ? { ok: true, state: v.state, missing: v.missing }
            : {
                ok: true,
                state: v.state,
                missing: v.missing,
                witness: proofRelationships(proofs.get(item.resource.id)),
              };
      } catch (e) {
        this.fail(i, e);
      }
      // A caveat evaluation may take up to its whole cost budget: look at the clock after each.
      if (this.pacer.due(m === true || m === undefined ? 1 : COSTLY_ITEM)) {
        return this.pacer.pause().then(() => {
          this.refreshSnapshot();
          return this.verdicts(group, members, proofs, k + 1);
        });
      }
    }
    return undefined;
  }
}
