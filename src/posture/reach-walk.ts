/**
 * One reverse walk per permission for many subjects at once. LookupResources walks up the reverse
 * indexes from one subject; this walk starts from every identity's relationships at once and
 * carries, for each object a member reaches, the *set* of identities reaching it (their indexes,
 * sorted). A folder's `view` is computed once for every identity that reaches
 * it, not once per identity: the subproblems are shared.
 *
 * Each (member, object) holds two sets: `any`, the identities for which Check may say ALLOWED or
 * CONDITIONAL (a superset), and `def`, those for which it says ALLOWED for sure (a subset). An
 * identity in `def` is reached with no check; one only in `any` is a candidate, which the caller
 * checks (as LookupResources checks its candidates), so a conditional reach stays conditional and
 * a caveat that is false on its stored context alone is no reach. With `any` a superset of the
 * truth and `def` a subset, the answer is exactly Check's, whatever the walk over-approximates.
 *
 * - union, computed members, `->`: sets flow up; a caveated relationship passes `any` only, and
 *   `.all()` passes `any` only (the other branches' subjects are not known here).
 * - intersection: per object, `any` and `def` are the intersections of the operands' sets.
 * - exclusion `base - sub`: `sub` is computed first, to completion, by a walk of its own; then
 *   `any = base.any - sub.def` and `def = base.def - sub.any`. A `sub` that needs the exclusion
 *   it belongs to (recursion through an exclusion) cannot be finished first: there the walk keeps
 *   `base.any` and drops `def`, so those objects are checked.
 * - wildcards: a `type:*` relationship reaches every identity of the type.
 * - expiration: the store reads only unexpired relationships, as for Check.
 *
 * It reads with the same batched reverse lookups as the engine's walk: one store call per
 * (resource type, subject type, subject relation) per round, whatever the number of identities.
 * Unlike LookupResources it does not count depth: sets only grow, so it ends at the fixpoint.
 *
 * Reads from the in-memory copy answer without a macrotask, so a walk over every identity would
 * hold the event loop for the whole report: it yields through its pacer between sets it merges.
 */
import { type Relationship, WILDCARD_ID } from "../core/index.js";
import { createPacer, type Pacer, readReverseBatch } from "../engine/index.js";
import type { CompiledSchema, PermissionExpr, RelationDef } from "../schema/index.js";
import type { StoreReader } from "../store/index.js";

/**
 * A set of identity indexes: a sorted array, never changed once made, so sets are shared by
 * reference (a wildcard's set is one array however many objects it reaches). Identities reach
 * few objects each, so most sets are short; dense bitsets over every identity cost far more.
 */
export type IdSet = readonly number[];

export const EMPTY: IdSet = Object.freeze([]);

/** Identities reaching one object: `def` ⊆ `any`. */
export interface ReachEntry {
  readonly any: IdSet;
  readonly def: IdSet;
}

/** Object id -> the identities reaching it. */
export type ReachSets = Map<string, ReachEntry>;

export interface WalkSource {
  readonly type: string;
  readonly id: string;
}

interface Cell {
  readonly ids: ReachSets;
  readonly links: Link[];
}

interface Edge {
  readonly resourceType: string;
  readonly relation: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly to: Cell;
  /** False when nothing reached over this edge is sure (`.all()`). */
  readonly cap: boolean;
}

/** `sub` is filled in before the walk runs; undefined: recursion, keep `any`, drop `def`. */
interface Exclusion {
  readonly to: Cell;
  /** The exclusion node itself, and what it subtracts. */
  readonly node: PermissionExpr;
  readonly expr: PermissionExpr;
  readonly type: string;
  sub: ReachSets | undefined;
}

type Link =
  | { readonly k: "pass"; readonly to: Cell; readonly cap: boolean }
  | { readonly k: "and"; readonly to: Cell; readonly all: readonly Cell[] }
  | { readonly k: "lookup"; readonly edge: Edge }
  | { readonly k: "minus"; readonly x: Exclusion };

type Delta = Map<string, ReachEntry>;

interface Batch {
  readonly resourceType: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly ids: Set<string>;
  readonly edges: Map<Edge, Delta>;
}

export function union(a: IdSet, b: IdSet): IdSet {
  if (a.length === 0 || a === b) return b;
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      out.push(x);
      i++;
      j++;
    } else if (x < y) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out.length === a.length ? a : out.length === b.length ? b : out;
}

export function minus(a: IdSet, b: IdSet): IdSet {
  if (a.length === 0 || b.length === 0) return a;
  if (a === b) return EMPTY;
  const out: number[] = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x) j++;
    if (j >= b.length || b[j] !== x) out.push(x);
  }
  return out.length === a.length ? a : out.length === 0 ? EMPTY : out;
}

export function intersect(a: IdSet, b: IdSet): IdSet {
  if (a.length === 0 || b.length === 0) return EMPTY;
  if (a === b) return a;
  const out: number[] = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x) j++;
    if (j < b.length && b[j] === x) out.push(x);
  }
  return out.length === a.length ? a : out.length === b.length ? b : out.length === 0 ? EMPTY : out;
}

export interface ReachWalkInput {
  readonly schema: CompiledSchema;
  readonly reader: StoreReader;
  /** The identities; an identity's index in the sets is its index here. */
  readonly sources: readonly WalkSource[];
  /** Asked after each merge and row; absent, the walk makes its own (no deadline). */
  readonly pacer?: Pacer | undefined;
}

function mergeInto(delta: Delta, id: string, any: IdSet, def: IdSet): void {
  const d = delta.get(id);
  delta.set(id, d === undefined ? { any, def } : { any: union(d.any, any), def: union(d.def, def) });
}

/** Every object of `type` whose `permission` may hold some of the sources, with which ones. */
export async function reachSets(input: ReachWalkInput, type: string, permission: string): Promise<ReachSets> {
  const walk = new MultiWalk(input, new Set());
  const cell = walk.target(type, permission);
  await walk.run();
  return cell?.ids ?? new Map();
}

class MultiWalk {
  /** Identity type -> the indexes of its identities (what a wildcard of the type reaches). */
  private readonly ofType = new Map<string, number[]>();
  private readonly cells = new Map<string, Cell>();
  private pending = new Map<Cell, Delta>();
  private lookups = new Map<string, Batch>();
  private readonly exclusions: Exclusion[] = [];
  private readonly pacer: Pacer;

  constructor(
    private readonly input: ReachWalkInput,
    /** Exclusions whose `sub` the walks above this one are computing. */
    private readonly computing: ReadonlySet<PermissionExpr>,
  ) {
    this.pacer = input.pacer ?? createPacer(undefined);
    input.sources.forEach((s, i) => {
      const list = this.ofType.get(s.type);
      if (list === undefined) this.ofType.set(s.type, [i]);
      else list.push(i);
    });
  }

  private relationDef(type: string, name: string): RelationDef | undefined {
    const m = this.input.schema.definitions.get(type)?.members.get(name);
    return m?.kind === "relation" ? m : undefined;
  }

  /** The cell of `type#name`, wired on first use; undefined when the type has no such member. */
  private memberCell(type: string, name: string): Cell | undefined {
    const key = `${type}#${name}`;
    const known = this.cells.get(key);
    if (known !== undefined) return known;
    const member = this.input.schema.definitions.get(type)?.members.get(name);
    if (member === undefined) return undefined;
    const cell: Cell = { ids: new Map(), links: [] };
    this.cells.set(key, cell);
    if (member.kind === "relation") this.wireRelation(member, cell);
    else this.wireExpr(type, member.expr, cell, true);
    return cell;
  }

  /** The cell of the walk's target: its sets are the answer once the walk has run. */
  target(type: string, name: string): Cell | undefined {
    return this.memberCell(type, name);
  }

  private wireRelation(def: RelationDef, cell: Cell): void {
    // The identities' own relationships: plain ones and wildcards of their types.
    const seeds = new Map<string, Delta>();
    for (const a of def.allowed) {
      if (a.relation !== undefined) {
        const source = this.memberCell(a.type, a.relation);
        source?.links.push({
          k: "lookup",
          edge: {
            resourceType: def.definition,
            relation: def.name,
            subjectType: a.type,
            subjectRelation: a.relation,
            to: cell,
            cap: true,
          },
        });
        continue;
      }
      const indexes = this.ofType.get(a.type);
      if (indexes === undefined) continue;
      let delta = seeds.get(a.type);
      if (delta === undefined) {
        delta = new Map();
        seeds.set(a.type, delta);
      }
      if (a.wildcard) delta.set(WILDCARD_ID, { any: indexes, def: indexes });
      else
        for (const i of indexes) {
          const one = [i];
          delta.set(this.input.sources[i]!.id, { any: one, def: one });
        }
    }
    for (const [subjectType, delta] of seeds) {
      if (delta.size === 0) continue;
      const edge: Edge = {
        resourceType: def.definition,
        relation: def.name,
        subjectType,
        subjectRelation: "",
        to: cell,
        cap: true,
      };
      this.queueLookup(edge, delta);
    }
  }

  private wireExpr(type: string, expr: PermissionExpr, out: Cell, cap: boolean): void {
    switch (expr.kind) {
      case "nil":
        return;
      case "computed":
        this.memberCell(type, expr.name)?.links.push({ k: "pass", to: out, cap });
        return;
      case "union":
        for (const child of expr.children) this.wireExpr(type, child, out, cap);
        return;
      case "intersection": {
        const operands = expr.children.map((): Cell => ({ ids: new Map(), links: [] }));
        expr.children.forEach((child, i) => {
          this.wireExpr(type, child, operands[i]!, cap);
        });
        for (const operand of operands) operand.links.push({ k: "and", to: out, all: operands });
        return;
      }
      case "exclusion": {
        const base: Cell = { ids: new Map(), links: [] };
        this.wireExpr(type, expr.base, base, cap);
        const x: Exclusion = { to: out, node: expr, expr: expr.subtract, type, sub: undefined };
        if (!this.computing.has(expr)) this.exclusions.push(x);
        base.links.push({ k: "minus", x });
        return;
      }
      case "arrow": {
        const tupleset = this.relationDef(type, expr.tupleset);
        if (tupleset === undefined) return;
        const seen = new Set<string>();
        for (const a of tupleset.allowed) {
          const key = `${a.type}#${a.relation ?? ""}`;
          if (a.wildcard || seen.has(key)) continue;
          seen.add(key);
          this.memberCell(a.type, expr.computed)?.links.push({
            k: "lookup",
            edge: {
              resourceType: type,
              relation: expr.tupleset,
              subjectType: a.type,
              // The arrow follows the object whatever the subject relation on the tupleset.
              subjectRelation: a.relation ?? "",
              to: out,
              cap: cap && expr.mode === "any",
            },
          });
        }
        return;
      }
    }
  }

  /** Adds `any` (and `def` ⊆ it) to `cell`'s sets for `id`; what is new goes on downstream. */
  private add(cell: Cell, id: string, any: IdSet, def: IdSet): void {
    const cur = cell.ids.get(id);
    let newAny: IdSet;
    let newDef: IdSet;
    if (cur === undefined) {
      // The common case, first reach: no set to merge, the given ones are shared as they are.
      newDef = def;
      newAny = def.length === 0 || def === any ? any : union(any, def);
      if (newAny.length === 0) return;
      cell.ids.set(id, { any: newAny, def: newDef });
    } else {
      newDef = minus(def, cur.def);
      // A sure identity is reached too, whether or not `any` says so.
      newAny = union(minus(any, cur.any), minus(newDef, cur.any));
      if (newAny.length === 0 && newDef.length === 0) return;
      cell.ids.set(id, { any: union(cur.any, newAny), def: union(cur.def, newDef) });
    }
    if (cell.links.length === 0) return;
    let delta = this.pending.get(cell);
    if (delta === undefined) {
      delta = new Map();
      this.pending.set(cell, delta);
    }
    mergeInto(delta, id, newAny, newDef);
  }

  private queueLookup(edge: Edge, delta: Delta): void {
    const key = `${edge.resourceType}\u0000${edge.subjectType}\u0000${edge.subjectRelation}`;
    let batch = this.lookups.get(key);
    if (batch === undefined) {
      batch = { ...edge, ids: new Set(), edges: new Map() };
      this.lookups.set(key, batch);
    }
    let mine = batch.edges.get(edge);
    if (mine === undefined) {
      mine = new Map();
      batch.edges.set(edge, mine);
    }
    for (const [id, bits] of delta) {
      batch.ids.add(id);
      mergeInto(mine, id, bits.any, bits.def);
    }
  }

  /**
   * Pushes pending deltas through the links that need no store call. A pause between entries is
   * safe: the walk's state is its own, and a delta taken off `pending` is finished after it.
   */
  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const [cell, delta] = this.pending.entries().next().value!;
      this.pending.delete(cell);
      for (const link of cell.links) {
        if (link.k === "lookup") {
          this.queueLookup(link.edge, delta);
          continue;
        }
        const entries = delta.entries();
        while (!this.followSome(link, entries)) await this.pacer.pause();
      }
    }
  }

  /**
   * Entries through one link until they run out (true) or the pacer asks for a turn (false). The
   * hot loops stay in synchronous functions: an await inside them slows every iteration.
   */
  private followSome(link: Exclude<Link, { k: "lookup" }>, entries: Iterator<[string, ReachEntry]>): boolean {
    for (let e = entries.next(); !e.done; e = entries.next()) {
      this.follow(link, e.value[0], e.value[1]);
      if (this.pacer.due()) return false;
    }
    return true;
  }

  /** One entry of a delta through one link (a lookup link batches the whole delta instead). */
  private follow(link: Exclude<Link, { k: "lookup" }>, id: string, d: ReachEntry): void {
    switch (link.k) {
      case "pass":
        this.add(link.to, id, d.any, link.cap ? d.def : EMPTY);
        return;
      case "and":
        this.intersect(link.to, link.all, id);
        return;
      case "minus": {
        const sub = link.x.sub;
        const s = sub?.get(id);
        if (sub === undefined) this.add(link.x.to, id, d.any, EMPTY);
        else if (s === undefined) this.add(link.x.to, id, d.any, d.def);
        else this.add(link.x.to, id, minus(d.any, s.def), minus(d.def, s.any));
        return;
      }
    }
  }

  private intersect(to: Cell, all: readonly Cell[], id: string): void {
    let any: IdSet | undefined;
    let def: IdSet | undefined;
    for (const c of all) {
      const bits = c.ids.get(id);
      if (bits === undefined) return;
      any = any === undefined ? bits.any : intersect(any, bits.any);
      def = def === undefined ? bits.def : intersect(def, bits.def);
    }
    if (any !== undefined && def !== undefined) this.add(to, id, any, def);
  }

  /** The exclusions' subtracted sets first (each to completion), then rounds of reads to the fixpoint. */
  async run(): Promise<void> {
    for (const x of this.exclusions) {
      const inner = new MultiWalk({ ...this.input, pacer: this.pacer }, new Set([...this.computing, x.node]));
      const cell: Cell = { ids: new Map(), links: [] };
      inner.wireExpr(x.type, x.expr, cell, true);
      await inner.run();
      x.sub = cell.ids;
    }
    for (;;) {
      await this.drain();
      if (this.lookups.size === 0) return;
      const batches = [...this.lookups.values()];
      this.lookups = new Map();
      const rows = await Promise.all(batches.map((b) => this.read(b)));
      for (const [i, batch] of batches.entries()) await this.apply(batch, rows[i]!);
    }
  }

  private read(batch: Batch): Promise<readonly Relationship[]> {
    return readReverseBatch(this.input.reader, batch);
  }

  private async apply(batch: Batch, rows: readonly Relationship[]): Promise<void> {
    const edges = [...batch.edges];
    let from = this.applySome(edges, rows, 0);
    while (from < rows.length) {
      await this.pacer.pause();
      from = this.applySome(edges, rows, from);
    }
  }

  /** Rows from `start` on until they run out or the pacer asks for a turn; where it stopped. */
  private applySome(edges: readonly [Edge, Delta][], rows: readonly Relationship[], start: number): number {
    for (let i = start; i < rows.length; ) {
      const r = rows[i++]!;
      for (const [edge, delta] of edges) {
        // One call serves several edges: each takes only the rows of its relation and ids.
        if (edge.relation !== r.relation) continue;
        const from = delta.get(r.subject.id);
        if (from === undefined) continue;
        const sure = edge.cap && r.caveat === undefined;
        this.add(edge.to, r.resource.id, from.any, sure ? from.def : EMPTY);
      }
      if (this.pacer.due()) return i;
    }
    return rows.length;
  }
}
