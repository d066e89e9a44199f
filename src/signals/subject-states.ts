/**
 * The in-memory view of subject states (suspensions, attributes) that the gate reads on every
 * check: each subject's history of states by revision, so the state at any revision the view has
 * read up to is a Map read and a short scan, with no store read on the hot path.
 *
 * `knownUpTo` is the revision the view has read every state change up to. A check answered at a
 * later revision first brings the view up to it (one indexed store read, single-flight, shared by
 * every check waiting); the store's change feed (`subscribe`, LISTEN/NOTIFY on PostgreSQL) brings
 * it forward in the background, so on a quiet system checks find it current.
 */
import type { Revision } from "../core/index.js";
import type { Store, SubjectState, SubjectStateRow } from "../store/index.js";

/** A subject's state from a revision on. */
interface Entry {
  readonly revision: Revision;
  readonly state: SubjectState;
}

/** Called with the subjects whose state changed and the revision where it did (see `onSubjectStateChanged`). */
export type SubjectStateListener = (change: SubjectStateChanged) => void;

export interface SubjectStateChanged {
  readonly revision: Revision;
  /** The new states, each `subject` as `type:id`. */
  readonly states: readonly SubjectState[];
}

export interface SubjectStates {
  /** Reads every state change up to at least `revision` (no store read when already there). */
  ensure(revision: Revision): Promise<void> | undefined;
  /** The state of `type:id` at `revision` (which `ensure` reached); undefined: no state (never signalled). */
  at(type: string, id: string, revision: Revision): SubjectState | undefined;
  /** The newest state known of `type:id`. */
  latest(type: string, id: string): SubjectState | undefined;
  /** True when no subject has any state: the gate's fast path. */
  readonly empty: boolean;
  readonly knownUpTo: Revision;
  /**
   * "Subject state changed at revision R": called once per batch of changes the view reads, in
   * revision order, whichever replica wrote them. WatchPermissions subscribes here. Returns an
   * unsubscribe.
   */
  onSubjectStateChanged(listener: SubjectStateListener): () => void;
  close(): void;
}

function splitSubject(subject: string): [string, string] {
  const colon = subject.indexOf(":");
  return [subject.slice(0, colon), subject.slice(colon + 1)];
}

export function createSubjectStates(store: Store): SubjectStates {
  const byType = new Map<string, Map<string, Entry[]>>();
  const listeners = new Set<SubjectStateListener>();
  let knownUpTo = -1n;
  let pending: Promise<void> | undefined;
  let count = 0;

  function add(rows: readonly SubjectStateRow[]): void {
    const batches = new Map<Revision, SubjectState[]>();
    for (const row of rows) {
      const [type, id] = splitSubject(row.subject);
      let ids = byType.get(type);
      if (ids === undefined) {
        ids = new Map();
        byType.set(type, ids);
      }
      let entries = ids.get(id);
      if (entries === undefined) {
        entries = [];
        ids.set(id, entries);
      }
      // Rows come in revision order, after every row already held.
      entries.push({ revision: row.revision, state: row });
      count++;
      const batch = batches.get(row.revision);
      if (batch === undefined) batches.set(row.revision, [row]);
      else batch.push(row);
    }
    for (const [revision, states] of batches) {
      for (const listener of listeners) {
        try {
          listener({ revision, states });
        } catch {
          // A listener's failure is its own; the view stays correct for every check.
        }
      }
    }
  }

  async function read(): Promise<void> {
    const page = await store.signals.statesSince(knownUpTo < 0n ? -1n : knownUpTo);
    const fresh = page.rows.filter((row) => row.revision > knownUpTo);
    add(fresh);
    if (page.revision > knownUpTo) knownUpTo = page.revision;
  }

  function ensure(revision: Revision): Promise<void> | undefined {
    if (revision <= knownUpTo) return undefined;
    if (pending === undefined) {
      pending = read().finally(() => {
        pending = undefined;
      });
      return pending;
    }
    // A read in flight may have started before `revision` was committed: read again after it.
    return pending.then(() => ensure(revision));
  }

  const unsubscribe = store.subscribe?.((revision) => {
    void ensure(revision)?.catch(() => undefined);
  });

  function entriesOf(type: string, id: string): Entry[] | undefined {
    return byType.get(type)?.get(id);
  }

  return {
    ensure,
    at(type, id, revision) {
      const entries = entriesOf(type, id);
      if (entries === undefined) return undefined;
      for (let i = entries.length - 1; i >= 0; i--) {
        const entry = entries[i]!;
        if (entry.revision <= revision) return entry.state;
      }
      return undefined;
    },
    latest(type, id) {
      const entries = entriesOf(type, id);
      return entries?.[entries.length - 1]?.state;
    },
    get empty() {
      return count === 0;
    },
    get knownUpTo() {
      return knownUpTo;
    },
    onSubjectStateChanged(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      unsubscribe?.();
      listeners.clear();
    },
  };
}
