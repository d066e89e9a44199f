/** Shared pieces of the lookup tests: a folder/group/document schema, a loader, a stream drain. */
import { parseRelationship, type Relationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import type { Store } from "../../src/store/index.js";

/** Nested groups, a folder tree, a caveated grant, a wildcard and an exclusion. */
export const LOOKUP_SCHEMA = `caveat on_network(ip string, allowed string) {
  ip == allowed
}

definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + parent->view
}

definition document {
  relation parent: folder
  relation viewer: user | group#member | user:* | user with on_network
  relation banned: user | group#member
  permission view = (viewer + parent->view) - banned
}
`;

export const rels = (...lines: string[]): Relationship[] => lines.map(parseRelationship);

/** Writes the lookup schema and the relationships, and returns an engine with no revision lag. */
export async function loadLookupFixture(
  store: Store,
  relationships: readonly Relationship[],
): Promise<Engine> {
  await store.writeSchema(LOOKUP_SCHEMA);
  if (relationships.length > 0) await store.importRelationships(relationships);
  return createEngine({ store, quantizationMs: 0 });
}

export async function collectAll<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}
