import type { ObjectRef, Revision, SubjectRef } from "../../core/index.js";

/**
 * One event of a WatchPermissions stream; every event carries the revision (and its token) at
 * which it holds.
 * - ADDED: the subject now has the permission on `resourceId` (ALLOWED).
 * - CONDITIONAL: it has it only if the caveat parameters in `missing` say so.
 * - REMOVED: it no longer has it at all.
 * - SYNCED: the events so far make up exactly the set at `revision`. Sent after the first set,
 *   after each resync and after each revision that changed the set (and, with `checkpoints`,
 *   after each revision the feed reached).
 * - RESYNC: the subscriber fell behind (or asked for it): forget the set; the whole set follows,
 *   as ADDED and CONDITIONAL events, then SYNCED.
 */
export type PermissionEventKind = "ADDED" | "CONDITIONAL" | "REMOVED" | "SYNCED" | "RESYNC";

export interface PermissionEvent {
  readonly kind: PermissionEventKind;
  /** "" for SYNCED and RESYNC. */
  readonly resourceId: string;
  /** With CONDITIONAL: the caveat parameters that would decide it; empty otherwise. */
  readonly missing: readonly string[];
  readonly revision: Revision;
  readonly token: string;
}

export interface PermissionState {
  readonly state: "ALLOWED" | "CONDITIONAL";
  readonly missing: readonly string[];
}

export interface WatchPermissionsRequest {
  readonly resourceType: string;
  readonly permission: string;
  /** An object (`user:alice`) or a subject set (`group:eng#member`). */
  readonly subject: SubjectRef;
  /** The principals the subject acts for, nearest first (as in Check). */
  readonly onBehalfOf?: readonly SubjectRef[];
  /** Caveat context for every evaluation of this subscription. */
  readonly context?: Readonly<Record<string, unknown>>;
  /** Also send SYNCED after each revision the feed reached, even when the set did not change. */
  readonly checkpoints?: boolean;
  /**
   * Resume after this revision token (a SYNCED's, or any this store issued within the GC
   * window): the stream starts with the set's changes since then instead of the whole set, or
   * with RESYNC and the whole set when they cannot be known exactly (resume.ts).
   */
  readonly after?: string;
}

export interface WatchPermissionsOptions {
  readonly signal?: AbortSignal;
}

/**
 * An event from outside the relationships feed: a subject's own state (a suspension, its signal
 * attributes) changed at `revision`. Every subscription where it is the subject or in the chain
 * is recomputed once the feed has reached that revision.
 */
export interface SubjectStateChange {
  readonly subject: ObjectRef;
  readonly revision: Revision;
}

export interface PermissionWatchStats {
  readonly subscriptions: number;
  /** Distinct (subject, chain, permission, type, context) sets being kept. */
  readonly groups: number;
  /** The revision every group's set has reached (the oldest of those still updating). */
  readonly revision: Revision | undefined;
  /** Resources re-checked incrementally since the start. */
  readonly rechecked: number;
  /** Sets recomputed whole because they had to be: schema change, walk past its bound, delegation link, signal. */
  readonly recomputed: number;
  /** Sets looked up whole because that was cheaper than re-checking the many resources a step reached. */
  readonly lookedUp: number;
  /** Subscribers resynced because they fell behind. */
  readonly resyncs: number;
  /**
   * Objects reached by the walks planning does once for every set (changes that may concern
   * anyone); every later step's planning waits for these.
   */
  readonly walkedInPlanning: number;
  /** Objects reached by sets walking the changes only they are concerned by, on their own queues. */
  readonly walkedBySets: number;
}
