/**
 * Argument checks every backend runs before touching its database, so both refuse the same inputs
 * with the same codes, kinds and messages.
 */

import type { Relationship } from "../core/index.js";
import { clip, describeTextPath, unstorableTextAt } from "../core/index.js";
import { describeRelationship } from "./describe.js";
import { StoreError } from "./errors.js";
import { nextTurn } from "./next-turn.js";
import { relationshipKeyString } from "./row-keys.js";
import type { RelationshipFilter, RelationshipUpdate, TransactionMetadata } from "./types.js";

/** Most updates in one write unless a backend is configured otherwise; bulk loads use importRelationships. */
export const MAX_UPDATES_PER_WRITE = 1_000;

export function checkFilter(filter: RelationshipFilter): void {
  if (typeof filter !== "object" || filter === null) {
    throw new StoreError("store/invalid-filter", "invalid-argument", "a relationship filter is required.");
  }
  const { resourceType, resourceId, resourceIdPrefix, relation, subject, caveatName } = filter;
  if (resourceType !== undefined && (typeof resourceType !== "string" || resourceType.length === 0)) {
    throw new StoreError(
      "store/invalid-filter",
      "invalid-argument",
      "a relationship filter's resource type (`resourceType`) may be left out but not empty.",
    );
  }
  const prefix = resourceIdPrefix !== undefined && resourceIdPrefix !== "";
  if (
    resourceType === undefined &&
    resourceId === undefined &&
    !prefix &&
    relation === undefined &&
    subject === undefined &&
    caveatName === undefined
  ) {
    throw new StoreError(
      "store/invalid-filter",
      "invalid-argument",
      "a relationship filter needs at least one field: a resource type (`resourceType`), id, id prefix, relation, subject or caveat.",
    );
  }
  if (subject !== undefined && (typeof subject.type !== "string" || subject.type === "")) {
    throw new StoreError(
      "store/invalid-filter",
      "invalid-argument",
      "a subject filter needs a subject type.",
    );
  }
}

export function checkUpdateCount(
  updates: readonly RelationshipUpdate[],
  limit: number = MAX_UPDATES_PER_WRITE,
): void {
  if (updates.length > limit) {
    throw new StoreError(
      "write/too-many-updates",
      "resource-exhausted",
      `a write may hold at most ${limit} updates; got ${updates.length}. Split it, or use importRelationships for bulk loads.`,
      { limit, count: updates.length },
    );
  }
}

/**
 * The checks of a write that need no schema, run before its transaction starts: the count, then
 * each operation, then that no relationship is updated twice.
 */
export function checkUpdates(
  updates: readonly RelationshipUpdate[],
  limit: number = MAX_UPDATES_PER_WRITE,
): void {
  checkUpdateCount(updates, limit);
  const seen = new Set<string>();
  for (const update of updates) {
    if (update.operation !== "create" && update.operation !== "touch" && update.operation !== "delete") {
      throw new StoreError(
        "write/invalid-operation",
        "invalid-argument",
        `unknown update operation \`${clip(String(update.operation))}\`; use create, touch or delete.`,
      );
    }
    const key = relationshipKeyString(update.relationship);
    if (seen.has(key)) {
      throw new StoreError(
        "write/duplicate-update",
        "invalid-argument",
        `the write updates ${describeRelationship(update.relationship)} more than once; a relationship may appear once per write.`,
      );
    }
    seen.add(key);
  }
}

/** A write's or delete's transaction metadata: text every datastore keeps as given. */
export function checkMetadata(metadata: TransactionMetadata | undefined): void {
  if (metadata === undefined) return;
  const at = unstorableTextAt(metadata);
  if (at === undefined) return;
  throw new StoreError(
    "write/bad-metadata",
    "invalid-argument",
    `the transaction metadata's text at ${describeTextPath(at)} holds U+0000 or a lone surrogate, which a datastore cannot store as given; remove the character or store the value encoded (base64, say).`,
    { path: at },
  );
}

/** An optional limit or size from a caller: absent stays absent, anything but a positive integer is refused. */
export function positiveInt(value: number | undefined, what: string): number | undefined {
  return wholeNumber(value, what, 1);
}

export function nonNegativeInt(value: number | undefined, what: string): number | undefined {
  return wholeNumber(value, what, 0);
}

function wholeNumber(value: number | undefined, what: string, least: 0 | 1): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < least) {
    const expected = least === 1 ? "a positive integer" : "a whole number, 0 or more";
    throw new StoreError(
      "store/invalid-limit",
      "invalid-argument",
      `${what} must be ${expected}, got ${value}.`,
    );
  }
  return value;
}

/** A delete that may not be partial matched more than its limit (checked inside its transaction). */
export function deleteOverLimit(limit: number): StoreError {
  return new StoreError(
    "delete/over-limit",
    "invalid-argument",
    `more than ${limit} relationships match the filter and the delete may not be partial; nothing was deleted. Raise the limit, narrow the filter or allow a partial delete.`,
    { limit },
  );
}

/** A load with CREATE semantics, in memory: refused when it names a relationship twice. */
export async function collectForCreate(
  relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
): Promise<Relationship[]> {
  const all: Relationship[] = [];
  const seen = new Set<string>();
  for await (const r of relationships) {
    // A source already in memory never leaves the microtask queue: a turn for other requests.
    if (all.length % 2_000 === 1_999) await nextTurn();
    const key = relationshipKeyString(r);
    if (seen.has(key)) {
      throw new StoreError(
        "relationship/already-exists",
        "already-exists",
        `${describeRelationship(r)} appears twice in the load, which creates each relationship once; nothing was written.`,
        { relationship: describeRelationship(r) },
      );
    }
    seen.add(key);
    all.push(r);
  }
  return all;
}
