/**
 * What the report needs from the relationships, read in one pass over the export at the report's
 * revision: the identities and their owners, the grants and delegations naming them, wildcard
 * grants to a whole identity type, the objects of each reach type (the denominators of shares),
 * the sensitive objects, and which owners still exist anywhere else.
 */
import { formatObjectRef, type Relationship, WILDCARD_ID } from "../core/index.js";
import type { Pacer } from "../engine/index.js";
import type { StoreReader } from "../store/index.js";
import type { PostureConfig } from "./config.js";

export interface IdentityFacts {
  /** `agent:x`. */
  readonly key: string;
  readonly type: string;
  readonly id: string;
  readonly owners: Relationship[];
  /** Relationships naming the identity as subject, delegations apart. */
  readonly grants: Relationship[];
  /** Relationships on a delegation relation naming the identity as subject. */
  readonly delegations: Relationship[];
  /** Relationships naming one of its subject sets (`agent:x#rel`). */
  readonly memberships: Relationship[];
}

export interface Inventory {
  /** By key, in key order. */
  readonly identities: ReadonlyMap<string, IdentityFacts>;
  /** Identity type -> grants to `type:*` on relations that grant rather than gate. */
  readonly wildcardGrants: ReadonlyMap<string, readonly Relationship[]>;
  /** Resource type -> how many objects of it have a relationship. */
  readonly objectCounts: ReadonlyMap<string, number>;
  /** Ids of the sensitive objects (of `config.sensitive.relation.type`). */
  readonly sensitive: ReadonlySet<string>;
  /** Owners (`user:alice`) that appear in some relationship besides owning or delegating to identities. */
  readonly presentOwners: ReadonlySet<string>;
  readonly relationships: number;
}

function isSensitive(r: Relationship, config: PostureConfig): boolean {
  const s = config.sensitive;
  if (s === undefined || r.resource.type !== s.relation.type || r.relation !== s.relation.name) return false;
  const value = r.caveat?.context?.[s.parameter];
  const n = typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : Number.NaN;
  return n >= s.min;
}

/**
 * `pacer`: the export is read from the store or the in-memory copy without a macrotask between
 * rows, so the pass yields to the event loop itself (a report must not hold a server's other calls).
 */
export async function readInventory(
  reader: StoreReader,
  config: PostureConfig,
  pacer: Pacer,
): Promise<Inventory> {
  const identities = new Map<string, IdentityFacts>();
  const facts = (type: string, id: string): IdentityFacts => {
    const key = `${type}:${id}`;
    let f = identities.get(key);
    if (f === undefined) {
      f = { key, type, id, owners: [], grants: [], delegations: [], memberships: [] };
      identities.set(key, f);
    }
    return f;
  };
  // The owners, read first (one indexed range per identity type), so that the pass below tracks
  // the presence of those objects only, with no string built per relationship.
  const owners = new Map<string, Set<string>>();
  for (const [type, relation] of config.identities) {
    let cursor: string | undefined;
    do {
      const page = await reader.readRelationships(
        { resourceType: type, relation },
        { limit: 1_000, ...(cursor === undefined ? {} : { cursor }) },
      );
      for (const r of page.relationships) {
        if (pacer.due()) await pacer.pause();
        let ids = owners.get(r.subject.type);
        if (ids === undefined) {
          ids = new Set();
          owners.set(r.subject.type, ids);
        }
        ids.add(r.subject.id);
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
  }
  const isOwner = (type: string, id: string) => owners.get(type)?.has(id) === true;
  const isMember = (list: readonly { type: string; name: string }[], r: Relationship) =>
    list.some((m) => m.type === r.resource.type && m.name === r.relation);
  const countTypes = new Set(config.reach.map((m) => m.type));
  const objects = new Map<string, Set<string>>([...countTypes].map((t) => [t, new Set<string>()]));
  const wildcardGrants = new Map<string, Relationship[]>();
  const sensitive = new Set<string>();
  const present = new Set<string>();
  let relationships = 0;
  for await (const r of reader.exportRelationships()) {
    if (pacer.due()) await pacer.pause();
    relationships++;
    objects.get(r.resource.type)?.add(r.resource.id);
    if (isSensitive(r, config)) sensitive.add(r.resource.id);
    const ownerRelation = config.identities.get(r.resource.type);
    if (ownerRelation === r.relation) {
      facts(r.resource.type, r.resource.id).owners.push(r);
      continue;
    }
    const delegation = isMember(config.delegationRelations, r);
    const s = r.subject;
    if (config.identities.has(s.type) && s.relation === undefined) {
      if (s.id === WILDCARD_ID) {
        if (!isMember(config.gateRelations, r)) {
          const list = wildcardGrants.get(s.type);
          if (list === undefined) wildcardGrants.set(s.type, [r]);
          else list.push(r);
        }
      } else if (delegation) facts(s.type, s.id).delegations.push(r);
      else facts(s.type, s.id).grants.push(r);
    } else if (config.identities.has(s.type) && s.id !== WILDCARD_ID) facts(s.type, s.id).memberships.push(r);
    if (config.identities.has(r.resource.type)) facts(r.resource.type, r.resource.id);
    if (delegation) continue;
    if (isOwner(r.resource.type, r.resource.id)) present.add(formatObjectRef(r.resource));
    if (isOwner(s.type, s.id)) present.add(`${s.type}:${s.id}`);
  }
  const sorted = new Map([...identities].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  return {
    identities: sorted,
    wildcardGrants,
    objectCounts: new Map([...objects].map(([t, ids]) => [t, ids.size])),
    sensitive,
    presentOwners: present,
    relationships,
  };
}
