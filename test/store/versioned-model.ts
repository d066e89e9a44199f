/**
 * A naive model of the in-memory copy's versioned relationships, for the property tests of its
 * packed forms: every version ever written with the revisions that created and deleted it.
 */
import type { Relationship } from "../../src/core/index.js";
import { RelationshipIndex } from "../../src/store/mirror/relationship-index.js";

export interface Version {
  readonly r: Relationship;
  readonly created: number;
  deleted: number;
}

/** A relationship's identity: a touch of the same one replaces the live version. */
export const identityOf = (r: Relationship) =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}#${r.subject.relation ?? ""}`;

/** Applies a touch or a delete at `revision` to the index and to the model alike. */
export function applyWrite(
  index: RelationshipIndex,
  versions: Version[],
  kind: "touch" | "delete",
  r: Relationship,
  revision: number,
): void {
  const id = identityOf(r);
  const live = versions.find((v) => v.deleted === Infinity && identityOf(v.r) === id);
  if (live !== undefined) live.deleted = revision;
  if (kind === "touch") {
    index.touch(r, revision);
    versions.push({ r, created: revision, deleted: Infinity });
  } else index.delete(r, revision);
}

/** A fresh index and the model side by side, as a property test replays writes and compactions. */
export class Replay {
  readonly index = new RelationshipIndex();
  readonly versions: Version[] = [];
  revision = 0;
  /** The last compaction's floor: the oldest revision a reader may still ask. */
  floor = 0;

  /** A touch or a delete at the next revision, to both. */
  write(kind: "touch" | "delete", r: Relationship): void {
    applyWrite(this.index, this.versions, kind, r, ++this.revision);
  }

  /**
   * Moves the floor to the current revision and compacts: whole, or `budget` entries of it (the
   * rest left for a later call, as the copy does a slice a turn). Returns whether some are left.
   */
  compact(budget?: number | undefined): boolean {
    this.floor = this.revision;
    return this.index.compact(this.floor, budget);
  }
}

/** The versions a reader at revision `at` sees at clock `now` that `keep` selects. */
export function visible(
  versions: readonly Version[],
  at: number,
  now: number,
  keep: (r: Relationship) => boolean,
): Relationship[] {
  return versions
    .filter((v) => keep(v.r) && v.created <= at && at < v.deleted)
    .filter((v) => v.r.expiration === undefined || v.r.expiration.getTime() > now)
    .map((v) => v.r);
}
