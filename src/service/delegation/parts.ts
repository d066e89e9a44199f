/**
 * One delegated question split into the plain checks that decide it, and their answers folded
 * back. "S acting for P0, which acts for P1, has `permission` on R" holds when:
 * - S has it (unless the request says `not-required`),
 * - every Pi has it, and
 * - every link holds: Pi delegates to its actor (S for P0, P(i-1) for Pi), which is
 *   `check(Pi, delegate, actor)` with the requested permission and resource in the caveat context.
 * The answer is the three-valued AND of those parts: DENIED if one is, else CONDITIONAL (the
 * missing parameters of every conditional part, once each) if one is, else ALLOWED.
 */
import {
  type CheckState,
  clip,
  type DecisionState,
  type ErrorCode,
  formatSubjectRef,
  isLatchError,
  LatchError,
  type ObjectRef,
  type Relationship,
  type Revision,
  type SubjectRef,
} from "../../core/index.js";
import type {
  CheckBulkItem,
  CheckBulkItemResult,
  CheckRequest,
  CheckResult,
  RequestOptions,
  Witness,
} from "../../engine/index.js";
import type { Decider } from "../decider.js";
import type { Chain } from "./chain.js";

/** Where a part comes from, to name the field when it fails. */
export type PartKind =
  | { readonly kind: "subject" }
  | { readonly kind: "principal"; readonly index: number }
  | { readonly kind: "link"; readonly index: number; readonly permission: string };

export interface Part {
  readonly from: PartKind;
  readonly item: CheckBulkItem;
}

/** The caveat context keys Latch adds to a delegation check, so a caveat can scope a delegation. */
export const REQUESTED_PERMISSION = "requested_permission";
export const RESOURCE_TYPE = "resource_type";
export const RESOURCE_ID = "resource_id";

export type PermissionOf = (type: string) => string;

export function requestedPermission(resourceType: string, permission: string): string {
  return `${resourceType}#${permission}`;
}

/**
 * The context of a delegation check: the request's, with the requested permission and resource
 * on top (a caller cannot claim another). Without `resourceId`, `resource_id` is left out, even
 * if the request's context has one, so a caveat that reads it stays undecided.
 */
export function linkContext(
  context: Readonly<Record<string, unknown>> | undefined,
  resourceType: string,
  permission: string,
  resourceId: string | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...context };
  merged[REQUESTED_PERMISSION] = requestedPermission(resourceType, permission);
  merged[RESOURCE_TYPE] = resourceType;
  if (resourceId === undefined) delete merged[RESOURCE_ID];
  else merged[RESOURCE_ID] = resourceId;
  return merged;
}

/** Where a part's caveat context comes from: the request's context, and its `subjectContext`. */
export type ContextSource = Pick<CheckRequest, "context" | "subjectContext">;

/** The context of a part whose subject is `subject`: the request's, with that subject's own over it. */
export function partContext(
  asked: ContextSource,
  subject: SubjectRef,
): Readonly<Record<string, unknown>> | undefined {
  const own = asked.subjectContext?.get(`${subject.type}:${subject.id}`);
  return own === undefined ? asked.context : { ...asked.context, ...own };
}

export function linkPart(
  chain: Chain,
  index: number,
  subject: SubjectRef,
  permissionOf: PermissionOf,
  question: { resourceType: string; permission: string; resourceId: string | undefined },
  asked: ContextSource,
): Part {
  const principal = chain.principals[index]!;
  const permission = permissionOf(principal.type);
  const actor = index === 0 ? subject : chain.principals[index - 1]!;
  const context = partContext(asked, actor);
  return {
    from: { kind: "link", index, permission },
    item: {
      resource: { type: principal.type, id: principal.id },
      permission,
      subject: actor,
      context: linkContext(context, question.resourceType, question.permission, question.resourceId),
    },
  };
}

/** Every part of one question, in the order their errors are reported. */
export function partsOf(
  question: ContextSource & {
    readonly resource: ObjectRef;
    readonly permission: string;
    readonly subject: SubjectRef;
  },
  chain: Chain,
  permissionOf: PermissionOf,
): Part[] {
  const { resource, permission, subject } = question;
  const parts: Part[] = [];
  if (chain.subjectRequired)
    parts.push({ from: { kind: "subject" }, item: ownPart(resource, permission, subject, question) });
  const where = { resourceType: resource.type, permission, resourceId: resource.id };
  for (let i = 0; i < chain.principals.length; i++) {
    parts.push(linkPart(chain, i, subject, permissionOf, where, question));
    parts.push({
      from: { kind: "principal", index: i },
      item: ownPart(resource, permission, chain.principals[i]!, question),
    });
  }
  return parts;
}

/** The check of `subject`'s own permission, in its own context. */
export function ownPart(
  resource: ObjectRef,
  permission: string,
  subject: SubjectRef,
  asked: ContextSource,
): CheckBulkItem {
  const context = partContext(asked, subject);
  return { resource, permission, subject, ...(context === undefined ? {} : { context }) };
}

export interface Verdict {
  readonly state: CheckState;
  readonly missing: readonly string[];
}

/**
 * An answer from further in on the seam. Delegation sits innermost, so it only ever sees the
 * engine's three states; an APPROVAL_REQUIRED from a gate placed inside it would count as not
 * permitted (a gate never grants).
 */
export interface Answer {
  readonly state: DecisionState;
  readonly missing: readonly string[];
}

export const ALLOWED: Verdict = Object.freeze({ state: "ALLOWED", missing: Object.freeze([]) });

/** The three-valued AND. */
export function and(verdicts: Iterable<Answer>): Verdict {
  let conditional = false;
  let missing: Set<string> | undefined;
  for (const v of verdicts) {
    if (v.state === "DENIED" || v.state === "APPROVAL_REQUIRED") return { state: "DENIED", missing: [] };
    if (v.state === "CONDITIONAL") {
      conditional = true;
      missing ??= new Set();
      for (const name of v.missing) missing.add(name);
    }
  }
  return conditional ? { state: "CONDITIONAL", missing: [...(missing ?? [])].sort() } : ALLOWED;
}

/** A part's answer: a Check's, or a bulk item's (a failed one stands for no witness). */
type PartAnswer = CheckBulkItemResult | { readonly ok?: undefined; readonly witness?: Witness };

/**
 * A question's verdict from its parts' answers, every one answered: their AND, and, when the
 * request asked for one and the verdict is not DENIED, the parts' witness.
 */
export function verdictOf(
  parts: readonly Part[],
  answers: readonly (Answer & PartAnswer)[],
  witness: boolean,
): Verdict & { readonly witness?: Witness } {
  const verdict = and(answers);
  if (!witness || verdict.state === "DENIED") return verdict;
  return Object.assign({}, verdict, { witness: witnessOf(parts, answers) });
}

/** A delegated Check's result: its verdict, at the revision its parts were answered at. */
export function resultOf(
  verdict: Verdict & { readonly witness?: Witness },
  at: { readonly revision: Revision; readonly token: string },
): CheckResult {
  const result = { state: verdict.state, missing: verdict.missing, revision: at.revision, token: at.token };
  return verdict.witness === undefined ? result : Object.assign({}, result, { witness: verdict.witness });
}

/**
 * The witness of a delegated answer: the parts' witnesses, the permission's first (the subject's,
 * then each principal's), then the links' (the delegation relationships), each relationship once.
 */
export function witnessOf(parts: readonly Part[], results: readonly PartAnswer[]): Witness {
  const witnesses = new WitnessUnion();
  for (const links of [false, true]) {
    parts.forEach((part, i) => {
      if ((part.from.kind === "link") !== links) return;
      const r = results[i];
      // A bulk item's result has `ok`; a Check's answer (no `ok`) is never a failure.
      witnesses.add(r === undefined || r.ok === false ? undefined : r.witness);
    });
  }
  return witnesses.out;
}

/**
 * Witnesses joined, each relationship once, in the order met. Once by its identity (resource,
 * relation, subject), not as an object: two parts asked apart (a lookup's driver and the bulk
 * check of the others) read the same stored relationship as two objects.
 */
export class WitnessUnion {
  readonly out: Relationship[] = [];
  private readonly seen = new Set<string>();

  add(witness: Witness | undefined): void {
    for (const r of witness ?? []) {
      const { resource, subject } = r;
      const key = `${resource.type}:${resource.id}#${r.relation}@${subject.type}:${subject.id}#${subject.relation ?? ""}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.out.push(r);
    }
  }
}

/**
 * The error a failed part stands for. A bulk item's error keeps only code and message, so the
 * part is asked again alone, at the same revision, to get the error itself; an unknown principal
 * type and a type without a delegation permission are then told apart by the error's details.
 */
export async function partError(
  next: Decider,
  part: Part,
  token: string,
  fallback: { readonly code: string; readonly message: string },
  principals: readonly SubjectRef[],
  prefix: string,
  options: RequestOptions | undefined,
): Promise<LatchError> {
  let error: LatchError;
  try {
    await next.check(
      {
        ...part.item,
        consistency: { kind: "at-exact-snapshot", token },
      },
      options,
    );
    error = new LatchError(fallback.code as ErrorCode, "invalid-argument", fallback.message);
  } catch (e) {
    if (!isLatchError(e)) throw e;
    error = e as LatchError;
  }
  return namedPartError(error, part, principals, prefix);
}

/**
 * A part's error as the delegated question's: an unknown principal type, or a type without its
 * delegation permission, names the principal's `on_behalf_of[i]` field; any other is kept.
 */
export function namedPartError(
  error: LatchError,
  part: Part,
  principals: readonly SubjectRef[],
  prefix: string,
): LatchError {
  const from = part.from;
  if (from.kind === "subject") return error;
  const principal = principals[from.index]!;
  const field = `${prefix}on_behalf_of[${from.index}]`;
  const type = clip(principal.type);
  if (error.code === "check/unknown-type" && error.details.type === type) {
    return new LatchError(
      "delegation/unknown-principal-type",
      "invalid-argument",
      `${field}: unknown principal type ${type}`,
      { field, type },
    );
  }
  if (from.kind === "link" && error.code === "check/unknown-permission" && error.details.type === type) {
    return new LatchError(
      "delegation/no-delegation-permission",
      "invalid-argument",
      `${field}: ${formatSubjectRef(principal)} cannot delegate: type ${type} has no permission ${clip(from.permission)}`,
      { field, type, permission: clip(from.permission) },
    );
  }
  return error;
}
