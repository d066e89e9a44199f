/** RAG post-filtering: keep the items the subject may see, in their original order. */
import { isDeepStrictEqual } from "node:util";
import { formatSubjectRef } from "../core/index.js";
import type { Consistency } from "../engine/index.js";
import type { AuthorizedSet } from "./authorized-set.js";
import { toObject, toSubject } from "./inputs.js";
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
  /**
   * A live set (watchAuthorizedSet) for this subject and permission: items of its resource type
   * are kept when it holds them, without a call. Used only while it is live, when it matches
   * `subject` and `permission`, has no chain and was watched with the filter's context, and when no
   * `consistency` is asked for (a set's freshness cannot be compared with a token here);
   * otherwise every item is checked as without it.
   */
  readonly authorizedSet?: AuthorizedSet;
}

/** The set, when it answers exactly what CheckBulk would be asked here. */
function usableSet<T>(options: FilterOptions<T>): AuthorizedSet | undefined {
  const set = options.authorizedSet;
  if (set === undefined || !set.live || options.consistency !== undefined) return undefined;
  // A set watched with a context holds what that context allows: asked without it (or with
  // another), CheckBulk would answer CONDITIONAL or DENIED for some of them.
  if (!isDeepStrictEqual(set.context ?? {}, options.context ?? {})) return undefined;
  // A set that counts CONDITIONAL as readable would let through what CheckBulk's ALLOWED does not.
  if (set.includeConditional || set.onBehalfOf.length > 0 || set.permission !== options.permission)
    return undefined;
  return set.subject === formatSubjectRef(toSubject(options.subject)) ? set : undefined;
}

/**
 * Returns the items whose resource grants the permission, in their order. Only ALLOWED passes: a
 * CONDITIONAL answer (missing caveat context) or a per-item error never lets an item through.
 * With a live `authorizedSet`, items of its type are decided by the set and the rest by CheckBulk.
 */
export async function filterAuthorized<T>(
  client: Pick<LatchClient, "checkBulk">,
  items: readonly T[],
  options: FilterOptions<T>,
): Promise<T[]> {
  const size = Math.max(1, options.chunkSize ?? 1000);
  const set = usableSet(options);
  const keep = new Set<number>();
  const ask: number[] = [];
  items.forEach((item, i) => {
    const resource = set === undefined ? undefined : toObject(options.resourceOf(item));
    if (set === undefined || resource?.type !== set.resourceType) ask.push(i);
    else if (set.has(resource.id)) keep.add(i);
  });
  for (let start = 0; start < ask.length; start += size) {
    const indexes = ask.slice(start, start + size);
    const chunk = indexes.map((i) => items[i]!);
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
      if (r.ok && r.state === "ALLOWED") keep.add(indexes[i]!);
    });
  }
  return items.filter((_, i) => keep.has(i));
}
