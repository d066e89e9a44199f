/**
 * Who decides an approval. A token named like a subject (`--token user:olga=SECRET`) is that
 * person: DecideApproval decides as them, and an `approver` field naming someone else is refused,
 * so one approver's token cannot sign for another. A token with any other name (`ci=...`, or a
 * bare secret, named `token-N`) names no one: it is an administrator's token, and the request's
 * `approver` field says who decides, as before.
 */
import {
  formatSubjectRef,
  isLatchError,
  LatchError,
  parseSubjectRef,
  type SubjectRef,
} from "../core/index.js";
import type { SubjectReference } from "../gen/latch/v1/core_pb.js";
import { subjectRefFromProto } from "./convert.js";

/** The subject a token's name names, or undefined when the name is not `type:id[#relation]`. */
export function tokenIdentity(caller: string | undefined): SubjectRef | undefined {
  if (caller === undefined || !caller.includes(":")) return undefined;
  try {
    return parseSubjectRef(caller);
  } catch (error) {
    // A name such as `ops:Night` is a label, not a subject: it names no one.
    if (isLatchError(error)) return undefined;
    throw error;
  }
}

/** The approver of a DecideApproval call made with the token named `caller`. */
export function approverOf(caller: string | undefined, field: SubjectReference | undefined): SubjectRef {
  const identity = tokenIdentity(caller);
  if (identity === undefined) return subjectRefFromProto(field, "approver");
  if (field?.object === undefined) return identity;
  const asked = subjectRefFromProto(field, "approver");
  if (formatSubjectRef(asked) !== formatSubjectRef(identity))
    throw new LatchError(
      "approval/approver-mismatch",
      "permission-denied",
      `this token is ${formatSubjectRef(identity)}'s, but the request names ${formatSubjectRef(asked)} as approver: decide with that person's token, or leave approver empty`,
      { field: "approver", token: formatSubjectRef(identity), approver: formatSubjectRef(asked) },
    );
  return identity;
}
