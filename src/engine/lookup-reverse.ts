/**
 * The reverse walk of LookupResources: from the subject, up the reverse indexes, to every object
 * whose member may contain it. Each member (and each intersection operand) is a cell holding the
 * ids reached so far, each flagged *definite* when reached along a path of uncaveated
 * relationships through unions, computed members and `->` arrows only: such an object has the
 * member for the subject, so Check says ALLOWED and no check is needed. Anything else (a caveat on
 * the way, an intersection, an exclusion's base, `.all()`) is a candidate for the check path.
 *
 * Propagation is semi-naive and round-based: each round sends only the ids new to a cell (or newly
 * definite) along its edges, and one store call serves every edge with the same
 * (resource type, subject type, subject relation), however many ids and relations it carries.
 * A member whose own expression intersects or excludes has its candidates confirmed by the check
 * dispatcher as they arrive, so a false candidate stops there instead of spreading upwards.
 *
 * Witnesses (only when LookupResources is asked for them, see `reverseSteps`): a definite object
 * is proved by the path that reached it, the row read and the proof of the object that row named
 * (witness.ts: joined in constant time, no array per step), so each cell keeps, beside its ids,
 * the proof of each id first reached definite; a confirmation the dispatcher makes then asks for
 * its proof too. A walk not asked keeps no proofs: only a flag is tested.
 */

import type { Relationship } from "../core/index.js";
import type { RelationDef } from "../schema/index.js";
import type { StoreReader } from "../store/index.js";
import { solve } from "./evaluator.js";
import { deadlineExceeded } from "./lookup-context.js";
import { computedHop } from "./operators.js";
import type { PlanMember, PlanNode } from "./plan.js";
import type { RequestContext } from "./request-context.js";
import { maxDepthExceeded } from "./walk-stack.js";
import { joinProofs, type Proof } from "./witness.js";

/** Object id -> definite: what moves along the links (a round's delta). */
export type Reached = Map<string, boolean>;

/**
 * A cell holds what it reached as two sets rather than one id -> definite map: nearly every id of
 * a large lookup is definite, so adding one is a single `Set.add` (its size tells whether it was
 * new), and a caller that finds `open` empty knows every id is definite without a lookup per id.
 * At 100,000 results these probes, each a likely cache miss, were the largest part of the walk's
 * time (a CPU profile of bench/lookup-join-cpu.ts).
 */
interface Cell {
  /** The member it belongs to, for the depth error. */
  readonly label: string;
  /** Every id reached so far. */
  readonly ids: Set<string>;
  /** The ids among `ids` reached along no definite path yet (candidates for the check path). */
  readonly open: Set<string>;
  readonly links: Link[];
  /** In a proving walk, the proof of each id reached definite (the first path that did). */
  readonly proofs: Map<string, Proof> | undefined;
}

interface Edge {
  readonly resourceType: string;
  readonly relation: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly to: Cell;
  /** False when nothing reached over this edge can be definite (`.all()`). */
  readonly cap: boolean;
  /** The cell whose ids this edge reads up from (whose proofs its rows extend); none for the seeds. */
  readonly from: Cell | undefined;
}

type Link =
  | { readonly k: "pass"; readonly to: Cell; readonly cap: boolean; readonly hop: 0 | 1 }
  | { readonly k: "and"; readonly to: Cell; readonly all: readonly Cell[] }
  | { readonly k: "lookup"; readonly edge: Edge }
  | { readonly k: "confirm"; readonly member: PlanMember; readonly to: Cell };

interface LookupBatch {
  readonly resourceType: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly ids: Set<string>;
  readonly edges: Map<Edge, Reached>;
}

/** A batch of reverse edges sharing (resource type, subject type, subject relation): one read serves them all. */
export interface ReverseBatch {
  readonly resourceType: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly ids: ReadonlySet<string>;
  readonly edges: ReadonlyMap<{ readonly relation: string }, unknown>;
}

/** The rows of every edge of a batch, in one store call; each edge then takes its relation's rows. */
export function readReverseBatch(reader: StoreReader, batch: ReverseBatch): Promise<readonly Relationship[]> {
  const relations = new Set<string>();
  for (const edge of batch.edges.keys()) relations.add(edge.relation);
  return reader.lookupReverse({
    resourceType: batch.resourceType,
    relations: [...relations],
    subjectType: batch.subjectType,
    subjectIds: [...batch.ids],
    subjectRelation: batch.subjectRelation,
  });
}

/** Rows per slice of `applyEdge`: enough loads in flight, few enough to stay in the nearest cache. */
const GATHER = 1024;

const newCell = (label: string, proving: boolean): Cell => ({
  label,
  ids: new Set(),
  open: new Set(),
  links: [],
  proofs: proving ? new Map() : undefined,
});

function hasNonMonotone(node: PlanNode): boolean {
  switch (node.k) {
    case "intersection":
    case "exclusion":
      return true;
    case "arrow":
      return node.mode === "all";
    case "union":
      return node.children.some(hasNonMonotone);
    default:
      return false;
  }
}

/**
 * The walk one level at a time, so that LookupResources can hand on what a level proves before it
 * reads the next. `level` counts the rounds of reads done; `fresh()` gives the objects of the
 * target first reached since it was last called, with `reached` telling which are definite.
 */
export interface ReverseSteps {
  readonly level: number;
  /** How many of the target's objects reached so far are candidates (0: every one is definite). */
  readonly candidates: number;
  /** Whether `id`, an object of the target already reached, was reached along no definite path. */
  isCandidate(id: string): boolean;
  /** The target's objects first reached since the last call, in the order they were reached. */
  fresh(): string[];
  /** One more round of reads and what follows from it; false when nothing was left to read. */
  advance(): Promise<boolean>;
  /** In a proving walk, the proof of a definite object of the target (the path that reached it). */
  proofOf(id: string): Proof;
}

/**
 * Starts the walk to every object of `target.def` whose `target` member may hold the subject.
 * With `proving` (a context like `ctx` that asks for witnesses), the walk keeps the proof of each
 * definite object and confirms candidates through `proving`, so that their proofs come too.
 */
export async function reverseSteps(
  ctx: RequestContext,
  target: PlanMember,
  proving?: RequestContext,
): Promise<ReverseSteps> {
  const walk = new ReverseWalk(ctx, target, proving);
  const cell = walk.memberCell(target);
  await walk.open();
  return {
    get level() {
      return walk.level;
    },
    get candidates() {
      return cell.open.size;
    },
    isCandidate: (id) => cell.open.has(id),
    fresh: () => walk.takeFresh(),
    advance: () => walk.advance(),
    proofOf: (id) => cell.proofs?.get(id),
  };
}

class ReverseWalk {
  private readonly cells = new Map<PlanMember, Cell>();
  private pending = new Map<Cell, Reached>();
  /** What the steps that are a hop (see walk-stack.ts) carry into the next level. */
  private deferred = new Map<Cell, Reached>();
  /** In a proving walk, the proofs of the deferred ids that are definite. */
  private deferredProofs = new Map<Cell, Map<string, Proof>>();
  /**
   * The depth, as Check counts it from the resource down, of what is added now: each level is one
   * hop up (a read, or a step from another permission of the object), so an object first reached
   * at level n is checked n hops down to the subject. Level 0 is the subject itself; a subject set
   * met by a dispatch of its own member, rather than named in a row, counts one hop less there.
   */
  level = 0;
  /** The target's cell, and its objects first reached since `takeFresh` last ran. */
  private out: Cell | undefined;
  private fresh: string[] = [];
  private lookups = new Map<string, LookupBatch>();
  private confirms = new Map<PlanMember, { to: Cell; ids: string[] }>();
  private wired = false;
  /** Ids the dispatcher already decided, per member that needs confirmation. */
  private readonly decided = new Map<PlanMember, Set<string>>();
  /** `applyEdge`'s slice of ids (and whether each is definite), reused from slice to slice. */
  private readonly gathered: string[] = [];
  private readonly gatheredDefinite: boolean[] = [];

  constructor(
    private readonly ctx: RequestContext,
    /** LookupResources checks its candidates level by level: no need to confirm them here. */
    private readonly target: PlanMember,
    /** Keep proofs, and confirm candidates through this context (which keeps theirs). */
    private readonly proving: RequestContext | undefined,
  ) {}

  memberCell(member: PlanMember): Cell {
    const known = this.cells.get(member);
    if (known !== undefined) return known;
    const proving = this.proving !== undefined;
    const cell = newCell(member.label, proving);
    this.cells.set(member, cell);
    if (member === this.target) this.out = cell;
    const s = this.ctx.subject;
    // A subject set is a member of itself.
    if (s.relation === member.name && s.type === member.def.name) this.add(cell, s.id, true, undefined);
    if (member.isRelation) this.wireRelation(member, cell);
    else if (member !== this.target && hasNonMonotone(member.node)) {
      const raw = newCell(member.label, proving);
      this.wireNode(member, member.node, raw, true);
      raw.links.push({ k: "confirm", member, to: cell });
      this.decided.set(member, new Set());
    } else this.wireNode(member, member.node, cell, true);
    return cell;
  }

  private relationDef(type: string, name: string): RelationDef | undefined {
    const m = this.ctx.plan.schema.definitions.get(type)?.members.get(name);
    return m?.kind === "relation" ? m : undefined;
  }

  private wireRelation(member: PlanMember, cell: Cell): void {
    const def = this.relationDef(member.def.name, member.name);
    if (def === undefined) return;
    const s = this.ctx.subject;
    const seeds = new Set<string>();
    for (const a of def.allowed) {
      if (a.relation === undefined) {
        // Plain objects and wildcards only ever match a plain subject of their type.
        if (s.relation === undefined && a.type === s.type) seeds.add(a.wildcard ? "*" : s.id);
        continue;
      }
      const source = this.ctx.plan.defs.get(a.type)?.members.get(a.relation);
      if (source === undefined) continue;
      const edge: Edge = {
        resourceType: member.def.name,
        relation: member.name,
        subjectType: a.type,
        subjectRelation: a.relation,
        to: cell,
        cap: true,
        from: this.memberCell(source),
      };
      edge.from!.links.push({ k: "lookup", edge });
    }
    if (seeds.size > 0) {
      const edge: Edge = {
        resourceType: member.def.name,
        relation: member.name,
        subjectType: s.type,
        subjectRelation: "",
        to: cell,
        cap: true,
        from: undefined,
      };
      this.queueLookup(edge, new Map([...seeds].map((id) => [id, true])));
    }
  }

  private wireNode(member: PlanMember, node: PlanNode, out: Cell, cap: boolean): void {
    switch (node.k) {
      case "nil":
      case "relation":
        return;
      case "computed":
        this.memberCell(node.target).links.push({ k: "pass", to: out, cap, hop: computedHop(node.target) });
        return;
      case "union":
        for (const child of node.children) this.wireNode(member, child, out, cap);
        return;
      case "exclusion":
        // Only the base yields candidates; the dispatcher applies the subtraction.
        this.wireNode(member, node.base, out, false);
        return;
      case "intersection": {
        // Candidates must be in every operand, so walking one operand is enough (checks decide
        // the rest). Operands a wildcard of the subject's type reaches would yield every object
        // of the type (`& cleared` with `cleared: user:* with clearance`): walk the others.
        const narrow = node.children.filter((child) => !this.reachesWildcard(member, child, new Set()));
        const walked = narrow.length > 0 ? narrow : node.children;
        const operands = walked.map(() => newCell(member.label, this.proving !== undefined));
        walked.forEach((child, i) => {
          this.wireNode(member, child, operands[i]!, true);
        });
        for (const operand of operands) operand.links.push({ k: "and", to: out, all: operands });
        return;
      }
      case "arrow": {
        const tupleset = this.relationDef(member.def.name, node.tupleset);
        if (tupleset === undefined) return;
        const seen = new Set<string>();
        for (const a of tupleset.allowed) {
          const target = node.targets.get(a.type);
          const key = `${a.type}#${a.relation ?? ""}`;
          if (a.wildcard || target === undefined || seen.has(key)) continue;
          seen.add(key);
          const edge: Edge = {
            resourceType: member.def.name,
            relation: node.tupleset,
            subjectType: a.type,
            // The arrow follows the object whatever the subject relation on the tupleset.
            subjectRelation: a.relation ?? "",
            to: out,
            cap: cap && node.mode === "any",
            from: this.memberCell(target),
          };
          edge.from!.links.push({ k: "lookup", edge });
        }
        return;
      }
    }
  }

  /** Whether a wildcard of the subject's type may feed `node` (statically, from the schema). */
  private reachesWildcard(member: PlanMember, node: PlanNode, seen: Set<PlanMember>): boolean {
    const s = this.ctx.subject;
    if (s.relation !== undefined) return false;
    const viaMember = (m: PlanMember): boolean => {
      if (seen.has(m)) return false;
      seen.add(m);
      if (!m.isRelation) return this.reachesWildcard(m, m.node, seen);
      const def = this.relationDef(m.def.name, m.name);
      return (
        def?.allowed.some((a) => {
          if (a.wildcard) return a.type === s.type;
          if (a.relation === undefined) return false;
          const source = this.ctx.plan.defs.get(a.type)?.members.get(a.relation);
          return source !== undefined && viaMember(source);
        }) ?? false
      );
    };
    switch (node.k) {
      case "nil":
        return false;
      case "relation":
      case "computed":
        return viaMember(node.k === "computed" ? node.target : member);
      case "union":
      case "intersection":
        return node.children.some((c) => this.reachesWildcard(member, c, seen));
      case "exclusion":
        return this.reachesWildcard(member, node.base, seen);
      case "arrow":
        return [...node.targets.values()].some((t) => viaMember(t));
    }
  }

  /** Reaches `id` in `cell`; `proof` (a proving walk's, for a definite id) is how. */
  private add(cell: Cell, id: string, definite: boolean, proof: Proof): void {
    const ids = cell.ids;
    const before = ids.size;
    ids.add(id);
    const added = ids.size !== before;
    if (added) {
      if (!definite) cell.open.add(id);
    } else if (!definite || cell.open.size === 0 || !cell.open.delete(id)) {
      // Known, and no news: a candidate again, or definite already.
      return;
    }
    // Past the limit, and a resource or on the way to one: its Check fails, so does the lookup
    // (the cell's new state does not matter then: the walk ends with the error).
    if (this.level > this.ctx.maxDepth && (cell.links.length > 0 || cell === this.out)) {
      throw maxDepthExceeded("lookup", this.ctx.maxDepth, cell.label);
    }
    if (definite && proof !== undefined) cell.proofs?.set(id, proof);
    if (added && cell === this.out) this.fresh.push(id);
    // Every cell is wired before the walk starts: then one nobody reads needs no delta.
    if (this.wired && cell.links.length === 0) return;
    let delta = this.pending.get(cell);
    if (delta === undefined) {
      delta = new Map();
      this.pending.set(cell, delta);
    }
    if (delta.get(id) !== true) delta.set(id, definite);
  }

  private queueLookup(edge: Edge, delta: Reached): void {
    const key = `${edge.resourceType}\u0000${edge.subjectType}\u0000${edge.subjectRelation}`;
    let batch = this.lookups.get(key);
    if (batch === undefined) {
      batch = {
        resourceType: edge.resourceType,
        subjectType: edge.subjectType,
        subjectRelation: edge.subjectRelation,
        ids: new Set(),
        edges: new Map(),
      };
      this.lookups.set(key, batch);
    }
    let mine = batch.edges.get(edge);
    if (mine === undefined) {
      mine = new Map();
      batch.edges.set(edge, mine);
    }
    for (const [id, definite] of delta) {
      batch.ids.add(id);
      if (mine.get(id) !== true) mine.set(id, definite);
    }
  }

  /** Pushes pending deltas through the links that need no store call. */
  private drain(): void {
    while (this.pending.size > 0) {
      const [cell, delta] = this.pending.entries().next().value!;
      this.pending.delete(cell);
      for (const link of cell.links) {
        switch (link.k) {
          case "pass":
            // A computed member proves what its target proves: the proof passes on unchanged.
            if (link.hop === 0) {
              for (const [id, definite] of delta) {
                const d = definite && link.cap;
                this.add(link.to, id, d, d ? cell.proofs?.get(id) : undefined);
              }
              break;
            }
            this.defer(cell, link.to, delta, link.cap);
            break;
          case "and":
            for (const id of delta.keys()) {
              if (link.all.every((c) => c.ids.has(id))) this.add(link.to, id, false, undefined);
            }
            break;
          case "lookup":
            this.queueLookup(link.edge, delta);
            break;
          case "confirm": {
            const decided = this.decided.get(link.member)!;
            for (const [id, definite] of delta) {
              // Definite inside the member's own expression means a union branch already holds.
              if (definite) this.add(link.to, id, true, cell.proofs?.get(id));
              else if (!decided.has(id)) {
                decided.add(id);
                let batch = this.confirms.get(link.member);
                if (batch === undefined) {
                  batch = { to: link.to, ids: [] };
                  this.confirms.set(link.member, batch);
                }
                batch.ids.push(id);
              }
            }
            break;
          }
        }
      }
    }
  }

  /** A step that is a hop: `delta` of `from` reaches `to` at the next level. */
  private defer(from: Cell, to: Cell, delta: Reached, cap: boolean): void {
    let next = this.deferred.get(to);
    if (next === undefined) {
      next = new Map();
      this.deferred.set(to, next);
    }
    let proofs: Map<string, Proof> | undefined;
    if (from.proofs !== undefined) {
      proofs = this.deferredProofs.get(to);
      if (proofs === undefined) {
        proofs = new Map();
        this.deferredProofs.set(to, proofs);
      }
    }
    for (const [id, definite] of delta) {
      const d = definite && cap;
      if (next.get(id) === true) continue;
      next.set(id, d);
      const proof = d ? from.proofs?.get(id) : undefined;
      if (proof !== undefined) proofs?.set(id, proof);
    }
  }

  takeFresh(): string[] {
    const fresh = this.fresh;
    this.fresh = [];
    return fresh;
  }

  /** Level 0: the subject itself and what follows from it without a read. */
  async open(): Promise<void> {
    this.wired = true;
    await this.settle();
  }

  /** A level's deltas and confirmations, until nothing more follows without a read. */
  private async settle(): Promise<void> {
    this.drain();
    while (this.confirms.size > 0) {
      const confirms = this.confirms;
      this.confirms = new Map();
      for (const [member, { to, ids }] of confirms) {
        // A confirmed candidate stays at its level: the member's own expression is no hop.
        const checked = await solve(this.proving ?? this.ctx, member, ids);
        for (const id of ids) {
          const m = checked.m.get(id);
          if (m !== undefined) this.add(to, id, m === true, m === true ? checked.w?.get(id) : undefined);
        }
      }
      this.drain();
    }
  }

  /** One round of reads for the next level, then that level settled. */
  async advance(): Promise<boolean> {
    if (this.lookups.size === 0 && this.deferred.size === 0) return false;
    if (this.ctx.signal?.aborted) throw deadlineExceeded(undefined);
    const lookups = [...this.lookups.values()];
    this.lookups = new Map();
    const rows = await Promise.all(lookups.map((b) => this.read(b)));
    // The caller may have gone while the reads were out: no more work for it.
    if (this.ctx.signal?.aborted) throw deadlineExceeded(undefined);
    this.level++;
    const deferred = this.deferred;
    const deferredProofs = this.deferredProofs;
    this.deferred = new Map();
    this.deferredProofs = new Map();
    for (const [cell, delta] of deferred) {
      const proofs = deferredProofs.get(cell);
      for (const [id, definite] of delta)
        this.add(cell, id, definite, definite ? proofs?.get(id) : undefined);
    }
    lookups.forEach((batch, i) => {
      this.apply(batch, rows[i]!);
    });
    await this.settle();
    return true;
  }

  private read(batch: LookupBatch): Promise<readonly Relationship[]> {
    return readReverseBatch(this.ctx.reader, batch);
  }

  private apply(batch: LookupBatch, rows: readonly Relationship[]): void {
    if (batch.edges.size === 1) {
      const [edge, delta] = batch.edges.entries().next().value!;
      this.applyEdge(edge, delta, rows);
      return;
    }
    const byRelation = new Map<string, [Edge, Reached][]>();
    for (const entry of batch.edges) {
      const list = byRelation.get(entry[0].relation);
      if (list === undefined) byRelation.set(entry[0].relation, [entry]);
      else list.push(entry);
    }
    for (const r of rows) {
      const edges = byRelation.get(r.relation);
      if (edges === undefined) continue;
      for (const [edge, delta] of edges) {
        // One call serves several edges: each takes only the rows of the ids it asked for.
        const from = delta.get(r.subject.id);
        if (from === undefined) continue;
        const definite = from && edge.cap && r.caveat === undefined;
        // The row, and what proves that its subject holds the member the edge reads up from.
        const proof =
          definite && edge.to.proofs !== undefined
            ? joinProofs(r, edge.from?.proofs?.get(r.subject.id))
            : undefined;
        this.add(edge.to, r.resource.id, definite, proof);
      }
    }
  }

  /**
   * `apply` for a batch of one edge, the usual case, and the one of the large lookups (a level of
   * folders and the documents under them): no map of edges per row, and one lookup of the row's
   * subject per run of rows with the same one (the reverse lists come grouped by subject).
   *
   * Rows go in slices of GATHER, in two passes: first the ids each row reaches, then adding them.
   * Each row's id is two dependent loads (row -> resource -> id) and adding it a third (the string's
   * hash), all likely cache misses in a large copy; one loop doing all three per row waits for each
   * in turn, while the first pass's loads are independent of each other, so the processor has
   * several of them in flight at once. On the scale m join (100,000 results, bench/lookup-join-cpu.ts)
   * the lookup took about a tenth less CPU than with one pass (same-process A/B, alternated).
   */
  private applyEdge(edge: Edge, delta: Reached, rows: readonly Relationship[]): void {
    const relation = edge.relation;
    const to = edge.to;
    const cap = edge.cap;
    const proving = to.proofs !== undefined;
    const ids = this.gathered;
    const definites = this.gatheredDefinite;
    let subjectId: string | undefined;
    let from: boolean | undefined;
    for (let start = 0; start < rows.length; start += GATHER) {
      const end = Math.min(rows.length, start + GATHER);
      let n = 0;
      for (let i = start; i < end; i++) {
        const r = rows[i]!;
        if (r.relation !== relation) continue;
        const id = r.subject.id;
        if (id !== subjectId) {
          subjectId = id;
          from = delta.get(id);
        }
        if (from === undefined) continue;
        const definite = from && cap && r.caveat === undefined;
        if (proving) {
          // A proving walk (witnesses asked, rare) needs the row itself: no second pass.
          const proof = definite ? joinProofs(r, edge.from?.proofs?.get(id)) : undefined;
          this.add(to, r.resource.id, definite, proof);
          continue;
        }
        ids[n] = r.resource.id;
        definites[n] = definite;
        n++;
      }
      for (let j = 0; j < n; j++) this.add(to, ids[j]!, definites[j]!, undefined);
    }
  }
}
