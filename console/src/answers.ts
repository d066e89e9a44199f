/** Expand's tree and the lookups' rows, from the API's JSON to what the check page draws. */
import { enumWord } from "./sentences.js";

interface WireRef {
  readonly objectType?: string;
  readonly objectId?: string;
}

export interface WireExpandTree {
  readonly intermediate?: { readonly operation?: string; readonly children?: WireExpandTree[] };
  readonly leaf?: {
    readonly subjects?: {
      readonly subject?: { readonly object?: WireRef; readonly optionalRelation?: string };
      readonly optionalCaveatName?: string;
      readonly optionalExpiresAt?: string;
    }[];
  };
  readonly expandedObject?: WireRef;
  readonly expandedRelation?: string;
}

export interface ExpandNode {
  /** `document:plan#view`, `union`, or a subject `user:alice [caveat]`. */
  readonly label: string;
  readonly kind: "set" | "operation" | "subject";
  readonly children: ExpandNode[];
}

const ref = (r: WireRef | undefined) => `${r?.objectType ?? "?"}:${r?.objectId ?? "?"}`;

/** An expanded set: its object#relation, then its operation or its subjects. */
export function expandTreeOf(t: WireExpandTree): ExpandNode {
  const children: ExpandNode[] = [];
  if (t.intermediate !== undefined) {
    children.push({
      label: enumWord(t.intermediate.operation, "OPERATION_").toLowerCase(),
      kind: "operation",
      children: (t.intermediate.children ?? []).map(expandTreeOf),
    });
  }
  for (const s of t.leaf?.subjects ?? []) {
    let label = ref(s.subject?.object);
    if (s.subject?.optionalRelation) label += `#${s.subject.optionalRelation}`;
    if (s.optionalCaveatName) label += ` [${s.optionalCaveatName}]`;
    if (s.optionalExpiresAt) label += ` [until ${s.optionalExpiresAt}]`;
    children.push({ label, kind: "subject", children: [] });
  }
  return { label: `${ref(t.expandedObject)}#${t.expandedRelation ?? "?"}`, kind: "set", children };
}

export interface LookupRow {
  readonly id: string;
  /** ALLOWED, or CONDITIONAL with the parameters that would decide it. */
  readonly state: "ALLOWED" | "CONDITIONAL";
  readonly missing: readonly string[];
  readonly excluded?: readonly string[];
}

interface Partial {
  readonly missingRequiredContext?: string[];
}

function stateOf(p: string | undefined): LookupRow["state"] {
  return p === "LOOKUP_PERMISSIONSHIP_CONDITIONAL_PERMISSION" ? "CONDITIONAL" : "ALLOWED";
}

export function resourceRows(
  messages: readonly { resourceObjectId?: string; permissionship?: string; partialCaveatInfo?: Partial }[],
): LookupRow[] {
  return messages.map((m) => ({
    id: m.resourceObjectId ?? "",
    state: stateOf(m.permissionship),
    missing: m.partialCaveatInfo?.missingRequiredContext ?? [],
  }));
}

interface Resolved {
  readonly subjectObjectId?: string;
  readonly permissionship?: string;
  readonly partialCaveatInfo?: Partial;
}

export function subjectRows(
  messages: readonly { subject?: Resolved; excludedSubjects?: Resolved[] }[],
): LookupRow[] {
  return messages.map((m) => ({
    id: m.subject?.subjectObjectId ?? "",
    state: stateOf(m.subject?.permissionship),
    missing: m.subject?.partialCaveatInfo?.missingRequiredContext ?? [],
    excluded: (m.excludedSubjects ?? []).map((e) => e.subjectObjectId ?? ""),
  }));
}
