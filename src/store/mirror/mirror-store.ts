/**
 * A store that answers the engine's hot reads (`lookupForward`, `lookupReverse`) from a copy of the
 * relationships in memory, and everything else from the store it wraps.
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
import type { ForwardQuery, ReverseQuery, Store } from "../types.js";
import { RelationshipIndex } from "./relationship-index.js";

export interface MirrorOptions {
  /** Largest number of relationships to hold (default 2,000,000); above it, reads go to the store. */
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
  stats(): MirrorStats;
}

/** How long pushed commits wait before the copy reads them, so that a burst costs one read. */
const FOLLOW_MS = 20;

/** Rows loaded between two yields to the event loop, so a server keeps answering while it loads. */
const LOAD_SLICE = 20_000;

export function createMirroredStore(inner: Store, options: MirrorOptions = {}): MirroredStore {
  const maxRelationships = options.maxRelationships ?? 2_000_000;
  const retainMs = options.retainMs ?? 10_000;
  const notify = options.onEvent ?? (() => {});
  let index: RelationshipIndex | undefined = new RelationshipIndex();
  let state: MirrorState = "loading";
  let applied = -1;
  let floor = Number.POSITIVE_INFINITY;
  /** (revision, when it was applied): the floor moves to revisions applied `retainMs` ago. */
  const history: { revision: number; at: number }[] = [];
  let catching: Promise<void> | undefined;
  let closed = false;

  const drop = (event: MirrorEvent) => {
    index = undefined;
    state = "off";
    history.length = 0;
    notify(event);
  };

  /** Drops the copy when it holds more than allowed; true when it did. */
  const overLimit = (): boolean => {
    if (index === undefined || index.size <= maxRelationships) return false;
    drop({ kind: "too-large", maxRelationships });
    return true;
  };

  const applyChanges = async (target: number): Promise<void> => {
    while (applied < target && index !== undefined) {
      const page = await inner.changesSince(BigInt(applied));
      if (index === undefined) return;
      for (const change of page.changes) {
        const revision = Number(change.revision);
        if (change.operation === "touch") index.touch(change.relationship, revision);
        else index.delete(change.relationship, revision);
      }
      const reached = Number(page.revision);
      if (reached <= applied) break;
      applied = reached;
      history.push({ revision: applied, at: Date.now() });
      if (overLimit()) return;
    }
    moveFloor();
  };

  const moveFloor = () => {
    if (index === undefined) return;
    const cutoff = Date.now() - retainMs;
    let n = 0;
    while (n < history.length - 1 && history[n + 1]!.at <= cutoff) n++;
    if (n === 0) return;
    // Everything up to history[n] was applied before the cutoff: readers older than it go elsewhere.
    const next = history[n]!.revision;
    history.splice(0, n);
    if (next > floor) {
      floor = next;
      index.compact(floor);
    }
  };

  /** Brings the copy to at least `target`; one catch-up at a time, shared by every reader. */
  const catchUp = (target: number): Promise<void> => {
    if (catching === undefined) {
      catching = applyChanges(target).finally(() => {
        catching = undefined;
      });
      return catching;
    }
    return catching.then(() => (applied >= target || index === undefined ? undefined : catchUp(target)));
  };

  /**
   * The copy that may answer reads at `r` once it has caught up, or undefined when the wrapped
   * store must answer: loading, dropped, or `r` older than the floor.
   */
  const usable = (r: number): RelationshipIndex | undefined =>
    state === "ready" && r >= floor ? index : undefined;

  /** Applies the changes up to `r`; false when the copy cannot follow (the store then answers). */
  const reach = async (r: number): Promise<boolean> => {
    try {
      await catchUp(r);
    } catch (error) {
      notify({ kind: "error", error });
      return false;
    }
    return applied >= r;
  };

  /**
   * One hot read: from the copy when it may answer at `revision` (catching up first if needed),
   * else from the wrapped store. Synchronous up to the copy's answer when no catch-up is needed.
   */
  const read = async <Q>(
    query: Q,
    revision: Revision,
    fromCopy: (copy: RelationshipIndex, query: Q, r: number) => Relationship[],
    fromStore: (query: Q, revision: Revision) => Promise<readonly Relationship[]>,
  ): Promise<readonly Relationship[]> => {
    const r = Number(revision);
    if (usable(r) !== undefined && (r <= applied || (await reach(r)))) {
      // Checked again: the copy may have been dropped while it caught up.
      const copy = usable(r);
      if (copy !== undefined) return fromCopy(copy, query, r);
    }
    return fromStore(query, revision);
  };
  const forward = (copy: RelationshipIndex, query: ForwardQuery, r: number) =>
    copy.forward(query, r, Date.now());
  const reverse = (copy: RelationshipIndex, query: ReverseQuery, r: number) =>
    copy.reverse(query, r, Date.now());
  const storeForward = (query: ForwardQuery, revision: Revision) => inner.lookupForward(query, revision);
  const storeReverse = (query: ReverseQuery, revision: Revision) => inner.lookupReverse(query, revision);

  const load = async (): Promise<boolean> => {
    const started = Date.now();
    try {
      const at = await inner.currentRevision();
      const into = index!;
      let n = 0;
      for await (const rel of inner.exportRelationships(at)) {
        if (closed || index === undefined) return false;
        into.touch(rel, 0);
        if (++n % LOAD_SLICE === 0) {
          if (overLimit()) return false;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      if (overLimit()) return false;
      applied = Number(at);
      floor = applied;
      history.push({ revision: applied, at: Date.now() });
      state = "ready";
      notify({ kind: "ready", relationships: into.size, revision: at, ms: Date.now() - started });
      return true;
    } catch (error) {
      if (!closed) drop({ kind: "error", error });
      return false;
    }
  };

  const loaded = load();
  // Commits pushed by the store (also other processes') are applied before most readers ask for
  // them, at most once per FOLLOW_MS: one changes read per write would double a busy writer's load
  // on the database, and a reader that comes sooner catches up by itself.
  let newest = -1;
  let follow: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = inner.subscribe?.((revision) => {
    if (state !== "ready") return;
    newest = Math.max(newest, Number(revision));
    if (follow !== undefined) return;
    follow = setTimeout(() => {
      follow = undefined;
      if (state !== "ready" || applied >= newest) return;
      catchUp(newest).catch((error: unknown) => notify({ kind: "error", error }));
    }, FOLLOW_MS);
    follow.unref?.();
  });

  const store: MirroredStore = {
    storeId: inner.storeId,
    ready: () => loaded,
    stats: () => ({
      state,
      relationships: index?.size ?? 0,
      revision: BigInt(Math.max(applied, 0)),
      floor: BigInt(Number.isFinite(floor) ? floor : 0),
    }),
    currentRevision: () => inner.currentRevision(),
    readSchema: (revision) => inner.readSchema(revision),
    writeSchema: (text) => inner.writeSchema(text),
    readRelationships: (filter, opts) => inner.readRelationships(filter, opts),
    lookupForward: (query, revision) => read(query, revision, forward, storeForward),
    lookupReverse: (query, revision) => read(query, revision, reverse, storeReverse),
    memorySnapshot(revision) {
      const r = Number(revision);
      const copy = usable(r);
      // Not caught up to `r` yet: the async reads above catch up first.
      if (copy === undefined || r > applied) return undefined;
      const now = Date.now();
      return {
        relationshipsOf: (type, id) => copy.relationshipsOf(type, id, r, now),
        lookupReverse: (query) => copy.reverse(query, r, now),
      };
    },
    write: (updates, preconditions) => inner.write(updates, preconditions),
    deleteRelationships: (filter, opts) => inner.deleteRelationships(filter, opts),
    changesSince: (after, limit) => inner.changesSince(after, limit),
    importRelationships: (relationships, opts) => inner.importRelationships(relationships, opts),
    exportRelationships: (revision) => inner.exportRelationships(revision),
    sweepExpired: (limit) => inner.sweepExpired(limit),
    encodeRevision: (revision) => inner.encodeRevision(revision),
    decodeRevision: (token) => inner.decodeRevision(token),
    async close() {
      closed = true;
      unsubscribe?.();
      if (follow !== undefined) clearTimeout(follow);
      index = undefined;
      state = "off";
      await loaded;
      await inner.close();
    },
  };
  if (inner.subscribe !== undefined) store.subscribe = (listener) => inner.subscribe!(listener);
  return store;
}
