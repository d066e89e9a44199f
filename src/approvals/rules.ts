/**
 * The approval rules file: which actions need a person's yes, for whom, and who may give it.
 * Parsed from YAML and validated against the compiled schema, so a rule that names a type,
 * permission or caveat parameter the schema lacks is refused with its file, line and a hint,
 * before it can silently gate nothing.
 *
 * ```yaml
 * rules:
 *   - id: prod-delete
 *     resource: database          # resource type
 *     permission: delete
 *     subjects: [agent]           # subject types that need approval
 *     on_behalf_of_only: false    # true: only when acting for someone
 *     when: { parameter: sensitivity, above: 2 }   # only when the request's caveat context says so
 *     approvers: approve          # a permission on the resource; its holders may decide
 *     allow_self_approval: false  # true: a principal of the chain may approve its own agent
 *     valid_for: 15m              # how long an approval stays valid
 *     request_ttl: 10m            # how long a request waits for a decision
 *     single_use: true
 * ```
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { LatchError } from "../core/index.js";
import type { CompiledSchema } from "../schema/index.js";

export interface ApprovalRule {
  readonly id: string;
  readonly resourceType: string;
  readonly permission: string;
  readonly subjectTypes: readonly string[];
  readonly onBehalfOfOnly: boolean;
  /** Gate only when the request context's numeric `parameter` is above `above`. */
  readonly when?: { readonly parameter: string; readonly above: number };
  readonly approvers: string;
  readonly allowSelfApproval: boolean;
  readonly validForMs: number;
  readonly requestTtlMs: number;
  readonly singleUse: boolean;
  /** Line of the rule in its file (1-based). */
  readonly line: number;
}

export interface ApprovalRules {
  readonly rules: readonly ApprovalRule[];
  /**
   * Rules by resource type, then permission: the gate's lookups per check (two Map reads, no
   * string built), so an ungated check costs next to nothing.
   */
  readonly byAction: ReadonlyMap<string, ReadonlyMap<string, readonly ApprovalRule[]>>;
  readonly text: string;
}

export const EMPTY_RULES: ApprovalRules = { rules: [], byAction: new Map(), text: "" };
export const DEFAULT_VALID_FOR_MS = 15 * 60_000;
export const DEFAULT_REQUEST_TTL_MS = 10 * 60_000;

const KEYS = new Set([
  "id",
  "resource",
  "permission",
  "subjects",
  "on_behalf_of_only",
  "when",
  "approvers",
  "allow_self_approval",
  "valid_for",
  "request_ttl",
  "single_use",
]);
const NUMERIC = new Set(["int", "uint", "double"]);
const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `2h`, `1d` in ms; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  return m === null ? undefined : Number(m[1]) * UNITS[m[2]!]!;
}

/** Parses and validates a rules file against `schema`; throws `approval/invalid-rules`. */
export function parseApprovalRules(text: string, schema: CompiledSchema, file = "rules.yaml"): ApprovalRules {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range === undefined || node.range === null ? 1 : lines.linePos(node.range[0]).line;
  const fail = (node: Node | null | undefined, message: string, hint: string): never => {
    const line = lineOf(node);
    throw new LatchError(
      "approval/invalid-rules",
      "invalid-argument",
      `${file}:${line}: ${message}. ${hint}`,
      {
        file,
        line,
        hint,
      },
    );
  };
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = yamlError.linePos?.[0].line ?? 1;
    throw new LatchError(
      "approval/invalid-rules",
      "invalid-argument",
      `${file}:${line}: not valid YAML: ${yamlError.message.split("\n")[0]}`,
      { file, line, hint: "fix the YAML syntax" },
    );
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === "")))
    return { ...EMPTY_RULES, text };
  if (!isMap(root))
    return fail(root, "the file must be a mapping with a `rules` list", "start it with `rules:`");
  const list = root.get("rules", true);
  if (list === undefined || list === null) return { ...EMPTY_RULES, text };
  if (!isSeq(list)) return fail(list as Node, "`rules` must be a list", "write each rule as `- id: ...`");

  const rules: ApprovalRule[] = [];
  const ids = new Set<string>();
  for (const item of list.items) {
    if (!isMap(item))
      return fail(item as Node, "a rule must be a mapping", "write `- id: ...` then its keys");
    const field = (key: string): Node | undefined => (item.get(key, true) as Node | undefined) ?? undefined;
    for (const pair of item.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      if (!KEYS.has(key))
        fail(pair.key as Node, `unknown key \`${key}\``, `known keys: ${[...KEYS].join(", ")}`);
    }
    const str = (key: string, hint: string): string => {
      const node = field(key);
      if (node === undefined) return fail(item, `the rule lacks \`${key}\``, hint);
      if (!isScalar(node) || typeof node.value !== "string" || node.value === "")
        return fail(node, `\`${key}\` must be a non-empty string`, hint);
      return node.value;
    };
    const bool = (key: string, fallback: boolean): boolean => {
      const node = field(key);
      if (node === undefined) return fallback;
      if (!isScalar(node) || typeof node.value !== "boolean")
        return fail(node, `\`${key}\` must be true or false`, `write \`${key}: ${fallback}\``);
      return node.value;
    };
    const duration = (key: string, fallback: number): number => {
      const node = field(key);
      if (node === undefined) return fallback;
      const ms = isScalar(node) ? parseDuration(String(node.value)) : undefined;
      if (ms === undefined || ms <= 0)
        return fail(node, `\`${key}\` is not a duration`, "write a number and a unit: 90s, 15m, 2h, 1d");
      return ms;
    };

    const id = str("id", "give each rule a unique id, e.g. `id: prod-delete`");
    if (ids.has(id)) fail(field("id"), `rule id \`${id}\` is used twice`, "give each rule its own id");
    ids.add(id);
    const resourceType = str("resource", "name the resource type, e.g. `resource: database`");
    const definition = schema.definitions.get(resourceType);
    if (definition === undefined)
      fail(
        field("resource"),
        `the schema defines no type \`${resourceType}\``,
        hintOf([...schema.definitions.keys()]),
      );
    const members = [...definition!.members.keys()];
    const permission = str("permission", "name a permission of the resource type");
    if (!definition!.members.has(permission))
      fail(
        field("permission"),
        `type \`${resourceType}\` has no permission \`${permission}\``,
        hintOf(members),
      );
    const approvers = str(
      "approvers",
      "name the permission whose holders may decide, e.g. `approvers: approve`",
    );
    if (!definition!.members.has(approvers))
      fail(
        field("approvers"),
        `type \`${resourceType}\` has no permission \`${approvers}\``,
        hintOf(members),
      );

    const subjectsNode = field("subjects");
    if (subjectsNode === undefined || !isSeq(subjectsNode) || subjectsNode.items.length === 0)
      fail(
        subjectsNode ?? item,
        "`subjects` must be a non-empty list of subject types",
        "e.g. `subjects: [agent]`",
      );
    const subjectTypes: string[] = [];
    for (const s of (subjectsNode as { items: unknown[] }).items) {
      const name = isScalar(s) ? String(s.value) : "";
      if (!schema.definitions.has(name))
        fail(
          s as Node,
          `the schema defines no subject type \`${name}\``,
          hintOf([...schema.definitions.keys()]),
        );
      subjectTypes.push(name);
    }

    let when: ApprovalRule["when"];
    const whenNode = field("when");
    if (whenNode !== undefined) {
      const hint = "write `when: { parameter: sensitivity, above: 2 }`";
      if (!isMap(whenNode)) fail(whenNode, "`when` must be a mapping", hint);
      const map = whenNode as unknown as { get(k: string, keep: true): Node | undefined };
      const p = map.get("parameter", true);
      const a = map.get("above", true);
      if (!isScalar(p) || typeof p.value !== "string")
        return fail(whenNode, "`when.parameter` must be a name", hint);
      if (!isScalar(a) || typeof a.value !== "number")
        return fail(whenNode, "`when.above` must be a number", hint);
      const numeric = [...schema.caveats.values()].some((c) => {
        const type = c.parameters.get(p.value as string);
        return type !== undefined && NUMERIC.has(type.kind);
      });
      if (!numeric) {
        const names = [...schema.caveats.values()].flatMap((c) =>
          [...c.parameters].filter(([, t]) => NUMERIC.has(t.kind)).map(([n]) => n),
        );
        fail(p, `no caveat of the schema has a numeric parameter \`${p.value}\``, hintOf(names));
      }
      when = { parameter: p.value as string, above: a.value };
    }

    rules.push({
      id,
      resourceType,
      permission,
      subjectTypes,
      onBehalfOfOnly: bool("on_behalf_of_only", false),
      ...(when === undefined ? {} : { when }),
      approvers,
      allowSelfApproval: bool("allow_self_approval", false),
      validForMs: duration("valid_for", DEFAULT_VALID_FOR_MS),
      requestTtlMs: duration("request_ttl", DEFAULT_REQUEST_TTL_MS),
      singleUse: bool("single_use", true),
      line: lineOf(item),
    });
  }
  const byAction = new Map<string, Map<string, ApprovalRule[]>>();
  for (const rule of rules) {
    const perType = byAction.get(rule.resourceType) ?? new Map<string, ApprovalRule[]>();
    byAction.set(rule.resourceType, perType);
    perType.set(rule.permission, [...(perType.get(rule.permission) ?? []), rule]);
  }
  return { rules, byAction, text };
}

function hintOf(known: readonly string[]): string {
  return known.length === 0 ? "the schema declares none" : `known: ${known.slice(0, 20).join(", ")}`;
}

/**
 * The id of the rule whose text holds `line` of a rules file (the last rule starting at or before
 * it), read from the YAML alone: a schema write refused for the stored rules names that rule.
 */
export function ruleIdAtLine(text: string, line: number): string | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const list = isMap(doc.contents) ? doc.contents.get("rules", true) : undefined;
  if (!isSeq(list)) return undefined;
  let found: string | undefined;
  for (const item of list.items) {
    if (!isMap(item) || item.range === undefined || item.range === null) continue;
    if (lines.linePos(item.range[0]).line > line) break;
    const id = item.get("id", true);
    found = isScalar(id) && typeof id.value === "string" ? id.value : undefined;
  }
  return found;
}
