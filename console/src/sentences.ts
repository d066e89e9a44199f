/** Decision records and approvals as the sentences people read in the audit table and inbox. */

export interface DecisionRecord {
  readonly seq?: string;
  readonly time?: string;
  readonly caller?: string;
  readonly operation?: string;
  readonly subject?: string;
  readonly onBehalfOf?: string[];
  readonly resource?: string;
  readonly permission?: string;
  readonly answer?: string;
  readonly missing?: string[];
  readonly witness?: string[];
  readonly reason?: string;
  readonly approvalId?: string;
  readonly approvalRule?: string;
}

export interface Approval {
  readonly id?: string;
  readonly ruleId?: string;
  readonly resource?: string;
  readonly permission?: string;
  readonly subject?: string;
  readonly onBehalfOf?: string[];
  readonly state?: string;
  readonly message?: string;
  readonly justification?: string;
  readonly createdAt?: string;
  readonly expiresAt?: string;
  readonly decidedBy?: string;
  /** The relationships that proved the subject's own check when it asked. */
  readonly witness?: string[];
}

/** `DECISION_ANSWER_ALLOWED` -> `ALLOWED`; the same for the other enums shown. */
export function enumWord(value: string | undefined, prefix: string): string {
  if (value === undefined) return "UNSPECIFIED";
  return value.startsWith(prefix) ? value.slice(prefix.length) : value;
}

/** `agent:x acting for user:y (for user:z): read on document:plan ALLOWED via ...`. */
export function decisionSentence(r: DecisionRecord): string {
  const who =
    (r.onBehalfOf ?? []).length === 0
      ? (r.subject ?? "?")
      : `${r.subject ?? "?"} acting for ${(r.onBehalfOf ?? []).join(" for ")}`;
  const answer = enumWord(r.answer, "DECISION_ANSWER_");
  let sentence = `${who}: ${r.permission ?? "?"} on ${r.resource ?? "?"} ${answer}`;
  if ((r.witness ?? []).length > 0) sentence += ` via ${(r.witness ?? []).join(", ")}`;
  if ((r.missing ?? []).length > 0) sentence += ` (missing ${(r.missing ?? []).join(", ")})`;
  if (r.reason !== undefined && r.reason !== "") sentence += ` (${r.reason})`;
  if (r.approvalId !== undefined && r.approvalId !== "") sentence += ` with approval ${r.approvalId}`;
  return sentence;
}

/** `agent:bot acting for user:alice asks to delete database:prod`. */
export function approvalSentence(a: Approval): string {
  const chain = a.onBehalfOf ?? [];
  const who =
    chain.length === 0 ? (a.subject ?? "?") : `${a.subject ?? "?"} acting for ${chain.join(" for ")}`;
  return `${who} asks to ${a.permission ?? "?"} ${a.resource ?? "?"}`;
}
