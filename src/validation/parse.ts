/** Reading SpiceDB validation files: schema, relationships, assertions, expected relations. */
import {
  clip,
  LatchError,
  type ObjectRef,
  parseObjectRef,
  parseRelationship,
  parseSubjectRef,
  type Relationship,
  type SubjectRef,
} from "../core/index.js";

export type AssertionKind = "assertTrue" | "assertFalse" | "assertCaveated";

export interface Assertion {
  readonly kind: AssertionKind;
  /** The text as written in the file. */
  readonly text: string;
  readonly resource: ObjectRef;
  readonly permission: string;
  readonly subject: SubjectRef;
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface ExpectedRelation {
  /** `type:id#permission` */
  readonly key: string;
  readonly resource: ObjectRef;
  readonly permission: string;
  /** Expected subjects, as written (`user:tom`, `group:eng#member`, `user:*`). */
  readonly subjects: readonly { readonly subject: SubjectRef; readonly text: string }[];
}

export interface ValidationDocument {
  readonly schema?: string;
  readonly schemaFile?: string;
  readonly relationships?: string | null;
  readonly assertions?: Partial<Record<AssertionKind, readonly string[] | null>> | null;
  readonly validation?: Readonly<Record<string, readonly string[] | null>> | null;
}

const invalid = (message: string, details: Record<string, unknown> = {}) =>
  new LatchError("validation/invalid-file", "invalid-argument", message, details);

export function parseRelationshipsBlock(text: string | null | undefined): Relationship[] {
  if (text === undefined || text === null) return [];
  const out: Relationship[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("//") || line.startsWith("#")) continue;
    out.push(parseRelationship(line));
  }
  return out;
}

/** `type:id#permission@subject` optionally followed by ` with {json}`. */
export function parseAssertion(kind: AssertionKind, text: string): Assertion {
  const trimmed = text.trim();
  const withAt = trimmed.search(/\swith\s*\{/);
  const main = (withAt < 0 ? trimmed : trimmed.slice(0, withAt)).trim();
  let context: Record<string, unknown> | undefined;
  if (withAt >= 0) {
    const json = trimmed.slice(trimmed.indexOf("{", withAt));
    try {
      context = JSON.parse(json) as Record<string, unknown>;
    } catch (e) {
      throw invalid(`assertion context is not valid JSON: ${clip(trimmed, 512)}`, {
        assertion: clip(trimmed, 512),
        cause: String(e),
      });
    }
  }
  const at = main.indexOf("@");
  const hash = main.lastIndexOf("#", at);
  if (at < 0 || hash < 0)
    throw invalid(`assertion must look like type:id#permission@subject: ${clip(trimmed, 512)}`);
  return {
    kind,
    text: trimmed,
    resource: parseObjectRef(main.slice(0, hash)),
    permission: main.slice(hash + 1, at),
    subject: parseSubjectRef(main.slice(at + 1)),
    ...(context === undefined ? {} : { context }),
  };
}

export function parseAssertions(block: ValidationDocument["assertions"]): Assertion[] {
  if (block === undefined || block === null) return [];
  const out: Assertion[] = [];
  for (const kind of ["assertTrue", "assertFalse", "assertCaveated"] as const) {
    for (const text of block[kind] ?? []) out.push(parseAssertion(kind, text));
  }
  return out;
}

/** Entries like `[user:tom] is <document:d#viewer>` or `[user:sarah[...]] is ...`. */
export function parseExpectedRelations(block: ValidationDocument["validation"]): ExpectedRelation[] {
  if (block === undefined || block === null) return [];
  const out: ExpectedRelation[] = [];
  for (const [key, entries] of Object.entries(block)) {
    const hash = key.lastIndexOf("#");
    if (hash < 0) throw invalid(`expected relation key must look like type:id#permission: ${clip(key, 512)}`);
    const subjects = (entries ?? []).map((entry) => {
      const m = /^\s*\[([^\][]+)(?:\[[^\]]*\])?\]/.exec(entry);
      if (m === null) throw invalid(`expected subject must start with [subject]: ${clip(entry, 512)}`);
      const text = m[1]!.trim();
      return { subject: parseSubjectRef(text), text };
    });
    out.push({
      key,
      resource: parseObjectRef(key.slice(0, hash)),
      permission: key.slice(hash + 1),
      subjects,
    });
  }
  return out;
}
