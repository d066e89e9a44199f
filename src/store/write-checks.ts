/**
 * Argument checks every backend runs before touching its database, so both refuse the same inputs
 * with the same codes, kinds and messages.
 */
import { clip } from "../core/index.js";
import { StoreError } from "./errors.js";
import { relationshipKeyString } from "./row-keys.js";
import type { RelationshipFilter, RelationshipUpdate } from "./types.js";
import { describeRelationship } from "./validate.js";

/** Most updates in one write unless a backend is configured otherwise; bulk loads use importRelationships. */
export const MAX_UPDATES_PER_WRITE = 1_000;

export function checkFilter(filter: RelationshipFilter): void {
  if (typeof filter?.resourceType !== "string" || filter.resourceType.length === 0) {
    throw new StoreError(
      "store/invalid-filter",
      "invalid-argument",
      "relationship filter needs a resource type (`resourceType`).",
    );
  }
  if (
    filter.subject !== undefined &&
    (typeof filter.subject.type !== "string" || filter.subject.type === "")
  ) {
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

/** An optional limit or size from a caller: absent stays absent, anything but a positive integer is refused. */
export function positiveInt(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new StoreError(
      "store/invalid-limit",
      "invalid-argument",
      `${what} must be a positive integer, got ${value}.`,
    );
  }
  return value;
}
