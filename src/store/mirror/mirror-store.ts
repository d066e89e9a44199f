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
 * still kept) go to the wrapped store, as do all reads while the copy loads, and all reads when
 * the data is larger than `maxRelationships` (then the copy is dropped and memory released).
 */
import type { Relationship, Revision } from "../../core/index.js";
import { delegateReader, delegateStore } from "../delegate.js";
import { lastReader } from "../readers.js";
import type { ForwardQuery, MemorySnapshot, ReverseQuery, Store, StoreReader } from "../types.js";
import { RelationshipIndex } from "./relationship-index.js";

export interface MirrorOptions {
  /** Largest number of relationships to hold (default 5,000,000); above it, reads go to the store. */
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
  | { readonly kind: "too-large"; readonly maxRelationships: number }
  | { readonly kind: "error"; readonly error: unknown };

export type MirrorState = "loading" | "ready" | "off";

export interface MirrorStats {
  readonly state: MirrorState;
  readonly relationships: number;
  /** The newest revision applied to the copy. */
  readonly revision: Revision;
  /** Reads below this revision go to the wrapped store. */
  readonly floor: Revision;
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
 * About 130 bytes of heap a relationship (bench/mirror-memory.ts): 5,000,000 is about 620 MiB,
 * so scale `l` of the benchmark corpus (4.1M) fits a 1 GiB process.
 */
export const DEFAULT_MAX_RELATIONSHIPS = 5_000_000;

/** How long pushed commits wait before the copy reads them, so that a burst costs one read. */
const FOLLOW_MS = 20;

/** Rows loaded between two yields to the event loop, so a server keeps answering while it loads. */
const LOAD_SLICE = 20_000;

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
  closed = false;

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

  /** Drops the copy when it holds more than allowed; true when it did. */
  private overLimit(): boolean {
    if (this.index === undefined || this.index.size <= this.maxRelationships) return false;
    this.drop({ kind: "too-large", maxRelationships: this.maxRelationships });
    return true;
  }

  private async applyChanges(target: number): Promise<void> {
    while (this.applied < target && this.index !== undefined) {
      const page = await this.inner.changesSince(BigInt(this.applied));
      const index = this.index;
      if (index === undefined) return;
      for (const change of page.changes) {
        const revision = Number(change.revision);
        if (change.operation === "touch") index.touch(change.relationship, revision);
        else index.delete(change.relationship, revision);
      }
      const reached = Number(page.revision);
      if (reached <= this.applied) break;
      this.applied = reached;
      this.history.push({ revision: reached, at: Date.now() });
      if (this.overLimit()) return;
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
      this.index.compact(next);
    }
  }

  /** Brings the copy to at least `target`; one catch-up at a time, shared by every reader. */
  catchUp(target: number): Promise<void> {
    if (this.catching === undefined) {
      this.catching = this.applyChanges(target).finally(() => {
        this.catching = undefined;
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

  /** Applies the changes up to `r`; false when the copy cannot follow (the store then answers). */
  private async reach(r: number): Promise<boolean> {
    try {
      await this.catchUp(r);
    } catch (error) {
      this.notify({ kind: "error", error });
      return false;
    }
    return this.applied >= r;
  }

  /** Whether the copy answers reads at `r`, once it has caught up to it. */
  async holds(r: number): Promise<boolean> {
    if (this.usable(r) === undefined || (r > this.applied && !(await this.reach(r)))) return false;
    return this.usable(r) !== undefined;
  }

  /**
   * One hot read: from the copy when it may answer at `revision` (catching up first if needed),
   * else from the wrapped store. Synchronous up to the copy's answer when no catch-up is needed.
   */
  async read<Q>(
    query: Q,
    r: number,
    fromCopy: (copy: RelationshipIndex, query: Q, r: number) => Relationship[],
    fromStore: (query: Q) => Promise<readonly Relationship[]>,
  ): Promise<readonly Relationship[]> {
    if (this.usable(r) !== undefined && (r <= this.applied || (await this.reach(r)))) {
      // Checked again: the copy may have been dropped while it caught up.
      const copy = this.usable(r);
      if (copy !== undefined) return fromCopy(copy, query, r);
    }
    return fromStore(query);
  }

  async load(): Promise<boolean> {
    const started = Date.now();
    try {
      const at = await this.inner.currentRevision();
      const into = this.index!;
      let n = 0;
      for await (const rel of this.inner.at(at).exportRelationships()) {
        if (this.closed || this.index === undefined) return false;
        into.touch(rel, 0);
        if (++n % LOAD_SLICE === 0) {
          if (this.overLimit()) return false;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      if (this.overLimit()) return false;
      this.applied = Number(at);
      this.floor = this.applied;
      this.history.push({ revision: this.applied, at: Date.now() });
      this.state = "ready";
      this.notify({ kind: "ready", relationships: into.size, revision: at, ms: Date.now() - started });
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
    const now = Date.now();
    return {
      relationshipsOf: (type, id) => copy.relationshipsOf(type, id, r, now),
      lookupReverse: (query) => copy.reverse(query, r, now),
    };
  }

  stats(): MirrorStats {
    return {
      state: this.state,
      relationships: this.index?.size ?? 0,
      revision: BigInt(Math.max(this.applied, 0)),
      floor: BigInt(Number.isFinite(this.floor) ? this.floor : 0),
    };
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
