/**
 * One kept set: every subscription with the same subject, chain, permission, resource type and
 * context shares it, so the work of keeping it current is done once however many listen.
 */
import { type DecisionState, LatchError, type ObjectRef, type Revision } from "../../core/index.js";
import { type CheckBulkItem, createPacer } from "../../engine/index.js";
import type { Change } from "../../store/index.js";
import { type Decider, lookupBatches } from "../decider.js";
import type { Listener } from "./listener.js";
import { type NodeKey, nodeKey, type ReverseGraph } from "./reverse-graph.js";
import { type ChangeRun, type Sent, type SetSnapshot, syncedAt } from "./runs.js";
import type { PermissionState, WatchPermissionsRequest } from "./types.js";

export type SetDecider = Pick<Decider, "checkBulk" | "lookupResources">;

export interface Subscriber {
  readonly listener: Listener;
  readonly checkpoints: boolean;
}

function stateOf(state: DecisionState, missing: readonly string[]): PermissionState | undefined {
  if (state === "DENIED") return undefined;
  // LookupResources does not pass the approval gate, so a gated action is in the set too.
  if (state === "CONDITIONAL") return { state, missing };
  return { state: "ALLOWED", missing: [] };
}

/** Whether two entries of a set say the same (both absent, or one state with the same missing parameters). */
export function sameState(a: PermissionState | undefined, b: PermissionState | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.state === b.state && a.missing.join("\0") === b.missing.join("\0");
}

/** One object for every ALLOWED entry: a set of 100,000 resources holds one, not 100,000 copies. */
const ALLOWED: PermissionState = Object.freeze({
  state: "ALLOWED",
  missing: Object.freeze([]) as readonly string[],
});

interface Found {
  readonly resourceId: string;
  readonly state: PermissionState["state"];
  readonly missing: readonly string[];
}

const stateOfResult = (r: Found) =>
  r.state === "ALLOWED" && r.missing.length === 0 ? ALLOWED : { state: r.state, missing: r.missing };

/** Entries a clock read covers while the map of a replaced set is filled. */
const FILL_SLICE = 4096;

/**
 * What one set owes (schedule.ts): re-check `ids`, and what walking `walk` up `graph` reaches
 * (or recompute it whole), at `target`.
 */
export interface GroupWork {
  readonly whole: boolean;
  readonly ids: ReadonlySet<string>;
  /** Changes only this set is concerned by, not yet walked (plan.ts, walkForSet). */
  readonly walk: readonly Change[];
  /** The schema's reverse graph at `target`; undefined when there is nothing to walk. */
  readonly graph: ReverseGraph | undefined;
  readonly target: Revision;
  readonly token: string;
}

export function groupKey(request: WatchPermissionsRequest): string {
  return JSON.stringify(
    [
      request.resourceType,
      request.permission,
      request.subject,
      request.onBehalfOf ?? [],
      request.context ?? {},
    ],
    (_, value) => (typeof value === "bigint" ? `${value}n` : value),
  );
}

export class Group {
  private entries = new Map<string, PermissionState>();
  /**
   * After a replace: its lookup's chunks, not yet (or not all, from chunk `batch` on) in
   * `entries`. They are the set; the map is filled once the events have left (`replace`), or at
   * once when asked for first. The chunks are kept as the lookup gave them: no lookup or
   * decorator changes a chunk it has given (each gives a new array).
   */
  private unfilled: { readonly found: readonly (readonly Found[])[]; batch: number } | undefined;
  revision: Revision = 0n;
  token = "";
  readonly subscribers = new Set<Subscriber>();
  /** The watched node, and the delegation links whose change forces a recompute. */
  readonly target: NodeKey;
  readonly links: readonly { readonly object: ObjectRef; readonly node: NodeKey }[];
  /** The plain objects whose own relationships can change this set: the subject (unless a subject set) and the chain. */
  readonly subjectKeys: readonly string[];
  /** Work waiting for this set (schedule.ts), and whether its queue is being worked through. */
  owed: GroupWork | undefined;
  busy = false;
  /** Subscribers that asked for a SYNCED at every revision the feed reaches. */
  checkpointers = 0;
  /**
   * While `replace` streams a lookup: the runs already sent at the newer revision, which
   * `state` (still the set at `revision`) does not hold yet.
   */
  private partial: ChangeRun[] | undefined;

  constructor(
    readonly key: string,
    readonly request: WatchPermissionsRequest,
    private readonly decider: SetDecider,
    delegationPermission: (type: string) => string,
    private readonly maxBulkItems: number,
  ) {
    this.target = nodeKey(request.resourceType, request.permission);
    this.links = (request.onBehalfOf ?? []).map((p) => ({
      object: { type: p.type, id: p.id },
      node: nodeKey(p.type, delegationPermission(p.type)),
    }));
    const s = request.subject;
    this.subjectKeys = [
      ...(s.relation === undefined ? [`${s.type}:${s.id}`] : []),
      ...this.links.map((l) => `${l.object.type}:${l.object.id}`),
    ];
  }

  /** The set at `revision`, resource id to state. */
  get state(): Map<string, PermissionState> {
    while (!this.fill(Number.POSITIVE_INFINITY));
    return this.entries;
  }

  get size(): number {
    if (this.unfilled === undefined) return this.entries.size;
    let size = 0;
    for (const batch of this.unfilled.found) size += batch.length;
    return size;
  }

  /** Moves about `count` of the replaced set's results into the map; true once all are in. */
  private fill(count: number): boolean {
    const unfilled = this.unfilled;
    if (unfilled === undefined) return true;
    const { found } = unfilled;
    let moved = 0;
    while (unfilled.batch < found.length && moved < count) {
      const batch = found[unfilled.batch++]!;
      for (let i = 0; i < batch.length; i++) this.entries.set(batch[i]!.resourceId, stateOfResult(batch[i]!));
      moved += batch.length;
    }
    if (unfilled.batch < found.length) return false;
    this.unfilled = undefined;
    return true;
  }

  /**
   * The set as a subscriber's first (or resynced) copy. A set with no work waiting holds at the
   * newest revision the feed was planned to (`idle`): no change up to there concerned it.
   */
  snapshot(idle?: { readonly revision: Revision; readonly token: string }): SetSnapshot {
    const at = this.busy || idle === undefined ? { revision: this.revision, token: this.token } : idle;
    // Mid-replace, `state` is still the set at `revision`; the runs already sent at the newer
    // revision follow the copy's SYNCED, so the copy holds everything pushed so far. The live map
    // is handed out: a snapshot is read at once (Listener), before the set changes again.
    const tail = this.partial === undefined ? {} : { tail: [...this.partial] };
    return { entries: this.state, ...at, ...tail };
  }

  involves(subject: ObjectRef): boolean {
    const s = this.request.subject;
    if (s.type === subject.type && s.id === subject.id) return true;
    return this.links.some((l) => l.object.type === subject.type && l.object.id === subject.id);
  }

  private base() {
    const r = this.request;
    return {
      permission: r.permission,
      subject: r.subject,
      ...(r.onBehalfOf === undefined || r.onBehalfOf.length === 0 ? {} : { onBehalfOf: r.onBehalfOf }),
      ...(r.context === undefined ? {} : { context: r.context }),
    };
  }

  /**
   * Moves the set whole to `revision` (LookupResources there), streaming: the ADDED and
   * CONDITIONAL of each chunk the lookup gives leave as soon as it is found, so the first changes
   * of a step that adds a whole corpus wait for a chunk of the lookup, not for all of it. The
   * REMOVED (known only once the lookup is done) and the SYNCED follow at the end. Every event
   * holds at `revision`; `state` stays the set at the previous revision until the end, so a copy
   * taken meanwhile (a new or resynced subscriber) is that set, then the events sent so far (see
   * `snapshot`). The set's queue runs one update at a time, so a later step's events come after
   * this SYNCED.
   *
   * What only later steps need waits until the events have left: the new set's map is filled
   * from the lookup's chunks after the SYNCED, a slice at a time (or at once when asked for
   * first). Of the set before, only the ids found again are kept aside, to know the REMOVED.
   */
  async replace(revision: Revision, token: string): Promise<number> {
    // The runs already sent, each as it went to the listeners (one run serves them all).
    const sent: ChangeRun[] = [];
    this.partial = sent;
    try {
      const before = this.state;
      // A set that was empty (a user joining a group) has nothing to compare with.
      const again = before.size === 0 ? undefined : new Set<string>();
      const found: (readonly Found[])[] = [];
      let count = 0;
      const pacer = createPacer(undefined);
      for await (const batch of this.lookup(token)) {
        found.push(batch);
        const ids: string[] = [];
        const states: PermissionState[] = [];
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i]!;
          const after = stateOfResult(r);
          if (again !== undefined) {
            const was = before.get(r.resourceId);
            if (was !== undefined) {
              again.add(r.resourceId);
              if (was === after || sameState(was, after)) continue;
            }
          }
          ids.push(r.resourceId);
          states.push(after);
        }
        if (ids.length > 0) {
          const run: ChangeRun = { ids, states, revision, token };
          this.send([run], true, revision, token);
          sent.push(run);
          count += ids.length;
        }
        // Other sets' updates, and the feed, run between two slices; the subscribers read the
        // runs sent as soon as this awaits the next chunk.
        if (pacer.due(batch.length)) await pacer.pause();
      }
      const ids: string[] = [];
      const states: undefined[] = [];
      if (again !== undefined && again.size < before.size) {
        for (const id of before.keys()) {
          if (again.has(id)) continue;
          ids.push(id);
          states.push(undefined);
        }
      }
      this.entries = new Map();
      this.unfilled = { found, batch: 0 };
      this.revision = revision;
      this.token = token;
      this.partial = undefined;
      const last: Sent[] = ids.length === 0 ? [] : [{ ids, states, revision, token }];
      // The SYNCED is owed to every subscriber once any run changed the set, even if this last one is empty.
      this.send(last, false, revision, token, count + ids.length > 0);
      // The subscribers read the last events before the map is filled.
      await pacer.pause();
      while (!this.fill(FILL_SLICE)) if (pacer.due(FILL_SLICE)) await pacer.pause();
      return count + ids.length;
    } finally {
      this.partial = undefined;
    }
  }

  /** The set's LookupResources at `token`, a chunk of results at a time (the whole set: no cursors). */
  private lookup(token: string) {
    return lookupBatches(
      this.decider,
      {
        ...this.base(),
        resourceType: this.request.resourceType,
        consistency: { kind: "at-exact-snapshot", token },
      },
      { cursors: false },
    );
  }

  /**
   * Tells every subscriber: `events`, then (unless `more` of the same step follow) a SYNCED, or
   * only the SYNCED to those who asked for checkpoints when the step did not change the set.
   */
  private send(
    items: readonly Sent[],
    more: boolean,
    revision: Revision,
    token: string,
    changed = items.length > 0,
  ): void {
    if (more) {
      // Listeners queue the runs as they are: one serves them all.
      if (items.length > 0) for (const s of this.subscribers) s.listener.push(items, true);
      return;
    }
    const synced = syncedAt(revision, token);
    const withSynced = [...items, synced];
    for (const s of this.subscribers) {
      if (changed) s.listener.push(withSynced);
      else if (s.checkpoints) s.listener.push([synced]);
    }
  }

  /**
   * A new set's first entries, before anyone has subscribed (so there is nothing to send): taken
   * as they are, where `apply` would sort and re-insert every id to diff them against nothing.
   */
  start(entries: Map<string, PermissionState>, revision: Revision, token: string): void {
    this.entries = entries;
    this.revision = revision;
    this.token = token;
  }

  /** The whole set at `revision`, as LookupResources answers it. */
  async compute(token: string): Promise<Map<string, PermissionState>> {
    const out = new Map<string, PermissionState>();
    // A set of many thousands of resources lets other sets' updates run while it is read.
    const pacer = createPacer(undefined);
    for await (const batch of this.lookup(token)) {
      for (const r of batch) out.set(r.resourceId, stateOfResult(r));
      if (pacer.due(batch.length)) await pacer.pause();
    }
    return out;
  }

  /** The states of `ids` at the token's revision, as Check answers them, in the order of `ids`. */
  async recheck(ids: readonly string[], token: string): Promise<Map<string, PermissionState | undefined>> {
    const out = new Map<string, PermissionState | undefined>();
    const base = this.base();
    for (let start = 0; start < ids.length; start += this.maxBulkItems) {
      const chunk = ids.slice(start, start + this.maxBulkItems);
      const items: CheckBulkItem[] = chunk.map((id) => ({
        ...base,
        resource: { type: this.request.resourceType, id },
      }));
      const answer = await this.decider.checkBulk({
        items,
        consistency: { kind: "at-exact-snapshot", token },
      });
      answer.results.forEach((result, i) => {
        if (!result.ok) {
          const e = result.error;
          throw new LatchError<string>(e.code, e.kind ?? "internal", e.message, e.details ?? {});
        }
        out.set(chunk[i]!, stateOf(result.state, result.missing));
      });
    }
    return out;
  }

  /**
   * Applies the new states of the ids re-checked (undefined: out of the set) and tells every
   * subscriber. `next` is in id order (`recheck` keeps the sorted order it was asked in), the order
   * the changes leave in.
   */
  apply(next: ReadonlyMap<string, PermissionState | undefined>, revision: Revision, token: string): void {
    const ids: string[] = [];
    const states: (PermissionState | undefined)[] = [];
    for (const [id, after] of next) {
      const before = this.state.get(id);
      if (sameState(before, after)) continue;
      if (after === undefined) this.state.delete(id);
      else this.state.set(id, after);
      ids.push(id);
      states.push(after);
    }
    this.revision = revision;
    this.token = token;
    this.send(ids.length === 0 ? [] : [{ ids, states, revision, token }], false, revision, token);
  }
}
