/**
 * The signal rules file: how an SSF subject identifier becomes a Latch subject, and what each
 * event type does. Parsed from YAML and validated against the compiled schema (types, relations,
 * caveat parameters), so a rule that could only fail at the moment a signal arrives is refused
 * when the file is loaded, with its file, line and a hint.
 *
 * ```yaml
 * subjects:
 *   - { format: iss_sub, iss: "https://idp.example.com", as: "user:{sub}" }
 *   - { format: opaque, as: "agent:{id}" }
 *   - { format: email, map: { "alice@example.com": "user:alice" } }
 *   - { format: opaque, member: device, as: "device:{id}" }   # the device of a complex subject
 * events:
 *   "https://schemas.openid.net/secevent/risc/event-type/account-disabled": suspend
 *   "https://schemas.openid.net/secevent/risc/event-type/account-enabled": resume
 *   "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change":
 *     set-attributes: { assurance_level: current_level }
 *   "https://schemas.openid.net/secevent/risc/event-type/account-purged":
 *     - suspend
 *     - delete-relationships: { relation: viewer }
 *     - revoke-delegations: { relations: [delegate, scoped_delegate] }
 * ```
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from "yaml";
import { LatchError } from "../core/index.js";
import type { CompiledSchema } from "../schema/index.js";

/** SSF subject identifier formats (RFC 9493) a rule may name. */
export const SUBJECT_FORMATS = [
  "email",
  "iss_sub",
  "opaque",
  "phone_number",
  "account",
  "uri",
  "did",
] as const;
/** The members of a `complex` subject (SSF 1.0 §3.2). */
export const COMPLEX_MEMBERS = [
  "user",
  "device",
  "session",
  "application",
  "tenant",
  "org_unit",
  "group",
] as const;

/** Each format's fields, which an `as` template may use as `{field}`. */
const FIELDS: Readonly<Record<string, readonly string[]>> = {
  email: ["email", "local", "domain"],
  iss_sub: ["iss", "sub"],
  opaque: ["id"],
  phone_number: ["phone_number"],
  account: ["uri"],
  uri: ["uri"],
  did: ["url"],
};

export interface SubjectRule {
  readonly format: string;
  /** Only identifiers of this issuer (`iss_sub`). */
  readonly iss?: string;
  /** Only this member of a `complex` subject; absent: a top-level identifier or the complex `user`. */
  readonly member?: string;
  /** `type:{field}` */
  readonly as?: { readonly type: string; readonly template: string };
  /** Identifier value -> `type:id`, for identifiers that are not valid ids (emails). */
  readonly map?: ReadonlyMap<string, string>;
  readonly line: number;
}

/** What an attribute's value is: a field of the event (dot path), or a constant. */
export type AttributeSource = { readonly claim: string } | { readonly value: unknown };

export type SignalAction =
  | { readonly kind: "suspend" }
  | { readonly kind: "resume" }
  | { readonly kind: "set-attributes"; readonly attributes: ReadonlyMap<string, AttributeSource> }
  /** Relationships of the subject (as subject, or as resource with `on: resource`) deleted. */
  | {
      readonly kind: "delete-relationships";
      readonly on: "subject" | "resource";
      readonly resourceType?: string;
      readonly relation?: string;
    }
  /** Relationships on these relations where the subject is the resource or the subject. */
  | { readonly kind: "revoke-delegations"; readonly relations: readonly string[] };

export interface SignalRules {
  readonly subjects: readonly SubjectRule[];
  /** Event type URI -> its actions, in order. */
  readonly events: ReadonlyMap<string, readonly SignalAction[]>;
  readonly text: string;
}

export const EMPTY_SIGNAL_RULES: SignalRules = { subjects: [], events: new Map(), text: "" };

/** Parses and validates a rules file against `schema`; throws `signal/invalid-rules`. */
export function parseSignalRules(
  text: string,
  schema: CompiledSchema,
  file = "signal-rules.yaml",
): SignalRules {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const lineOf = (node: unknown): number => {
    const range = (node as Node | null | undefined)?.range;
    return range === undefined || range === null ? 1 : lines.linePos(range[0]).line;
  };
  const fail = (node: unknown, message: string, hint: string): never => {
    const line = lineOf(node);
    throw new LatchError("signal/invalid-rules", "invalid-argument", `${file}:${line}: ${message}. ${hint}`, {
      file,
      line,
      hint,
    });
  };
  const yamlError = doc.errors[0];
  if (yamlError !== undefined)
    fail(undefined, `not valid YAML: ${yamlError.message.split("\n")[0]}`, "fix the YAML syntax");
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === "")))
    return { ...EMPTY_SIGNAL_RULES, text };
  if (!isMap(root))
    return fail(root, "the file must be a mapping with `subjects` and `events`", "start it with `subjects:`");
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (key !== "subjects" && key !== "events")
      fail(pair.key, `unknown key \`${key}\``, "known keys: subjects, events");
  }
  const ctx: Ctx = { schema, fail };
  const subjectsNode = root.get("subjects", true) as Node | undefined;
  const subjects: SubjectRule[] = [];
  if (subjectsNode !== undefined && subjectsNode !== null) {
    if (!isSeq(subjectsNode))
      fail(subjectsNode, "`subjects` must be a list", "write each mapping as `- { format: ..., as: ... }`");
    for (const item of (subjectsNode as { items: unknown[] }).items)
      subjects.push(subjectRule(ctx, item, lineOf(item)));
  }
  const eventsNode = root.get("events", true) as Node | undefined;
  const events = new Map<string, SignalAction[]>();
  if (eventsNode !== undefined && eventsNode !== null) {
    if (!isMap(eventsNode))
      fail(
        eventsNode,
        "`events` must be a mapping of event type URI -> action(s)",
        "e.g. `events: { <uri>: suspend }`",
      );
    for (const pair of (eventsNode as YAMLMap).items) {
      const uri = isScalar(pair.key) ? String(pair.key.value) : "";
      if (!/^https?:\/\/\S+$/.test(uri))
        fail(
          pair.key,
          `\`${uri}\` is not an event type URI`,
          "event types are URIs such as https://schemas.openid.net/secevent/risc/event-type/account-disabled",
        );
      const value = pair.value as Node;
      const items = isSeq(value) ? value.items : [value];
      events.set(
        uri,
        items.map((node) => action(ctx, node)),
      );
    }
  }
  return { subjects, events, text };
}

interface Ctx {
  readonly schema: CompiledSchema;
  readonly fail: (node: unknown, message: string, hint: string) => never;
}

function scalarString(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === "string" && node.value !== "" ? node.value : undefined;
}

function hintOf(known: readonly string[]): string {
  return known.length === 0 ? "the schema declares none" : `known: ${known.slice(0, 20).join(", ")}`;
}

function checkType(ctx: Ctx, node: unknown, type: string): void {
  if (!ctx.schema.definitions.has(type))
    ctx.fail(node, `the schema defines no type \`${type}\``, hintOf([...ctx.schema.definitions.keys()]));
}

const SUBJECT_KEYS = new Set(["format", "iss", "member", "as", "map"]);

function subjectRule(ctx: Ctx, item: unknown, line: number): SubjectRule {
  const { fail } = ctx;
  if (!isMap(item))
    return fail(item, "a subject mapping must be a mapping", 'e.g. `- { format: opaque, as: "agent:{id}" }`');
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!SUBJECT_KEYS.has(key))
      fail(pair.key, `unknown key \`${key}\``, `known keys: ${[...SUBJECT_KEYS].join(", ")}`);
  }
  const format = scalarString(item.get("format", true));
  if (format === undefined || !(SUBJECT_FORMATS as readonly string[]).includes(format))
    return fail(
      item.get("format", true) ?? item,
      "`format` must be an SSF subject format",
      `one of ${SUBJECT_FORMATS.join(", ")}`,
    );
  const issNode = item.get("iss", true);
  const iss = issNode === undefined ? undefined : scalarString(issNode);
  if (issNode !== undefined && (iss === undefined || format !== "iss_sub"))
    fail(
      issNode,
      "`iss` is a non-empty string, for the iss_sub format only",
      'e.g. `iss: "https://idp.example.com"`',
    );
  const memberNode = item.get("member", true);
  const member = memberNode === undefined ? undefined : scalarString(memberNode);
  if (
    memberNode !== undefined &&
    (member === undefined || !(COMPLEX_MEMBERS as readonly string[]).includes(member))
  )
    fail(memberNode, "`member` names a member of a complex subject", `one of ${COMPLEX_MEMBERS.join(", ")}`);
  const asNode = item.get("as", true);
  const mapNode = item.get("map", true);
  if ((asNode === undefined) === (mapNode === undefined))
    fail(item, "a subject mapping needs `as` or `map` (one of them)", 'e.g. `as: "user:{sub}"`');
  let as: SubjectRule["as"];
  if (asNode !== undefined) {
    const text = scalarString(asNode);
    const colon = text?.indexOf(":") ?? -1;
    if (text === undefined || colon <= 0)
      return fail(asNode, "`as` must be `type:{field}`", 'e.g. `as: "user:{sub}"`');
    const type = text.slice(0, colon);
    checkType(ctx, asNode, type);
    const template = text.slice(colon + 1);
    for (const m of template.matchAll(/\{([^}]*)\}/g)) {
      if (!FIELDS[format]!.includes(m[1]!))
        fail(
          asNode,
          `\`{${m[1]}}\` is not a field of the ${format} format`,
          `its fields: ${FIELDS[format]!.map((f) => `{${f}}`).join(", ")}`,
        );
    }
    as = { type, template };
  }
  let map: Map<string, string> | undefined;
  if (mapNode !== undefined) {
    if (!isMap(mapNode))
      return fail(
        mapNode,
        "`map` must be a mapping of identifier -> type:id",
        'e.g. `map: { "alice@example.com": "user:alice" }`',
      );
    map = new Map();
    for (const pair of mapNode.items) {
      const to = scalarString(pair.value);
      const colon = to?.indexOf(":") ?? -1;
      if (to === undefined || colon <= 0)
        return fail(pair.value ?? pair.key, "each `map` value must be `type:id`", "e.g. `user:alice`");
      checkType(ctx, pair.value, to.slice(0, colon));
      map.set(String(isScalar(pair.key) ? pair.key.value : ""), to);
    }
  }
  return {
    format,
    ...(iss === undefined ? {} : { iss }),
    ...(member === undefined ? {} : { member }),
    ...(as === undefined ? {} : { as }),
    ...(map === undefined ? {} : { map }),
    line,
  };
}

const ACTION_HINT =
  "an action is suspend, resume, or a mapping with one key: set-attributes, delete-relationships, revoke-delegations";

function action(ctx: Ctx, node: unknown): SignalAction {
  const { fail } = ctx;
  const name = scalarString(node);
  if (name === "suspend" || name === "resume") return { kind: name };
  if (name !== undefined) return fail(node, `unknown action \`${name}\``, ACTION_HINT);
  if (!isMap(node) || node.items.length !== 1) return fail(node, "not an action", ACTION_HINT);
  const pair = node.items[0]!;
  const kind = isScalar(pair.key) ? String(pair.key.value) : "";
  const body = pair.value;
  switch (kind) {
    case "set-attributes":
      return setAttributes(ctx, body);
    case "delete-relationships":
      return deleteRelationships(ctx, body);
    case "revoke-delegations": {
      const relationsNode = isMap(body) ? body.get("relations", true) : undefined;
      if (!isSeq(relationsNode) || relationsNode.items.length === 0)
        return fail(
          body ?? node,
          "`revoke-delegations` needs `relations`, the delegation relations",
          "e.g. `revoke-delegations: { relations: [delegate, scoped_delegate] }`",
        );
      const relations = relationsNode.items.map((r) => {
        const relation = scalarString(r);
        if (relation === undefined || !relationExists(ctx.schema, relation))
          fail(
            r,
            `no type of the schema has a relation \`${String(relation)}\``,
            "name a relation such as `delegate`",
          );
        return relation!;
      });
      return { kind: "revoke-delegations", relations };
    }
    default:
      return fail(pair.key, `unknown action \`${kind}\``, ACTION_HINT);
  }
}

function relationExists(schema: CompiledSchema, relation: string, type?: string): boolean {
  const defs =
    type === undefined
      ? [...schema.definitions.values()]
      : [schema.definitions.get(type)].filter((d) => d !== undefined);
  return defs.some((d) => d.members.get(relation)?.kind === "relation");
}

function setAttributes(ctx: Ctx, body: unknown): SignalAction {
  const { fail, schema } = ctx;
  const hint = "e.g. `set-attributes: { assurance_level: current_level, risk: { value: 5 } }`";
  if (!isMap(body) || body.items.length === 0)
    return fail(body, "`set-attributes` needs a mapping of attribute -> event field", hint);
  const parameters = new Set([...schema.caveats.values()].flatMap((c) => [...c.parameters.keys()]));
  const attributes = new Map<string, AttributeSource>();
  for (const pair of body.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!parameters.has(name))
      fail(
        pair.key,
        `no caveat of the schema has a parameter \`${name}\`, so the attribute would feed nothing`,
        hintOf([...parameters]),
      );
    const claim = scalarString(pair.value);
    if (claim !== undefined) {
      attributes.set(name, { claim });
      continue;
    }
    const constant = isMap(pair.value) && pair.value.items.length === 1 ? pair.value.get("value") : undefined;
    if (constant === undefined)
      fail(pair.value ?? pair.key, `attribute \`${name}\` needs an event field or \`{ value: ... }\``, hint);
    attributes.set(name, { value: constant });
  }
  return { kind: "set-attributes", attributes };
}

function deleteRelationships(ctx: Ctx, body: unknown): SignalAction {
  const { fail, schema } = ctx;
  const hint =
    "e.g. `delete-relationships: { resource_type: document, relation: viewer }` (`on: resource` to delete those where the subject is the resource)";
  if (body !== null && body !== undefined && !(isScalar(body) && body.value === null) && !isMap(body))
    return fail(body, "`delete-relationships` takes a mapping", hint);
  const get = (key: string): string | undefined => {
    if (!isMap(body)) return undefined;
    const node = body.get(key, true);
    if (node === undefined) return undefined;
    const value = scalarString(node);
    if (value === undefined) fail(node, `\`${key}\` must be a non-empty string`, hint);
    return value;
  };
  if (isMap(body)) {
    for (const pair of body.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      if (!["on", "resource_type", "relation"].includes(key))
        fail(pair.key, `unknown key \`${key}\``, "known keys: on, resource_type, relation");
    }
  }
  const on = get("on") ?? "subject";
  if (on !== "subject" && on !== "resource") fail(body, "`on` is `subject` or `resource`", hint);
  const resourceType = get("resource_type");
  if (resourceType !== undefined) checkType(ctx, body, resourceType);
  const relation = get("relation");
  if (relation !== undefined && !relationExists(schema, relation, resourceType))
    fail(
      body,
      `no ${resourceType === undefined ? "type of the schema" : `type \`${resourceType}\``} has a relation \`${relation}\``,
      hint,
    );
  return {
    kind: "delete-relationships",
    on: on as "subject" | "resource",
    ...(resourceType === undefined ? {} : { resourceType }),
    ...(relation === undefined ? {} : { relation }),
  };
}
