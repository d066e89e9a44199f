/**
 * What the Schema page shows before a write: the text's line diff against the stored schema
 * (jsdiff), the changes as the project's own DiffSchema sees them (src/schema, bundled), which of
 * them can orphan stored relationships, the compiler's fix hint split from its message, and the
 * server's orphan refusal read back into counts.
 */
import { structuredPatch } from "diff";
import { compileSchema, diffSchemas, type SchemaChange } from "../../src/schema/index.js";

export interface DiffLine {
  readonly kind: "add" | "del" | "same";
  readonly text: string;
}

export interface DiffHunk {
  /** `@@ -3,4 +3,5 @@`: where the hunk is in the stored text and in the edited one. */
  readonly header: string;
  readonly lines: readonly DiffLine[];
}

/** The edited text against the stored one, in hunks with `context` unchanged lines around each change. */
export function lineDiff(stored: string, edited: string, context = 2): DiffHunk[] {
  const patch = structuredPatch("stored", "edited", stored, edited, undefined, undefined, { context });
  return patch.hunks.map((h) => ({
    header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`,
    lines: h.lines
      .filter((l) => !l.startsWith("\\"))
      .map((l) => ({ kind: l[0] === "+" ? "add" : l[0] === "-" ? "del" : "same", text: l.slice(1) })),
  }));
}

export interface ChangeSentence {
  readonly text: string;
  /** Removes something stored relationships may use: the server's orphan check decides on write. */
  readonly risky: boolean;
}

const RISKY = new Set<SchemaChange["kind"]>([
  "definition-removed",
  "relation-removed",
  "relation-subject-type-removed",
]);

function subjectTypeText(s: { definition: string; relation?: string; wildcard: boolean; caveat?: string }) {
  const base = s.wildcard ? `${s.definition}:*` : s.relation ? `${s.definition}#${s.relation}` : s.definition;
  return s.caveat ? `${base} with ${s.caveat}` : base;
}

/** One change as a sentence a policy author reads. */
export function changeSentence(change: SchemaChange): string {
  const [what, how] = change.kind.split(/-(?=[a-z]+$)/) as [string, string];
  const thing = what.replaceAll("-", " ");
  switch (change.kind) {
    case "definition-added":
    case "definition-removed":
    case "definition-comment-changed":
      return `${thing} ${change.definition.name}: ${how}`;
    case "relation-added":
    case "relation-removed":
    case "relation-comment-changed":
      return `${thing} ${change.relation.definition}#${change.relation.name}: ${how}`;
    case "relation-subject-type-added":
    case "relation-subject-type-removed":
      return `subject type ${subjectTypeText(change.subjectType)} of ${change.relation.definition}#${change.relation.name}: ${how}`;
    case "permission-added":
    case "permission-removed":
    case "permission-comment-changed":
    case "permission-expr-changed":
      return `${thing} ${change.permission.definition}#${change.permission.name}: ${how}`;
    case "caveat-added":
    case "caveat-removed":
    case "caveat-comment-changed":
    case "caveat-expr-changed":
      return `${thing} ${change.caveat.name}: ${how}`;
    case "caveat-parameter-added":
    case "caveat-parameter-removed":
      return `parameter ${change.parameter.name} of caveat ${change.parameter.caveat}: ${how}`;
    case "caveat-parameter-type-changed":
      return `parameter ${change.parameter.name} of caveat ${change.parameter.caveat}: type ${change.previousType} -> ${change.parameter.type}`;
  }
}

/**
 * The changes from the stored schema to the edited one, as DiffSchema reports them; undefined when
 * either does not compile (the problems list says why). An empty stored text counts as no schema.
 */
export function schemaChanges(stored: string, edited: string): ChangeSentence[] | undefined {
  try {
    const after = compileSchema(edited);
    const before = compileSchema(stored.trim() === "" ? "" : stored);
    return diffSchemas(before, after).map((c) => ({ text: changeSentence(c), risky: RISKY.has(c.kind) }));
  } catch {
    return undefined;
  }
}

/**
 * A compiler message cut into what is wrong and how to fix it. The compiler writes both in one
 * sentence, "what; how" with an optional "(did you mean `x`?)": this finds those parts, outside
 * backquoted names. No hint when the message has neither.
 */
export function splitHint(message: string): { what: string; hint?: string } {
  let inCode = false;
  let cut = -1;
  for (let i = 0; i < message.length; i++) {
    if (message[i] === "`") inCode = !inCode;
    else if (!inCode && message[i] === ";" && message[i + 1] === " ") {
      cut = i;
      break;
    }
  }
  let what = cut < 0 ? message : message.slice(0, cut);
  let hint = cut < 0 ? undefined : message.slice(cut + 2);
  const guess = / \(did you mean (`[^`]*`)\?\)/.exec(what);
  if (guess !== null) {
    what = what.slice(0, guess.index) + what.slice(guess.index + guess[0].length);
    hint = `did you mean ${guess[1]}?${hint === undefined ? "" : ` Or ${hint}`}`;
  }
  return hint === undefined ? { what } : { what, hint };
}

export interface OrphanRow {
  readonly relation: string;
  readonly count: number;
  readonly reasons: readonly string[];
}

export interface OrphanRefusal {
  /** Relationships the write would orphan (at least, when `moreRelations` > 0). */
  readonly total: number;
  readonly rows: readonly OrphanRow[];
  /** Relations the server counted but did not list. */
  readonly moreRelations: number;
}

/**
 * The orphan check's refusal (`schema/would-orphan`) read from the error's details: each relation
 * with its count and reasons. Undefined for any other error.
 */
export function orphanRefusal(error: {
  readonly latchCode?: string | undefined;
  readonly details?: unknown;
}): OrphanRefusal | undefined {
  if (error.latchCode !== "schema/would-orphan") return undefined;
  const d = error.details as { orphans?: unknown; orphanedRelations?: unknown } | undefined;
  const rows: OrphanRow[] = [];
  for (const o of Array.isArray(d?.orphans) ? d.orphans : []) {
    const { relation, count, reasons } = (o ?? {}) as Record<string, unknown>;
    if (typeof relation !== "string" || typeof count !== "number") continue;
    rows.push({ relation, count, reasons: Array.isArray(reasons) ? reasons.map(String) : [] });
  }
  const counted = typeof d?.orphanedRelations === "number" ? d.orphanedRelations : rows.length;
  return {
    total: rows.reduce((n, r) => n + r.count, 0),
    rows,
    moreRelations: Math.max(0, counted - rows.length),
  };
}
