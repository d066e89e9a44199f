/** Shared fixtures of the store conformance suite: one schema, relationship builders, reference filters. */
import { expect } from "vitest";
import { formatRelationship, parseRelationship, type Relationship } from "../../../src/core/index.js";
import {
  latestReader,
  type RelationshipFilter,
  type RelationshipUpdate,
  type Store,
  type StoreReader,
} from "../../../src/store/index.js";

export type StoreFactory = () => Promise<Store>;

export const SCHEMA = `use expiration

caveat only_on(day string) {
  day == "tuesday"
}

caveat over(limit int) {
  limit > 0
}

definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation viewer: user
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member | user:* | user with only_on
  relation temp: user with expiration | user with over and expiration
  permission view = viewer + owner
}
`;

export const rel = (text: string): Relationship => parseRelationship(text);
export const create = (text: string): RelationshipUpdate => ({
  operation: "create",
  relationship: rel(text),
});
export const touch = (text: string): RelationshipUpdate => ({ operation: "touch", relationship: rel(text) });
export const remove = (text: string): RelationshipUpdate => ({
  operation: "delete",
  relationship: rel(text),
});
export const fmt = (r: Relationship): string => formatRelationship(r);

/** A reader at `revision`, or at the current revision when absent. */
export async function readerAt(store: Store, revision?: bigint): Promise<StoreReader> {
  return revision === undefined ? latestReader(store) : store.at(revision);
}

/** Every relationship matching `filter` (no limit), formatted, in store order. */
export async function readAll(
  store: Store,
  filter: RelationshipFilter,
  revision?: bigint,
): Promise<string[]> {
  const page = await (await readerAt(store, revision)).readRelationships(filter);
  expect(page.cursor).toBeUndefined();
  return page.relationships.map(fmt);
}

export async function exportAll(store: Store, revision?: bigint): Promise<string[]> {
  const out: string[] = [];
  for await (const r of (await readerAt(store, revision)).exportRelationships()) out.push(fmt(r));
  return out;
}

/** The reference semantics of a filter, applied to plain objects. */
export function matches(r: Relationship, f: RelationshipFilter): boolean {
  if (f.resourceType !== undefined && r.resource.type !== f.resourceType) return false;
  if (f.resourceId !== undefined && r.resource.id !== f.resourceId) return false;
  if (f.resourceIdPrefix !== undefined && !r.resource.id.startsWith(f.resourceIdPrefix)) return false;
  if (f.relation !== undefined && r.relation !== f.relation) return false;
  if (f.subject !== undefined) {
    if (r.subject.type !== f.subject.type) return false;
    if (f.subject.id !== undefined && r.subject.id !== f.subject.id) return false;
    if (f.subject.relation !== undefined && (r.subject.relation ?? "") !== f.subject.relation) return false;
  }
  if (f.caveatName !== undefined && r.caveat?.name !== f.caveatName) return false;
  return true;
}

/** Store order: resource type, id, relation, subject type, id, relation (byte order of ASCII ids). */
export function storeOrder(a: Relationship, b: Relationship): number {
  const ka = [
    a.resource.type,
    a.resource.id,
    a.relation,
    a.subject.type,
    a.subject.id,
    a.subject.relation ?? "",
  ];
  const kb = [
    b.resource.type,
    b.resource.id,
    b.relation,
    b.subject.type,
    b.subject.id,
    b.subject.relation ?? "",
  ];
  for (let i = 0; i < ka.length; i++) {
    if (ka[i]! < kb[i]!) return -1;
    if (ka[i]! > kb[i]!) return 1;
  }
  return 0;
}

/** Resolves to the rejection (failing when the promise fulfils) so its code and kind can be asserted. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; kind: string; message: string; details: Record<string, unknown> }> {
  const outcome = await promise.then(
    () => ({ fulfilled: true as const }),
    (error: unknown) => ({ fulfilled: false as const, error }),
  );
  if (outcome.fulfilled) throw new Error("expected a rejection, but the call succeeded");
  return outcome.error as { code: string; kind: string; message: string; details: Record<string, unknown> };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `text` with an expiration `ms` from now (negative: already expired). */
export const expiringIn = (text: string, ms: number): Relationship => ({
  ...rel(text),
  expiration: new Date(Date.now() + ms),
});
