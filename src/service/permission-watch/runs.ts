/**
 * What a kept set sends its subscribers, before it becomes events: a step's changes as one run
 * (the resources' ids, and each one's new state, a shared object), and the SYNCED and RESYNC
 * markers as events. A run is made once and queued by every subscriber as it is; a subscriber
 * makes each change's event object as it reads it (`eventAt`), so a step of 100,000 changes is
 * two arrays while it waits in the queues, and its events die young, read as soon as made.
 */
import type { Revision } from "../../core/index.js";
import type { PermissionEvent, PermissionState } from "./types.js";

export interface ChangeRun {
  readonly ids: readonly string[];
  /** The new state of each id, index for index: undefined when it left the set. */
  readonly states: readonly (PermissionState | undefined)[];
  readonly revision: Revision;
  readonly token: string;
}

/** A run of changes, or one SYNCED or RESYNC. */
export type Sent = ChangeRun | PermissionEvent;

export const isRun = (item: Sent): item is ChangeRun => (item as Partial<ChangeRun>).ids !== undefined;

const NONE: readonly string[] = Object.freeze([]);

/** The event of the run's `i`th change. */
export function eventAt(run: ChangeRun, i: number): PermissionEvent {
  const state = run.states[i];
  return {
    kind: state === undefined ? "REMOVED" : state.state === "ALLOWED" ? "ADDED" : "CONDITIONAL",
    resourceId: run.ids[i]!,
    missing: state === undefined ? NONE : state.missing,
    revision: run.revision,
    token: run.token,
  };
}

/** A marker event: SYNCED (the set is whole at `revision`) or RESYNC (start again from it). */
export const markerAt = (kind: "SYNCED" | "RESYNC", revision: Revision, token: string): PermissionEvent => ({
  kind,
  resourceId: "",
  missing: NONE,
  revision,
  token,
});

export const syncedAt = (revision: Revision, token: string): PermissionEvent =>
  markerAt("SYNCED", revision, token);

/** A set as a subscriber's copy of it: its entries at `revision`, to be read at once (not kept). */
export interface SetSnapshot {
  readonly entries: ReadonlyMap<string, PermissionState>;
  readonly revision: bigint;
  readonly token: string;
  /** Runs of a step part way sent (at a newer revision), to follow the copy's SYNCED. */
  readonly tail?: readonly ChangeRun[];
}

/** The copy as sent items: one run of every entry in id order, the SYNCED, then the tail. */
export function setRuns(snapshot: SetSnapshot): Sent[] {
  const { entries, revision, token } = snapshot;
  const ids = [...entries.keys()].sort();
  const states = ids.map((id) => entries.get(id)!);
  const out: Sent[] = ids.length === 0 ? [] : [{ ids, states, revision, token }];
  out.push(syncedAt(revision, token));
  if (snapshot.tail !== undefined) for (const run of snapshot.tail) out.push(run);
  return out;
}

/** The copy as events (resume.ts). */
export function setEvents(snapshot: SetSnapshot): PermissionEvent[] {
  const out: PermissionEvent[] = [];
  for (const item of setRuns(snapshot)) {
    if (!isRun(item)) out.push(item);
    else for (let i = 0; i < item.ids.length; i++) out.push(eventAt(item, i));
  }
  return out;
}
