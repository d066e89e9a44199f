/**
 * The posture configuration: a small YAML file saying which object types are non-human
 * identities, how each one's owner is found, which permissions count as reach, what is sensitive,
 * and the thresholds. Every name is checked against the compiled schema before anything is
 * computed, so a typo fails with the field and the names the schema has, not with an empty report.
 * The defaults fit `schemas/rag.zed`.
 */
import { parse as parseYaml } from "yaml";
import { LatchError } from "../core/index.js";
import type { CompiledSchema } from "../schema/index.js";

/** `document#read` split. */
export interface MemberRef {
  readonly type: string;
  readonly name: string;
}

export interface PostureThresholds {
  /** Reach over this share of a type's objects is over-broad. */
  readonly overbroadShare: number;
  /** Grants expiring later than this many days from now are too long. */
  readonly maxGrantDays: number;
  /** A grant no ALLOWED decision used as a witness in this many days is unused. */
  readonly unusedDays: number;
  /** Reach that grew by more than this share since the previous report has drifted. */
  readonly driftShare: number;
}

export interface PostureConfig {
  /** Identity type -> the relation on it that names its owner. */
  readonly identities: ReadonlyMap<string, string>;
  readonly reach: readonly MemberRef[];
  /** Resource type -> the permission an identity's owner must keep on what the identity is granted. */
  readonly ownerAccess: ReadonlyMap<string, string>;
  /** Objects with a relationship on `relation` whose caveat context holds `parameter >= min`. */
  readonly sensitive?: { readonly relation: MemberRef; readonly parameter: string; readonly min: number };
  /** Grants on objects of these types reach a whole organization. */
  readonly broadTypes: readonly string[];
  /** Relations whose wildcards gate access (a sensitivity marker) rather than grant it. */
  readonly gateRelations: readonly MemberRef[];
  /** Relations whose subject acts for their object (`user#delegate@agent:x`). */
  readonly delegationRelations: readonly MemberRef[];
  /** A delegation without one of these caveats is unscoped. */
  readonly scopeCaveats: readonly string[];
  /** Longest on-behalf-of chain allowed (principals after the subject). */
  readonly maxChain: number;
  readonly thresholds: PostureThresholds;
}

/** The configuration when no file is given: it fits `schemas/rag.zed`. */
export const DEFAULT_CONFIG_YAML = `identities:
  agent: { owner: owner }
reach: [document#retrieve, document#summarize_any]
owner_access: { document: read, folder: view, project: read }
sensitive: { relation: document#sensitivity, parameter: sensitivity, min: 3 }
broad: { types: [organization, project], gate_relations: [document#sensitivity] }
delegation:
  relations: [user#delegate, user#scoped_delegate]
  scope_caveats: [delegation_scope]
  max_chain: 1
thresholds: { overbroad_share: 0.2, max_grant_days: 90, unused_days: 30, drift_share: 0.25 }
`;

const DEFAULT_THRESHOLDS: PostureThresholds = {
  overbroadShare: 0.2,
  maxGrantDays: 90,
  unusedDays: 30,
  driftShare: 0.25,
};

function invalid(path: string, message: string): LatchError {
  return new LatchError("posture/invalid-config", "invalid-argument", `posture config ${path}: ${message}`, {
    path,
  });
}

type Obj = Readonly<Record<string, unknown>>;

function object(value: unknown, path: string, keys: readonly string[]): Obj {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw invalid(path, `expected a mapping with keys ${keys.join(", ")}`);
  for (const key of Object.keys(value))
    if (!keys.includes(key)) throw invalid(`${path}.${key}`, `unknown key; known: ${keys.join(", ")}`);
  return value as Obj;
}

function list(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw invalid(path, "expected a list");
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== "string" || value === "") throw invalid(path, "expected a non-empty string");
  return value;
}

function number(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max)
    throw invalid(path, `expected a number from ${min} to ${max}`);
  return value;
}

/** Validates a config against a schema; `schemaHint` says where the schema came from, for messages. */
export class ConfigChecker {
  constructor(private readonly schema: CompiledSchema) {}

  type(name: string, path: string): string {
    if (!this.schema.definitions.has(name))
      throw invalid(path, `the schema has no definition \`${name}\` (it has ${this.typeNames()})`);
    return name;
  }

  member(value: unknown, path: string, kind?: "relation" | "permission"): MemberRef {
    const s = text(value, path);
    const hash = s.indexOf("#");
    if (hash < 1) throw invalid(path, `\`${s}\` is not \`type#name\` (e.g. document#read)`);
    const type = this.type(s.slice(0, hash), path);
    const name = s.slice(hash + 1);
    this.memberOf(type, name, path, kind);
    return { type, name };
  }

  memberOf(type: string, name: string, path: string, kind?: "relation" | "permission"): void {
    const def = this.schema.definitions.get(type)!;
    const member = def.members.get(name);
    if (member === undefined || (kind !== undefined && member.kind !== kind)) {
      const names = [...def.members.values()].filter((m) => kind === undefined || m.kind === kind);
      throw invalid(
        path,
        `\`${type}\` has no ${kind ?? "relation or permission"} \`${name}\` (it has ${names.map((m) => m.name).join(", ") || "none"})`,
      );
    }
  }

  caveat(name: string, path: string): string {
    if (!this.schema.caveats.has(name))
      throw invalid(
        path,
        `the schema has no caveat \`${name}\` (it has ${[...this.schema.caveats.keys()].join(", ") || "none"})`,
      );
    return name;
  }

  parameterOn(relation: MemberRef, parameter: string, path: string): void {
    const def = this.schema.definitions.get(relation.type)!.members.get(relation.name);
    const caveats =
      def?.kind === "relation" ? def.allowed.flatMap((a) => (a.caveat === undefined ? [] : [a.caveat])) : [];
    if (!caveats.some((c) => this.schema.caveats.get(c)?.parameters.has(parameter)))
      throw invalid(
        path,
        `no caveat allowed on \`${relation.type}#${relation.name}\` has a parameter \`${parameter}\``,
      );
  }

  private typeNames(): string {
    return [...this.schema.definitions.keys()].join(", ");
  }
}

/** Parses and validates a configuration (the defaults when `yamlText` is undefined). */
export function parsePostureConfig(yamlText: string | undefined, schema: CompiledSchema): PostureConfig {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText ?? DEFAULT_CONFIG_YAML);
  } catch (error) {
    throw invalid("(file)", `not valid YAML: ${(error as Error).message}`);
  }
  const top = object(raw ?? {}, "(top)", [
    "identities",
    "reach",
    "owner_access",
    "sensitive",
    "broad",
    "delegation",
    "thresholds",
  ]);
  const c = new ConfigChecker(schema);
  const identities = new Map<string, string>();
  const ids = object(top.identities, "identities", Object.keys((top.identities as Obj | undefined) ?? {}));
  for (const [type, spec] of Object.entries(ids)) {
    const path = `identities.${type}`;
    c.type(type, path);
    const owner = text(object(spec, path, ["owner"]).owner, `${path}.owner`);
    c.memberOf(type, owner, `${path}.owner`, "relation");
    identities.set(type, owner);
  }
  if (identities.size === 0)
    throw invalid("identities", "name at least one identity type (e.g. agent: { owner: owner })");
  const reach = list(top.reach, "reach").map((m, i) => c.member(m, `reach[${i}]`));
  if (reach.length === 0) throw invalid("reach", "name at least one permission (e.g. document#read)");
  const ownerAccess = new Map<string, string>();
  if (top.owner_access !== undefined) {
    const oa = object(top.owner_access, "owner_access", Object.keys((top.owner_access as Obj) ?? {}));
    for (const [type, permission] of Object.entries(oa)) {
      c.type(type, `owner_access.${type}`);
      c.memberOf(type, text(permission, `owner_access.${type}`), `owner_access.${type}`);
      ownerAccess.set(type, permission as string);
    }
  }
  let sensitive: PostureConfig["sensitive"];
  if (top.sensitive !== undefined) {
    const s = object(top.sensitive, "sensitive", ["relation", "parameter", "min"]);
    const relation = c.member(s.relation, "sensitive.relation", "relation");
    const parameter = text(s.parameter, "sensitive.parameter");
    c.parameterOn(relation, parameter, "sensitive.parameter");
    sensitive = { relation, parameter, min: number(s.min, "sensitive.min", -(2 ** 53), 2 ** 53) };
  }
  const broad = object(top.broad ?? {}, "broad", ["types", "gate_relations"]);
  const broadTypes = list(broad.types ?? [], "broad.types").map((t, i) =>
    c.type(text(t, `broad.types[${i}]`), `broad.types[${i}]`),
  );
  const gateRelations = list(broad.gate_relations ?? [], "broad.gate_relations").map((m, i) =>
    c.member(m, `broad.gate_relations[${i}]`, "relation"),
  );
  const d = object(top.delegation ?? {}, "delegation", ["relations", "scope_caveats", "max_chain"]);
  const delegationRelations = list(d.relations ?? [], "delegation.relations").map((m, i) =>
    c.member(m, `delegation.relations[${i}]`, "relation"),
  );
  const scopeCaveats = list(d.scope_caveats ?? [], "delegation.scope_caveats").map((n, i) =>
    c.caveat(text(n, `delegation.scope_caveats[${i}]`), `delegation.scope_caveats[${i}]`),
  );
  const maxChain = d.max_chain === undefined ? 1 : number(d.max_chain, "delegation.max_chain", 0, 100);
  const t = object(top.thresholds ?? {}, "thresholds", [
    "overbroad_share",
    "max_grant_days",
    "unused_days",
    "drift_share",
  ]);
  const thresholds: PostureThresholds = {
    overbroadShare:
      t.overbroad_share === undefined
        ? DEFAULT_THRESHOLDS.overbroadShare
        : number(t.overbroad_share, "thresholds.overbroad_share", 0, 1),
    maxGrantDays:
      t.max_grant_days === undefined
        ? DEFAULT_THRESHOLDS.maxGrantDays
        : number(t.max_grant_days, "thresholds.max_grant_days", 0, 100_000),
    unusedDays:
      t.unused_days === undefined
        ? DEFAULT_THRESHOLDS.unusedDays
        : number(t.unused_days, "thresholds.unused_days", 0, 100_000),
    driftShare:
      t.drift_share === undefined
        ? DEFAULT_THRESHOLDS.driftShare
        : number(t.drift_share, "thresholds.drift_share", 0, 1_000),
  };
  return {
    identities,
    reach,
    ownerAccess,
    ...(sensitive === undefined ? {} : { sensitive }),
    broadTypes,
    gateRelations,
    delegationRelations,
    scopeCaveats,
    maxChain,
    thresholds,
  };
}

/** The configuration as plain data, as the report shows it. */
export function configToJson(config: PostureConfig): Record<string, unknown> {
  const m = (r: MemberRef) => `${r.type}#${r.name}`;
  return {
    identities: Object.fromEntries([...config.identities].map(([type, owner]) => [type, { owner }])),
    reach: config.reach.map(m),
    ownerAccess: Object.fromEntries(config.ownerAccess),
    sensitive:
      config.sensitive === undefined
        ? null
        : {
            relation: m(config.sensitive.relation),
            parameter: config.sensitive.parameter,
            min: config.sensitive.min,
          },
    broad: { types: config.broadTypes, gateRelations: config.gateRelations.map(m) },
    delegation: {
      relations: config.delegationRelations.map(m),
      scopeCaveats: config.scopeCaveats,
      maxChain: config.maxChain,
    },
    thresholds: config.thresholds,
  };
}
