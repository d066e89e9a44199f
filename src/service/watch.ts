/** The change feed behind Watch, shared by the server and embedded mode. */
import type { Relationship, Revision } from "../core/index.js";
import { COSTLY_ITEM, createPacer } from "../engine/index.js";
import type { Change, Store, TransactionMetadata } from "../store/index.js";

export interface WatchBatch {
  /** Every change up to and including this revision has been delivered. */
  readonly revision: Revision;
  readonly changes: readonly Change[];
  readonly schemaUpdated: boolean;
  /** The metadata the write of this revision carried (SpiceDB's transaction metadata), if any. */
  readonly metadata?: TransactionMetadata;
  /**
   * A checkpoint (only with `checkpoints`): no changes, but the feed has read everything up to
   * `revision`, including revisions whose changes were all filtered out.
   */
  readonly checkpoint?: boolean;
}

export interface WatchOptions {
  /** Deliver changes after this revision; from the current one when absent. */
  readonly after?: Revision;
  /** Only changes on resources of these types; all when empty. */
  readonly objectTypes?: readonly string[];
  /** Only changes whose relationship passes this test (after `objectTypes`); all when absent. */
  readonly filter?: (relationship: Relationship) => boolean;
  /** Also yield a checkpoint at the start and each time the feed reaches a newer revision. */
  readonly checkpoints?: boolean;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  readonly pageSize?: number;
}

function compare(a: Revision, b: Revision): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Resolves after `ms`, on `wake()`, or when the signal aborts, whichever comes first. */
function idle(
  ms: number,
  signal: AbortSignal | undefined,
  setWake: (wake: (() => void) | undefined) => void,
) {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      setWake(undefined);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    setWake(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Reads `store.changesSince` and yields one batch per revision, in order, so that a consumer
 * resuming from a batch's revision never sees half a transaction. When idle it waits for the
 * store's push feed (`subscribe`) if it has one, with polling as the fallback. Ends when the
 * signal aborts.
 */
export async function* watchChanges(store: Store, options: WatchOptions = {}): AsyncGenerator<WatchBatch> {
  let after = options.after ?? (await store.currentRevision());
  const types = new Set(options.objectTypes ?? []);
  const filter = options.filter;
  let checkpointDue = options.checkpoints === true;
  const signal = options.signal;
  const pollMs = options.pollMs ?? 50;
  let wake: (() => void) | undefined;
  let notified = false;
  const unsubscribe = store.subscribe?.(() => {
    notified = true;
    wake?.();
  });
  // With a push feed, polling only guards against a missed notification.
  const idleMs = unsubscribe === undefined ? pollMs : Math.max(pollMs, 1000);
  // The changes so far of a revision the store returns in slices: its batch is yielded whole.
  let sliced: Change[] = [];
  let within = 0;
  // A store may answer a page without a macrotask (SQLite): reading a large revision's slices
  // back to back held the server about a second for 200,000 changes (bench/stall-data.ts).
  const pacer = createPacer(undefined);
  try {
    while (signal?.aborted !== true) {
      notified = false;
      const page = await store.changesSince(after, options.pageSize ?? 1000, within);
      if (page.within !== undefined) {
        for (const change of page.changes) sliced.push(change);
        within = page.within;
        if (pacer.due(COSTLY_ITEM)) await pacer.pause();
        continue;
      }
      const changes = within === 0 ? page.changes : sliced.concat(page.changes);
      sliced = [];
      within = 0;
      const schemaRevisions = new Set(page.schemaChanges.map((s) => s.revision));
      const byRevision = new Map<Revision, Change[]>();
      for (const change of changes) {
        if (types.size > 0 && !types.has(change.relationship.resource.type)) continue;
        if (filter !== undefined && !filter(change.relationship)) continue;
        const list = byRevision.get(change.revision);
        if (list === undefined) byRevision.set(change.revision, [change]);
        else list.push(change);
      }
      for (const rev of schemaRevisions) if (!byRevision.has(rev)) byRevision.set(rev, []);
      const metadata = new Map((page.metadata ?? []).map((m) => [m.revision, m.metadata]));
      for (const revision of [...byRevision.keys()].sort(compare)) {
        const kept = metadata.get(revision);
        yield {
          revision,
          changes: byRevision.get(revision)!,
          schemaUpdated: schemaRevisions.has(revision),
          ...(kept === undefined ? {} : { metadata: kept }),
        };
      }
      const moved = page.revision > after;
      after = page.revision;
      if (checkpointDue || (moved && options.checkpoints === true)) {
        checkpointDue = false;
        yield { revision: after, changes: [], schemaUpdated: false, checkpoint: true };
      }
      if (!moved && !notified) {
        await idle(idleMs, signal, (w) => {
          wake = w;
        });
      }
    }
  } finally {
    unsubscribe?.();
  }
}
