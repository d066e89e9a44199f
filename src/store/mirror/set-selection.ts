/**
 * Which relationships a copy over its limit keeps: whole sets, each every relationship of one
 * (resource type, relation), so that a read names exactly the sets it needs and each is answered
 * from memory or from the store, never half from each.
 *
 * The policy is stated, not learned: the smallest sets first, while they fit. Small sets are the
 * inside of the graph (groups, folders, their members and parents), which many checks walk
 * through; the largest are usually leaves (each document's viewers) that a check reads once, in
 * one store read. While following writes over the limit, the largest set held is let go first.
 * The reads each set not held sends to the store are counted (`storeReads`) for operators to see.
 */

/** One set of relationships as the copy reports it (metrics, `MirroredStore.stats`). */
export interface MirrorSetStats {
  readonly type: string;
  readonly relation: string;
  /** Held: its live relationships now. Not held: how many it had when the copy let it go. */
  readonly relationships: number;
  readonly mirrored: boolean;
  /** Reads of a set not held sent to the store since the copy let it go (0 for held sets). */
  readonly storeReads: number;
}

/** Type and relation names hold no `#`. */
export const setKey = (type: string, relation: string): string => `${type}#${relation}`;

export function splitKey(key: string): { type: string; relation: string } {
  const at = key.indexOf("#");
  return { type: key.slice(0, at), relation: key.slice(at + 1) };
}

/** The sets to keep, by key: smallest first (ties by name, so every replica chooses alike), while they fit. */
export function chooseSets(sizes: ReadonlyMap<string, number>, maxRelationships: number): Set<string> {
  const bySize = [...sizes].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const keep = new Set<string>();
  let total = 0;
  for (const [key, size] of bySize) {
    if (total + size > maxRelationships) break;
    total += size;
    keep.add(key);
  }
  return keep;
}
