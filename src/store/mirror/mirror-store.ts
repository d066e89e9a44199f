/**
 * A store whose readers answer the engine's hot reads (`lookupForward`, `lookupReverse`, and the
 * synchronous `snapshot`) from a copy of the relationships in memory, and everything else from the
 * store it wraps.
 *
 * How it stays exact: the copy is loaded from an export at revision L, then follows the wrapped
 * store's changes feed, which lists every committed write in revision order (also those made by
 * other processes on a shared file or PostgreSQL database). A read at revision R first applies the
 * changes up to R; entries are versioned, so the reads at R see exactly what the database shows at
 * R even when newer changes are applied. Reads below the floor (L, or later the oldest revision
 * still kept) go to the wrapped store, as do all reads while the copy loads.
 *
 * Above `maxRelationships` the copy keeps whole sets (every relationship of one resource type and
 * relation) up to the limit and sends the reads of the others to the wrapped store (see
 * set-selection.ts for which sets it keeps): a read asking for both kinds is answered by both, and
 * the synchronous snapshot says which sets it holds, so the engine's in-memory walk hands a check
 * that needs another set to the batched evaluator. Answers are the same either way.
 */
import type { Relationship, Revision } from "../../core/index.js";
import { delegateReader, delegateStore } from "../delegate.js";
import { nextTurn } from "../next-turn.js";
import { lastReader } from "../readers.js";
import type {
  ForwardQuery,
  MemorySnapshot,
  PackedRows,
  ReverseQuery,
  ReverseRows,
  Store,
  StoreReader,
} from "../types.js";
import { RelationshipIndex } from "./relationship-index.js";
import { chooseSets, type MirrorSetStats, setKey, splitKey } from "./set-selection.js";

export interface MirrorOptions {
  /**
   * Largest number of relationships to hold (default 5,000,000); above it, the copy holds whole
   * relation sets up to it (see set-selection.ts) and reads the others from the store.
   */
  readonly maxRelationships?: number;
  /**
   * How long deleted relationships are kept for readers of older revisions, in ms (default 10 s).
   * A read older than that goes to the wrapped store: slower, still exact.
   */
  readonly retainMs?: number;
  /** Told when the copy becomes ready, is dropped, or fails to follow the store. */
  readonly onEvent?: (event: MirrorEvent) => void;
}

export type MirrorEvent =
  | {
      readonly kind: "ready";
      readonly relationships: number;
      readonly revision: Revision;
      readonly ms: number;
    }
  /**
   * Over the limit: these sets (`type#relation`) are no longer held, their reads go to the store.
   * `relationships` is what the copy then holds.
   */
  | {
      readonly kind: "partial";
      readonly maxRelationships: number;
      readonly dropped: readonly string[];
      readonly relationships: number;
    }
  | { readonly kind: "error"; readonly error: unknown };

export type MirrorState = "loading" | "ready" | "off";

export interface MirrorStats {
  readonly state: MirrorState;
  readonly relationships: number;
  /** The newest revision applied to the copy. */
  readonly revision: Revision;
  /** Reads below this revision go to the wrapped store. */
  readonly floor: Revision;
  /**
   * Entries kept with their revisions, because some reader the copy serves may not see them: those
   * created since the floor, and those deleted and not yet dropped. Compaction brings it down.
   */
  readonly versioned: number;
  /** True when some sets are not held (the copy is over its limit): see `sets`. */
  readonly partial: boolean;
  /** Every (resource type, relation) the copy knows of, held or not. */
  readonly sets: readonly MirrorSetStats[];
}

export interface MirroredStore extends Store {
  /** Settles when the first load ends: true when the copy serves reads. */
  ready(): Promise<boolean>;
  /**
   * Applies the store's changes up to `revision` now, instead of at the next read or push; true
   * when the copy then answers reads (and snapshots) at `revision`.
   */
  catchUp(revision: Revision): Promise<boolean>;
  stats(): MirrorStats;
}

/**
 * About 111 bytes of heap a relationship at scale `l` (bench/mirror-memory.ts; 125 before plain
 * resources lost their Bucket object): 5,000,000 is about 530 MiB, so scale `l` of the benchmark
 * corpus (4.1M) fits a 1 GiB process. Above it the copy is partial.
 */
export const DEFAULT_MAX_RELATIONSHIPS = 5_000_000;

/** How long pushed commits wait before the copy reads them, so that a burst costs one read. */
const FOLLOW_MS = 20;

/** Rows loaded between two yields to the event loop, so a server keeps answering while it loads. */
const LOAD_SLICE = 20_000;

/** Changes applied between two yields to the event loop (see `applyChanges`). */
const APPLY_SLICE = 1_000;

/** Entries compacted between two yields to the event loop (see `compactRest`). */
const COMPACT_SLICE = 5_000;

/**
 * Longest a read waits for the copy to catch up before the store answers it: a catch-up of a
 * usual write takes a page read (PostgreSQL: a round trip), one of a delete of 200,000
 * relationships seconds (on PostgreSQL its changes query alone about 17 s at scale m).
 */
const IMPATIENT_MS = 50;

/**
 * The copy and its bookkeeping: what it holds (`index`, up to revision `applied`), which readers it
 * may serve (from `floor` up), how it catches up with the store's changes, and how it loads.
 */
class MirrorCopy {
  index: RelationshipIndex | undefined = new RelationshipIndex();
  state: MirrorState = "loading";
  applied = -1;
  floor = Number.POSITIVE_INFINITY;
  /** (revision, when it was applied): the floor moves to revisions applied `retainMs` ago. */
  private readonly history: { revision: number; at: number }[] = [];
  private catching: Promise<void> | undefined;
  /** Whether `compactRest` is at work. */
  private compacting = false;
  /**
   * Readers waiting for a catch-up who go to the store instead once it gives the loop a turn or
   * has kept them IMPATIENT_MS (`patience`: its timer).
   */
  private impatient: { readonly r: number; readonly go: () => void }[] = [];
  private patience: ReturnType<typeof setTimeout> | undefined;
  closed = false;
  /** Sets (`type#relation`) not held: their reads go to the store. Empty while the copy holds all. */
  readonly excluded = new Set<string>();
  /** Of each excluded set: its relationships when it was let go, and reads sent to the store since. */
  private readonly away = new Map<string, { relationships: number; storeReads: number }>();

  constructor(
    private readonly inner: Store,
    private readonly maxRelationships: number,
    private readonly retainMs: number,
    readonly notify: (event: MirrorEvent) => void,
  ) {}

  private drop(event: MirrorEvent): void {
    this.index = undefined;
    this.state = "off";
    this.history.length = 0;
    this.notify(event);
  }

  /**
   * While the copy holds more than allowed, lets go of its largest set (see set-selection.ts):
   * reads of it go to the store from now on.
   */
  private fit(): void {
    const index = this.index;
    if (index === undefined || index.size <= this.maxRelationships) return;
    const dropped: string[] = [];
    while (index.size > this.maxRelationships) {
      let largest: { type: string; relation: string; relationships: number } | undefined;
      for (const set of index.sets())
        if (largest === undefined || set.relationships > largest.relationships) largest = set;
      if (largest === undefined) break;
      dropped.push(this.exclude(largest.type, largest.relation, largest.relationships));
    }
    if (this.state === "ready") this.notifyPartial(dropped);
  }

  private exclude(type: string, relation: string, relationships: number): string {
    const key = setKey(type, relation);
    this.excluded.add(key);
    this.away.set(key, { relationships, storeReads: 0 });
    this.index?.dropSet(type, relation);
    return key;
  }

  private notifyPartial(dropped: readonly string[]): void {
    this.notify({
      kind: "partial",
      maxRelationships: this.maxRelationships,
      dropped,
      relationships: this.index?.size ?? 0,
    });
  }

  /** Whether every relationship of `type#relation` is in the copy. */
  holdsSet(type: string, relation: string): boolean {
    return this.excluded.size === 0 || !this.excluded.has(setKey(type, relation));
  }

  /** The relations of `query` the copy does not hold (counted as store reads); undefined: none. */
  private notHeld(type: string, relations: readonly string[]): string[] | undefined {
    let out: string[] | undefined;
    for (const relation of relations) {
      const info = this.away.get(setKey(type, relation));
      if (info === undefined) continue;
      info.storeReads++;
      if (out === undefined) out = [relation];
      else out.push(relation);
    }
    return out;
  }

  /**
   * Reads and applies the store's changes up to `target`, giving the event loop a turn every
   * APPLY_SLICE changes: a revision can hold hundreds of thousands (a delete by filter), and
   * readers keep being answered from the copy meanwhile. That is exact because every entry a
   * revision later than `applied` adds or deletes carries its revision (RelationshipIndex's
   * versions), so a reader at `applied` or before sees none of a revision half applied.
   */
  private async applyChanges(target: number): Promise<void> {
    let within = 0;
    let sinceTurn = 0;
    while (this.applied < target && this.index !== undefined) {
      const page = await this.inner.changesSince(BigInt(this.applied), undefined, within);
      const index = this.index;
      if (index === undefined) return;
      for (const change of page.changes) {
        if (++sinceTurn >= APPLY_SLICE) {
          sinceTurn = 0;
          this.release(true);
          await nextTurn();
          // Dropped or closed meanwhile: what is left is no longer this copy's to apply.
          if (this.index !== index || this.closed) return;
        }
        const rel = change.relationship;
        if (this.excluded.size !== 0 && this.excluded.has(setKey(rel.resource.type, rel.relation))) continue;
        const revision = Number(change.revision);
        if (change.operation === "touch") index.touch(rel, revision);
        else index.delete(rel, revision);
      }
      if (page.within !== undefined) {
        within = page.within;
        continue;
      }
      within = 0;
      const reached = Number(page.revision);
      if (reached <= this.applied) break;
      this.applied = reached;
      this.history.push({ revision: reached, at: Date.now() });
      this.fit();
    }
    this.moveFloor();
  }

  private moveFloor(): void {
    if (this.index === undefined) return;
    const history = this.history;
    const cutoff = Date.now() - this.retainMs;
    let n = 0;
    while (n < history.length - 1 && history[n + 1]!.at <= cutoff) n++;
    if (n === 0) return;
    // Everything up to history[n] was applied before the cutoff: readers older than it go elsewhere.
    const next = history[n]!.revision;
    history.splice(0, n);
    if (next > this.floor) {
      this.floor = next;
      if (this.index.compact(next, COMPACT_SLICE)) void this.compactRest(this.index);
    }
  }

  /**
   * Goes on compacting `index` up to the floor a slice at a time, a turn of the event loop between
   * slices, while it is still the copy's; one such task at a time, which follows the floor as it
   * moves. Readers are served meanwhile: an entry not yet compacted keeps its version.
   */
  private async compactRest(index: RelationshipIndex): Promise<void> {
    if (this.compacting) return;
    this.compacting = true;
    try {
      do await nextTurn();
      while (this.index === index && !this.closed && index.compact(this.floor, COMPACT_SLICE));
    } catch (error) {
      this.notify({ kind: "error", error });
    } finally {
      this.compacting = false;
    }
  }

  /** Brings the copy to at least `target`; one catch-up at a time, shared by every reader. */
  catchUp(target: number): Promise<void> {
    if (this.catching === undefined) {
      this.catching = this.applyChanges(target).finally(() => {
        this.catching = undefined;
        // Those it brought far enough; the others wait for the catch-up that follows.
        this.release(false);
      });
      return this.catching;
    }
    return this.catching.then(() =>
      this.applied >= target || this.index === undefined ? undefined : this.catchUp(target),
    );
  }

  /**
   * The copy that may answer reads at `r` once it has caught up, or undefined when the wrapped
   * store must answer: loading, dropped, or `r` older than the floor.
   */
  usable(r: number): RelationshipIndex | undefined {
    return this.state === "ready" && r >= this.floor ? this.index : undefined;
  }

  /**
   * Applies the changes up to `r`; false when the copy cannot follow (the store then answers).
   * An impatient reader waits only until the catch-up first gives the event loop a turn, or for
   * IMPATIENT_MS: one that long (a revision of thousands of changes) takes many turns or a long
   * read, and the store answers the reader at `r` meanwhile rather than keep it waiting.
   */
  private async reach(r: number, impatient: boolean): Promise<boolean> {
    const caught = this.catchUp(r);
    const failed = (error: unknown) => {
      this.notify({ kind: "error", error });
      return false;
    };
    if (!impatient) return caught.then(() => this.applied >= r, failed);
    return new Promise<boolean>((resolve) => {
      const go = () => resolve(this.applied >= r);
      this.impatient.push({ r, go });
      if (this.patience === undefined) {
        this.patience = setTimeout(() => {
          this.patience = undefined;
          this.release(true);
        }, IMPATIENT_MS);
        this.patience.unref?.();
      }
      caught.then(go, (error: unknown) => resolve(failed(error)));
    });
  }

  /** Lets waiting readers go on: all of them, or those the copy has caught up for. */
  private release(all: boolean): void {
    if (this.impatient.length === 0) return;
    const waiting = this.impatient;
    this.impatient = [];
    for (const w of waiting) {
      if (all || w.r <= this.applied || this.index === undefined) w.go();
      else this.impatient.push(w);
    }
    if (this.impatient.length === 0 && this.patience !== undefined) {
      clearTimeout(this.patience);
      this.patience = undefined;
    }
  }

  /** Whether the copy answers reads at `r`, once it has caught up to it. */
  async holds(r: number): Promise<boolean> {
    if (this.usable(r) === undefined || (r > this.applied && !(await this.reach(r, false)))) return false;
    return this.usable(r) !== undefined;
  }

  /**
   * One hot read: from the copy when it may answer at `revision` (catching up first if needed),
   * else from the wrapped store. Synchronous up to the copy's answer when no catch-up is needed.
   */
  async read<Q extends { readonly resourceType: string; readonly relations: readonly string[] }>(
    query: Q,
    r: number,
    fromCopy: (copy: RelationshipIndex, query: Q, r: number) => Relationship[],
    fromStore: (query: Q) => Promise<readonly Relationship[]>,
  ): Promise<readonly Relationship[]> {
    if (this.usable(r) !== undefined && (r <= this.applied || (await this.reach(r, true)))) {
      // Checked again: the copy may have been dropped while it caught up.
      const copy = this.usable(r);
      if (copy !== undefined) {
        const away = this.excluded.size === 0 ? undefined : this.notHeld(query.resourceType, query.relations);
        if (away === undefined) return fromCopy(copy, query, r);
        const held = query.relations.filter((relation) => !away.includes(relation));
        if (held.length === 0) return fromStore(query);
        // Both, each for its relations: the copy's part first, read now, before the store's await.
        const mine = fromCopy(copy, { ...query, relations: held }, r);
        const theirs = await fromStore({ ...query, relations: away });
        return theirs.length === 0 ? mine : mine.concat(theirs);
      }
    }
    return fromStore(query);
  }

  /**
   * Streams the relationships at `at` into the copy: those of the sets in `only`, or else of every
   * set not excluded (counting the others). False when the copy was closed meanwhile.
   */
  private async stream(at: Revision, only?: ReadonlySet<string>): Promise<boolean> {
    const into = this.index!;
    let n = 0;
    for await (const rel of this.inner.at(at).exportRelationships()) {
      if (this.closed || this.index === undefined) return false;
      if (only !== undefined) {
        if (only.has(setKey(rel.resource.type, rel.relation))) into.touch(rel, 0);
      } else if (this.excluded.size === 0) into.touch(rel, 0);
      else {
        const away = this.away.get(setKey(rel.resource.type, rel.relation));
        if (away !== undefined) away.relationships++;
        else into.touch(rel, 0);
      }
      if (++n % LOAD_SLICE === 0) {
        this.fit();
        await nextTurn();
      }
    }
    this.fit();
    return true;
  }

  /**
   * Over the limit after a first pass: keeps the sets the policy chooses from their full sizes
   * (the first pass let go of sets as it met them), loading those it let go too early.
   */
  private async choose(at: Revision): Promise<boolean> {
    const sizes = new Map<string, number>();
    for (const set of this.index!.sets()) sizes.set(setKey(set.type, set.relation), set.relationships);
    for (const [key, info] of this.away) sizes.set(key, info.relationships);
    const keep = chooseSets(sizes, this.maxRelationships);
    for (const set of this.index!.sets()) {
      if (!keep.has(setKey(set.type, set.relation))) this.exclude(set.type, set.relation, set.relationships);
    }
    const back = [...this.excluded].filter((key) => keep.has(key));
    for (const key of back) {
      this.excluded.delete(key);
      this.away.delete(key);
    }
    if (back.length === 0) return true;
    return this.stream(at, new Set(back));
  }

  async load(): Promise<boolean> {
    const started = Date.now();
    try {
      const at = await this.inner.currentRevision();
      const into = this.index!;
      if (!(await this.stream(at))) return false;
      if (this.excluded.size !== 0 && !(await this.choose(at))) return false;
      this.applied = Number(at);
      this.floor = this.applied;
      this.history.push({ revision: this.applied, at: Date.now() });
      this.state = "ready";
      this.notify({ kind: "ready", relationships: into.size, revision: at, ms: Date.now() - started });
      if (this.excluded.size !== 0) this.notifyPartial([...this.excluded]);
      return true;
    } catch (error) {
      if (!this.closed) this.drop({ kind: "error", error });
      return false;
    }
  }

  /** Synchronous reads at `r`, or undefined until the copy holds it (see StoreReader.snapshot). */
  snapshot(r: number): MemorySnapshot | undefined {
    const copy = this.usable(r);
    // Not caught up to `r` yet: the async reads catch up first.
    if (copy === undefined || r > this.applied) return undefined;
    return new MirrorSnapshot(this, copy, r, Date.now());
  }

  stats(): MirrorStats {
    return {
      state: this.state,
      relationships: this.index?.size ?? 0,
      revision: BigInt(Math.max(this.applied, 0)),
      floor: BigInt(Number.isFinite(this.floor) ? this.floor : 0),
      versioned: this.index?.versioned ?? 0,
      partial: this.excluded.size !== 0,
      sets: [
        ...(this.index?.sets() ?? []).map((s) => ({ ...s, mirrored: true, storeReads: 0 })),
        ...[...this.away].map(([key, info]) => ({ ...splitKey(key), mirrored: false, ...info })),
      ].sort((a, b) => a.type.localeCompare(b.type) || a.relation.localeCompare(b.relation)),
    };
  }
}

/**
 * One snapshot's reads (see `MirrorCopy.snapshot`), as methods rather than a literal of arrow
 * functions: made per check, and where the code runs through tsx (esbuild's keepNames) each
 * arrow that is a property is named by an `Object.defineProperty` call, four a check, about 15k
 * instructions (callgrind), more than a quarter of an uncached check's.
 */
class MirrorSnapshot implements MemorySnapshot {
  constructor(
    private readonly mirror: MirrorCopy,
    private readonly copy: RelationshipIndex,
    private readonly r: number,
    private readonly now: number,
  ) {}

  relationshipsOf(type: string, id: string): readonly Relationship[] {
    return this.copy.relationshipsOf(type, id, this.r, this.now);
  }

  packedOf(type: string, id: string): PackedRows {
    return this.copy.packedOf(type, id, this.r, this.now);
  }

  lookupReverse(query: ReverseQuery): readonly Relationship[] | undefined {
    return this.holdsAll(query) ? this.copy.reverse(query, this.r, this.now) : undefined;
  }

  reverseRows(query: ReverseQuery): readonly ReverseRows[] | undefined {
    return this.holdsAll(query) ? this.copy.reverseRows(query, this.r, this.now) : undefined;
  }

  /** Sets let go of later are seen at once: a snapshot kept across a yield asks the store for them. */
  private holdsAll(query: ReverseQuery): boolean {
    const mirror = this.mirror;
    return (
      mirror.excluded.size === 0 || query.relations.every((rel) => mirror.holdsSet(query.resourceType, rel))
    );
  }

  holds(type: string, relation: string): boolean {
    return this.mirror.holdsSet(type, relation);
  }
}

/**
 * Commits pushed by the store (also other processes') are applied before most readers ask for
 * them, at most once per FOLLOW_MS: one changes read per write would double a busy writer's load
 * on the database, and a reader that comes sooner catches up by itself. Returns how to stop.
 */
function followPushes(inner: Store, copy: MirrorCopy): () => void {
  let newest = -1;
  let follow: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = inner.subscribe?.((revision) => {
    if (copy.state !== "ready") return;
    newest = Math.max(newest, Number(revision));
    if (follow !== undefined) return;
    follow = setTimeout(() => {
      follow = undefined;
      if (copy.state !== "ready" || copy.applied >= newest) return;
      copy.catchUp(newest).catch((error: unknown) => copy.notify({ kind: "error", error }));
    }, FOLLOW_MS);
    follow.unref?.();
  });
  return () => {
    unsubscribe?.();
    if (follow !== undefined) clearTimeout(follow);
  };
}

const forward = (copy: RelationshipIndex, query: ForwardQuery, r: number) =>
  copy.forward(query, r, Date.now());
const reverse = (copy: RelationshipIndex, query: ReverseQuery, r: number) =>
  copy.reverse(query, r, Date.now());

export function createMirroredStore(inner: Store, options: MirrorOptions = {}): MirroredStore {
  const copy = new MirrorCopy(
    inner,
    options.maxRelationships ?? DEFAULT_MAX_RELATIONSHIPS,
    options.retainMs ?? 10_000,
    options.onEvent ?? (() => {}),
  );
  const loaded = copy.load();
  const stopFollowing = followPushes(inner, copy);
  return {
    ...delegateStore(inner),
    ready: () => loaded,
    catchUp: (revision) => copy.holds(Number(revision)),
    stats: () => copy.stats(),
    at: lastReader((revision): StoreReader => {
      const from = inner.at(revision);
      const r = Number(revision);
      return {
        ...delegateReader(from),
        lookupForward: (query) => copy.read(query, r, forward, (q) => from.lookupForward(q)),
        lookupReverse: (query) => copy.read(query, r, reverse, (q) => from.lookupReverse(q)),
        snapshot: () => copy.snapshot(r),
      };
    }),
    async close() {
      copy.closed = true;
      stopFollowing();
      copy.index = undefined;
      copy.state = "off";
      await loaded;
      await inner.close();
    },
  };
}
