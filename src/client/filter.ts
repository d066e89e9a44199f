/** RAG post-filtering: keep the items the subject may see, in their original order. */
import type { Consistency } from "../engine/index.js";
import type { LatchClient, ObjectInput, SubjectInput } from "./types.js";

export interface FilterOptions<T> {
  readonly subject: SubjectInput;
  readonly permission: string;
  /** The resource that guards an item: `document:${item.docId}` or an ObjectRef. */
  readonly resourceOf: (item: T) => ObjectInput;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly consistency?: Consistency;
  /** Items per CheckBulk call; keep it at or under the server's bulk limit (default 1,000). */
  readonly chunkSize?: number;
  readonly signal?: AbortSignal;
}

/**
 * Returns the items whose resource grants the permission. Only ALLOWED passes: a CONDITIONAL
 * answer (missing caveat context) or a per-item error never lets an item through.
 */
export async function filterAuthorized<T>(
  client: Pick<LatchClient, "checkBulk">,
  items: readonly T[],
  options: FilterOptions<T>,
): Promise<T[]> {
  const size = Math.max(1, options.chunkSize ?? 1000);
  const kept: T[] = [];
  for (let start = 0; start < items.length; start += size) {
    const chunk = items.slice(start, start + size);
    const answer = await client.checkBulk(
      {
        items: chunk.map((item) => ({
          resource: options.resourceOf(item),
          permission: options.permission,
          subject: options.subject,
          ...(options.context === undefined ? {} : { context: options.context }),
        })),
        ...(options.consistency === undefined ? {} : { consistency: options.consistency }),
      },
      options.signal === undefined ? {} : { signal: options.signal },
    );
    answer.results.forEach((r, i) => {
      if (r.ok && r.state === "ALLOWED") kept.push(chunk[i]!);
    });
  }
  return kept;
}
