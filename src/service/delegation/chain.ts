/**
 * The on-behalf-of chain of one request, checked before any work: its length, its principals'
 * shape, no principal twice and none equal to the subject. What needs the schema (a principal's
 * type exists and has a delegation permission) is learnt from the engine's own answer, in
 * `parts.ts`, so a request with no chain never reads the schema here.
 */
import { formatSubjectRef, LatchError, type SubjectRef, WILDCARD_ID } from "../../core/index.js";
import type { SubjectGrants } from "../../engine/index.js";
import { invalidArgument } from "../errors.js";
import { checkSubjectRef } from "../validate.js";

/** Most principals in one chain. */
export const MAX_CHAIN = 8;

export interface Chain {
  readonly principals: readonly SubjectRef[];
  readonly subjectRequired: boolean;
}

function sameSubject(a: SubjectRef, b: SubjectRef): boolean {
  return a.type === b.type && a.id === b.id && a.relation === b.relation;
}

/** Refuses a chain over the limit; the transports call it before they decode the principals. */
export function checkChainLength(length: number, prefix = ""): void {
  if (length > MAX_CHAIN) {
    throw new LatchError(
      "delegation/chain-too-long",
      "invalid-argument",
      `${prefix}on_behalf_of: ${length} principals is over the limit of ${MAX_CHAIN}`,
      { field: `${prefix}on_behalf_of`, limit: MAX_CHAIN, got: length },
    );
  }
}

/** `prefix` names the request in a field (`items[2].`), so a bulk item's error names its item. */
export function checkChain(
  subject: SubjectRef,
  onBehalfOf: readonly SubjectRef[],
  grants: SubjectGrants | undefined,
  prefix = "",
): Chain {
  if (grants !== undefined && grants !== "required" && grants !== "not-required")
    throw invalidArgument(
      `${prefix}subject_grants`,
      `must be required or not-required, got ${String(grants)}`,
    );
  checkChainLength(onBehalfOf.length, prefix);
  // A subject set acting would pass its own link by membership in itself (`user:alice#delegate` is
  // in `user:alice`'s delegate permission) with no delegation stored.
  if (subject.relation !== undefined || subject.id === WILDCARD_ID) {
    throw new LatchError(
      "delegation/invalid-subject",
      "invalid-argument",
      `${prefix}subject: the one acting for someone is one object (agent:bot), not ${formatSubjectRef(subject)}`,
      { field: `${prefix}subject` },
    );
  }
  const principals: SubjectRef[] = [];
  onBehalfOf.forEach((raw, i) => {
    const field = `${prefix}on_behalf_of[${i}]`;
    const principal = checkSubjectRef(raw, field);
    if (principal.relation !== undefined || principal.id === WILDCARD_ID) {
      throw new LatchError(
        "delegation/invalid-principal",
        "invalid-argument",
        `${field}: a principal is one object (user:alice), not ${formatSubjectRef(principal)}`,
        { field },
      );
    }
    const again = sameSubject(principal, subject)
      ? "the subject"
      : principals.find((p) => sameSubject(p, principal));
    if (again !== undefined) {
      throw new LatchError(
        "delegation/repeated-principal",
        "invalid-argument",
        `${field}: ${formatSubjectRef(principal)} is ${again === "the subject" ? "the subject itself" : "already in the chain"}`,
        { field },
      );
    }
    principals.push(principal);
  });
  if (principals.length === 0 && grants === "not-required")
    throw invalidArgument(`${prefix}subject_grants`, "not-required needs an on_behalf_of chain");
  return { principals, subjectRequired: grants !== "not-required" };
}
