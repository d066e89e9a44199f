/** The contract of LookupResources and LookupSubjects (re-exported by `types.ts`). */
import type { ObjectRef, Revision, SubjectRef } from "../core/index.js";
import type { Consistency } from "./types.js";

export interface LookupResourcesRequest {
  readonly resourceType: string;
  /** A permission or relation of `resourceType`. */
  readonly permission: string;
  /** An object (`user:alice`) or a subject set (`group:eng#member`); never a wildcard. */
  readonly subject: SubjectRef;
  readonly context?: Readonly<Record<string, unknown>>;
  /** Ignored when `cursor` is given: a cursor pins the revision of the page it came from. */
  readonly consistency?: Consistency;
  /** Most results to return; all of them when absent. */
  readonly limit?: number;
  /** From a previous result: continue after it, at its revision. */
  readonly cursor?: string;
}

export interface LookupResourceResult {
  readonly resourceId: string;
  readonly state: "ALLOWED" | "CONDITIONAL";
  /** Caveat parameters that would decide a CONDITIONAL result; empty otherwise. */
  readonly missing: readonly string[];
  /** Pass back as `cursor` to continue after this result. */
  readonly cursor: string;
  readonly revision: Revision;
  readonly token: string;
}

export interface LookupSubjectsRequest {
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subjectType: string;
  /** Look up subject sets `subjectType:id#subjectRelation` instead of plain objects. */
  readonly subjectRelation?: string;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly consistency?: Consistency;
}

export interface LookupSubjectResult {
  /** A concrete subject, or the wildcard (`id` `*`) standing for every other subject of the type. */
  readonly subject: SubjectRef;
  readonly state: "ALLOWED" | "CONDITIONAL";
  readonly missing: readonly string[];
  /** On a wildcard result only: subjects of the type the wildcard does not cover (`viewer - banned`). */
  readonly excluded?: readonly SubjectRef[];
  readonly revision: Revision;
  readonly token: string;
}
