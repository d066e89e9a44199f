/** Plain readonly types shared by every module. No behaviour lives here. */

/** An object: `document:q3`. */
export interface ObjectRef {
  readonly type: string;
  readonly id: string;
}

/**
 * A subject: an object (`user:alice`, relation absent), a subject set (`group:eng#member`) or a
 * wildcard (`user:*`, id `*`). The ellipsis `#...` is the same subject as no relation and is
 * normalised away by the parser, so it never appears here.
 */
export interface SubjectRef {
  readonly type: string;
  readonly id: string;
  readonly relation?: string;
}

/** A caveat attached to a relationship: its name and the context stored with it. */
export interface CaveatRef {
  readonly name: string;
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface Relationship {
  readonly resource: ObjectRef;
  readonly relation: string;
  readonly subject: SubjectRef;
  readonly caveat?: CaveatRef;
  /** Instant after which the relationship no longer exists. */
  readonly expiration?: Date;
}

/** A monotonic number given to each write transaction. */
export type Revision = bigint;

export const WILDCARD_ID = "*";

export type CheckState = "ALLOWED" | "DENIED" | "CONDITIONAL";

/**
 * What the decision seam answers: the engine's three states, and `APPROVAL_REQUIRED` from the
 * approval gate (src/approvals) for an action that is permitted but needs a person's yes first.
 * The engine itself never answers it.
 */
export type DecisionState = CheckState | "APPROVAL_REQUIRED";
