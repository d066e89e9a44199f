/**
 * One reverse walk per permission for many subjects at once. LookupResources walks up the reverse
 * indexes from one subject; this walk starts from every identity's relationships at once and
 * carries, for each object a member reaches, the *set* of identities reaching it (a bitset over
 * the identities' indexes). A folder's `view` is computed once for every identity that reaches
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
 */
import { type Relationship, WILDCARD_ID } from "../core/index.js";
import type { CompiledSchema, PermissionExpr, RelationDef } from "../schema/index.js";
import type { StoreReader } from "../store/index.js";

/** Identities reaching one object: `def` ⊆ `any`; `def` absent when empty. */
export interface ReachBits {
  any: Uint32Array;
  def: Uint32Array | undefined;
}

/** Object id -> the identities reaching it. */
export type ReachSets = Map<string, ReachBits>;

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

type Delta = Map<string, ReachBits>;

interface Batch {
  readonly resourceType: string;
  readonly subjectType: string;
  readonly subjectRelation: string;
  readonly ids: Set<string>;
  readonly edges: Map<Edge, Delta>;
}

/** `a & ~b` when it has a bit set, else undefined. */
function andNot(a: Uint32Array, b: Uint32Array | undefined): Uint32Array | undefined {
  let out: Uint32Array | undefined;
  for (let i = 0; i < a.length; i++) {
    const w = b === undefined ? a[i]! : a[i]! & ~b[i]!;
    if (w === 0) continue;
    out ??= new Uint32Array(a.length);
    out[i] = w;
  }
  return out;
}

function orInto(into: Uint32Array, from: Uint32Array): void {
  for (let i = 0; i < into.length; i++) into[i]! |= from[i]!;
}

/** Calls `f` with each set bit's index. */
export function eachBit(bits: Uint32Array, f: (index: number) => void): void {
  for (let w = 0; w < bits.length; w++) {
    let word = bits[w]!;
    while (word !== 0) {
      const low = word & -word;
      f(w * 32 + 31 - Math.clz32(low));
      word ^= low;
    }
  }
}

export function hasBit(bits: Uint32Array | undefined, index: number): boolean {
  return bits !== undefined && (bits[index >>> 5]! & (1 << (index & 31))) !== 0;
}

export interface ReachWalkInput {
  readonly schema: CompiledSchema;
  readonly reader: StoreReader;
  /** The identities; a bit's index is its index here. */
  readonly sources: readonly WalkSource[];
}

/** Every object of `type` whose `permission` may hold some of the sources, with which ones. */
export async function reachSets(input: ReachWalkInput, type: string, permission: string): Promise<ReachSets> {
  const out: Cell = { ids: new Map(), links: [] };
  const walk = new MultiWalk(input, new Set());
  walk.wireMember(type, permission, out);
  await walk.run();
  return out.ids;
}

class MultiWalk {
  private readonly words: number;
  private readonly cells = new Map<string, Cell>();
  private pending = new Map<Cell, Delta>();
  private lookups = new Map<string, Batch>();
  private readonly exclusions: Exclusion[] = [];

  constructor(
    private readonly input: ReachWalkInput,
    /** Exclusions whose `sub` the walks above this one are computing. */
    private readonly computing: ReadonlySet<PermissionExpr>,
  ) {
    this.words = Math.max(1, Math.ceil(input.sources.length / 32));
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

  /** Makes `out` receive `type#name`'s sets. */
  wireMember(type: string, name: string, out: Cell): void {
    this.memberCell(type, name)?.links.push({ k: "pass", to: out, cap: true });
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
      let delta = seeds.get(a.type);
      if (delta === undefined) {
        delta = new Map();
        seeds.set(a.type, delta);
      }
      this.input.sources.forEach((s, i) => {
        if (s.type !== a.type) return;
        const key = a.wildcard ? WILDCARD_ID : s.id;
        let bits = delta.get(key);
        if (bits === undefined) {
          bits = { any: new Uint32Array(this.words), def: undefined };
          bits.def = bits.any;
          delta.set(key, bits);
        }
        bits.any[i >>> 5]! |= 1 << (i & 31);
      });
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
  private add(cell: Cell, id: string, any: Uint32Array | undefined, def: Uint32Array | undefined): void {
    if (any === undefined && def === undefined) return;
    let cur = cell.ids.get(id);
    let newAny: Uint32Array | undefined;
    let newDef: Uint32Array | undefined;
    if (cur === undefined) {
      cur = { any: new Uint32Array(this.words), def: undefined };
      cell.ids.set(id, cur);
    }
    if (any !== undefined) {
      newAny = andNot(any, cur.any);
      if (newAny !== undefined) orInto(cur.any, newAny);
    }
    if (def !== undefined) {
      newDef = andNot(def, cur.def);
      if (newDef !== undefined) {
        const extra = andNot(newDef, cur.any);
        if (extra !== undefined) {
          orInto(cur.any, extra);
          if (newAny === undefined) newAny = extra;
          else orInto(newAny, extra);
        }
        if (cur.def === undefined) cur.def = newDef.slice();
        else orInto(cur.def, newDef);
      }
    }
    if ((newAny === undefined && newDef === undefined) || cell.links.length === 0) return;
    let delta = this.pending.get(cell);
    if (delta === undefined) {
      delta = new Map();
      this.pending.set(cell, delta);
    }
    const d = delta.get(id);
    if (d === undefined) delta.set(id, { any: newAny ?? new Uint32Array(this.words), def: newDef });
    else {
      if (newAny !== undefined) orInto(d.any, newAny);
      if (newDef !== undefined) {
        if (d.def === undefined) d.def = newDef;
        else orInto(d.def, newDef);
      }
    }
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
      const had = mine.get(id);
      if (had === undefined) mine.set(id, { any: bits.any.slice(), def: bits.def?.slice() });
      else {
        orInto(had.any, bits.any);
        if (bits.def !== undefined) {
          if (had.def === undefined) had.def = bits.def.slice();
          else orInto(had.def, bits.def);
        }
      }
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
            for (const [id, d] of delta) this.add(link.to, id, d.any, link.cap ? d.def : undefined);
            break;
          case "and":
            for (const id of delta.keys()) this.intersect(link.to, link.all, id);
            break;
          case "lookup":
            this.queueLookup(link.edge, delta);
            break;
          case "minus": {
            const sub = link.x.sub;
            for (const [id, d] of delta) {
              if (sub === undefined) {
                this.add(link.x.to, id, d.any, undefined);
                continue;
              }
              const s = sub.get(id);
              this.add(
                link.x.to,
                id,
                andNot(d.any, s?.def),
                d.def === undefined ? undefined : andNot(d.def, s?.any),
              );
            }
            break;
          }
        }
      }
    }
  }

  private intersect(to: Cell, all: readonly Cell[], id: string): void {
    const any = new Uint32Array(this.words);
    let def: Uint32Array | undefined = new Uint32Array(this.words);
    any.fill(0xffffffff);
    def.fill(0xffffffff);
    for (const c of all) {
      const bits = c.ids.get(id);
      if (bits === undefined) return;
      for (let i = 0; i < any.length; i++) any[i]! &= bits.any[i]!;
      if (def !== undefined) {
        if (bits.def === undefined) def = undefined;
        else for (let i = 0; i < def.length; i++) def[i]! &= bits.def[i]!;
      }
    }
    this.add(to, id, andNot(any, undefined), def === undefined ? undefined : andNot(def, undefined));
  }

  /** The exclusions' subtracted sets first (each to completion), then rounds of reads to the fixpoint. */
  async run(): Promise<void> {
    for (const x of this.exclusions) {
      const inner = new MultiWalk(this.input, new Set([...this.computing, x.node]));
      const cell: Cell = { ids: new Map(), links: [] };
      inner.wireExpr(x.type, x.expr, cell, true);
      await inner.run();
      x.sub = cell.ids;
    }
    for (;;) {
      this.drain();
      if (this.lookups.size === 0) return;
      const batches = [...this.lookups.values()];
      this.lookups = new Map();
      const rows = await Promise.all(batches.map((b) => this.read(b)));
      batches.forEach((batch, i) => {
        this.apply(batch, rows[i]!);
      });
    }
  }

  private read(batch: Batch): Promise<readonly Relationship[]> {
    const relations = new Set<string>();
    for (const edge of batch.edges.keys()) relations.add(edge.relation);
    return this.input.reader.lookupReverse({
      resourceType: batch.resourceType,
      relations: [...relations],
      subjectType: batch.subjectType,
      subjectIds: [...batch.ids],
      subjectRelation: batch.subjectRelation,
    });
  }

  private apply(batch: Batch, rows: readonly Relationship[]): void {
    for (const r of rows) {
      for (const [edge, delta] of batch.edges) {
        // One call serves several edges: each takes only the rows of its relation and ids.
        if (edge.relation !== r.relation) continue;
        const from = delta.get(r.subject.id);
        if (from === undefined) continue;
        const sure = edge.cap && r.caveat === undefined;
        this.add(edge.to, r.resource.id, from.any, sure ? from.def : undefined);
      }
    }
  }
}
