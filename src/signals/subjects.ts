/**
 * SSF subject identifiers (RFC 9493; SSF 1.0 `sub_id`, and the event-level `subject` of older
 * CAEP/RISC drafts) turned into Latch subjects by the rules' subject mappings.
 */
import { OBJECT_ID_PATTERN } from "../core/index.js";
import { COMPLEX_MEMBERS, type SignalRules, type SubjectRule } from "./rules.js";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The fields a rule's template may use, for one identifier. */
function fieldsOf(id: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(id)) if (typeof value === "string") out[key] = value;
  if (id.format === "email" && typeof id.email === "string") {
    const at = id.email.lastIndexOf("@");
    out.local = at < 0 ? id.email : id.email.slice(0, at);
    out.domain = at < 0 ? "" : id.email.slice(at + 1);
  }
  if (id.format === "account" && typeof id.uri === "string") out.uri = id.uri;
  return out;
}

function applies(rule: SubjectRule, id: Record<string, unknown>, member: string | undefined): boolean {
  if (rule.format !== id.format) return false;
  if (rule.member === undefined ? member !== undefined && member !== "user" : rule.member !== member)
    return false;
  return rule.iss === undefined || rule.iss === id.iss;
}

/** The value a `map` is keyed by: the identifier's one distinguishing field. */
function keyOf(id: Record<string, unknown>): string | undefined {
  const value = id.email ?? id.sub ?? id.id ?? id.phone_number ?? id.uri ?? id.url;
  return typeof value === "string" ? value : undefined;
}

function mapped(rule: SubjectRule, id: Record<string, unknown>): string | undefined {
  if (rule.map !== undefined) {
    const key = keyOf(id);
    return key === undefined ? undefined : rule.map.get(key);
  }
  const fields = fieldsOf(id);
  let missing = false;
  const objectId = rule.as!.template.replace(/\{([^}]*)\}/g, (_, name: string) => {
    const value = fields[name];
    if (value === undefined) missing = true;
    return value ?? "";
  });
  if (missing || !OBJECT_ID_PATTERN.test(objectId)) return undefined;
  return `${rule.as!.type}:${objectId}`;
}

/**
 * The Latch subjects (`type:id`) an identifier names: one per member of a complex subject (and
 * per alias) that a rule maps; the first rule that applies and gives a valid id wins.
 */
export function resolveSubjects(rules: SignalRules, identifier: unknown, member?: string): string[] {
  if (!isObject(identifier)) return [];
  if (identifier.format === "complex") {
    return COMPLEX_MEMBERS.flatMap((m) => resolveSubjects(rules, identifier[m], m));
  }
  if (identifier.format === "aliases" && Array.isArray(identifier.identifiers)) {
    return [...new Set(identifier.identifiers.flatMap((id) => resolveSubjects(rules, id, member)))];
  }
  for (const rule of rules.subjects) {
    if (!applies(rule, identifier, member)) continue;
    const subject = mapped(rule, identifier);
    if (subject !== undefined) return [subject];
  }
  return [];
}
