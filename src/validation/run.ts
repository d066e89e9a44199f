/**
 * The `latch validate` runner: loads a SpiceDB validation file into a fresh in-memory store, runs
 * every assertion and expected-relations block, and reports each failure with its explanation.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  type CheckState,
  formatSubjectRef,
  isLatchError,
  type Relationship,
  type SubjectRef,
} from "../core/index.js";
import { createEngine, type Engine, type ExplainNode } from "../engine/index.js";
import type { Store } from "../store/index.js";
import { createSqliteStore } from "../store/sqlite/index.js";
import {
  type Assertion,
  parseAssertions,
  parseExpectedRelations,
  parseRelationshipsBlock,
  type ValidationDocument,
} from "./parse.js";

export interface ValidationFailure {
  readonly kind: Assertion["kind"] | "validation";
  readonly assertion: string;
  readonly expected: string;
  readonly actual: string;
  readonly missing?: readonly string[];
  readonly explain?: ExplainNode;
}

export interface ValidationReport {
  readonly file?: string;
  readonly relationships: number;
  readonly assertions: number;
  readonly failures: readonly ValidationFailure[];
  /** Set when the file could not be loaded at all (schema or relationship errors). */
  readonly error?: string;
}

export interface RunOptions {
  /** Shown in the report. */
  readonly file?: string;
  /** Folder `schemaFile` is resolved against (default: the current directory). */
  readonly baseDir?: string;
  /** Store factory; an in-memory SQLite store by default. */
  readonly createStore?: () => Promise<Store>;
}

const EXPECTED: Record<Assertion["kind"], CheckState> = {
  assertTrue: "ALLOWED",
  assertFalse: "DENIED",
  assertCaveated: "CONDITIONAL",
};

export async function runValidationFile(path: string, options: Omit<RunOptions, "file" | "baseDir"> = {}) {
  const text = await readFile(path, "utf8");
  let doc: ValidationDocument;
  try {
    doc = (parseYaml(text) ?? {}) as ValidationDocument;
  } catch (e) {
    return { file: path, relationships: 0, assertions: 0, failures: [], error: `invalid YAML: ${String(e)}` };
  }
  return runValidation(doc, { ...options, file: path, baseDir: dirname(path) });
}

export async function runValidation(
  doc: ValidationDocument,
  options: RunOptions = {},
): Promise<ValidationReport> {
  const base = { ...(options.file === undefined ? {} : { file: options.file }) };
  let schemaText: string;
  let relationships: Relationship[];
  let assertions: Assertion[];
  let expected: ReturnType<typeof parseExpectedRelations>;
  try {
    if (doc.schema !== undefined && doc.schema !== null) schemaText = doc.schema;
    else if (doc.schemaFile !== undefined) {
      schemaText = await readFile(resolve(options.baseDir ?? ".", doc.schemaFile), "utf8");
    } else throw new Error("the file has neither `schema` nor `schemaFile`");
    relationships = parseRelationshipsBlock(doc.relationships);
    assertions = parseAssertions(doc.assertions);
    expected = parseExpectedRelations(doc.validation);
  } catch (e) {
    return { ...base, relationships: 0, assertions: 0, failures: [], error: describe(e) };
  }

  const store = await (options.createStore ?? (() => createSqliteStore({ path: ":memory:" })))();
  try {
    try {
      await store.writeSchema(schemaText);
      if (relationships.length > 0) await store.importRelationships(relationships);
    } catch (e) {
      return { ...base, relationships: 0, assertions: 0, failures: [], error: describe(e) };
    }
    const engine = createEngine({ store, quantizationMs: 0 });
    const failures: ValidationFailure[] = [];
    for (const a of assertions) {
      const failure = await runAssertion(engine, a);
      if (failure !== undefined) failures.push(failure);
    }
    for (const e of expected) failures.push(...(await runExpected(engine, e, relationships)));
    return {
      ...base,
      relationships: relationships.length,
      assertions: assertions.length + expected.length,
      failures,
    };
  } finally {
    await store.close();
  }
}

async function runAssertion(engine: Engine, a: Assertion): Promise<ValidationFailure | undefined> {
  const expected = EXPECTED[a.kind];
  try {
    const request = {
      resource: a.resource,
      permission: a.permission,
      subject: a.subject,
      consistency: { kind: "fully-consistent" } as const,
      ...(a.context === undefined ? {} : { context: a.context }),
    };
    const result = await engine.check(request);
    if (result.state === expected) return undefined;
    const explained = await engine.check({ ...request, explain: true });
    return {
      kind: a.kind,
      assertion: a.text,
      expected,
      actual: result.state,
      ...(result.missing.length > 0 ? { missing: result.missing } : {}),
      ...(explained.explain === undefined ? {} : { explain: explained.explain }),
    };
  } catch (e) {
    return { kind: a.kind, assertion: a.text, expected, actual: `error: ${describe(e)}` };
  }
}

/**
 * Expected relations list every subject with access. We check each candidate subject that appears
 * in the data (plus those expected) and compare the sets; the `is <...>` paths are not compared.
 */
async function runExpected(
  engine: Engine,
  e: ReturnType<typeof parseExpectedRelations>[number],
  relationships: readonly Relationship[],
): Promise<ValidationFailure[]> {
  const candidates = new Map<string, SubjectRef>();
  for (const r of relationships) {
    candidates.set(formatSubjectRef(r.subject), r.subject);
    candidates.set(`${r.resource.type}:${r.resource.id}`, r.resource);
  }
  for (const s of e.subjects) candidates.set(formatSubjectRef(s.subject), s.subject);
  const expected = new Set(e.subjects.map((s) => formatSubjectRef(s.subject)));
  const actual = new Set<string>();
  for (const [key, subject] of candidates) {
    try {
      const result = await engine.check({
        resource: e.resource,
        permission: e.permission,
        subject: subject.id === "*" ? { type: subject.type, id: "__latch_any_object__" } : subject,
        consistency: { kind: "fully-consistent" },
      });
      if (result.state !== "DENIED") actual.add(key);
    } catch (err) {
      // Candidates of types that cannot be subjects here are simply not members.
      if (!isLatchError(err)) throw err;
    }
  }
  const failures: ValidationFailure[] = [];
  const missingFromActual = [...expected].filter((s) => !actual.has(s));
  const unexpected = [...actual].filter((s) => !expected.has(s) && !impliedByWildcard(s, expected));
  if (missingFromActual.length > 0 || unexpected.length > 0) {
    failures.push({
      kind: "validation",
      assertion: e.key,
      expected: [...expected].sort().join(", ") || "(no subjects)",
      actual: [...actual].sort().join(", ") || "(no subjects)",
    });
  }
  return failures;
}

function impliedByWildcard(subject: string, expected: ReadonlySet<string>): boolean {
  const type = subject.slice(0, subject.indexOf(":"));
  return !subject.includes("#") && expected.has(`${type}:*`);
}

function describe(e: unknown): string {
  if (isLatchError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
