/**
 * Resuming a WatchPermissions stream after a revision token (`after`): instead of the whole set,
 * the stream starts with the set's changes between the token's revision and the revision of its
 * first SYNCED, then goes on live.
 *
 * The changes are the difference of two LookupResources answers, at the token's revision and at
 * the live set's revision: the client's copy at the token was exactly LookupResources at it (the
 * property test's guarantee), and a lookup pinned to a revision answers the same whenever it is
 * asked (the signal gate asks it with the attributes signals had stored at that revision), so the difference turns the client's copy into the live one exactly. Two cases break that,
 * and get RESYNC and the whole set instead:
 * - expiration: a relationship's expiry is judged against the clock when the lookup runs, not the
 *   revision, so the set at an old revision asked now can lack resources the client was sent
 *   then; a REMOVED for them would never come. A set computed (in the schema at the token) from
 *   any relation that allows an expiration is resumed this way.
 * - a difference with more events than the whole set: the set is fewer messages, and the same work
 *   for the client.
 * The same holds when the set at the token cannot be asked for: the request does not fit the
 * schema as it was then (no schema yet, the permission not yet defined).
 */
import { isLatchError, LatchError, type Revision } from "../../core/index.js";
import {
  type CompiledSchema,
  compileSchema,
  type MemberDef,
  type PermissionExpr,
} from "../../schema/index.js";
import { checkRetained, type Store } from "../../store/index.js";
import { Group, groupKey, type SetDecider, sameState } from "./group.js";
import { markerAt, setEvents } from "./runs.js";
import type {
  PermissionEvent,
  PermissionState,
  WatchPermissionsOptions,
  WatchPermissionsRequest,
} from "./types.js";

/** What a resumed stream's first SYNCED is measured against. */
export type ResumeBase =
  | { readonly kind: "diff"; readonly entries: ReadonlyMap<string, PermissionState> }
  | { readonly kind: "resync"; readonly reason: "expiration" | "schema" };

/** The token's revision; a token that is not one of this store's is INVALID_ARGUMENT. */
function decodeToken(store: Store, token: string): Revision {
  try {
    return store.decodeRevision(token);
  } catch (e) {
    if (isLatchError(e)) throw e;
    throw new LatchError(
      "revision/invalid-token",
      "invalid-argument",
      "the revision token is not valid",
      {},
      {
        cause: e,
      },
    );
  }
}

/** The members a permission (or relation) is computed from, as `type#member`: what one arrow or name leads to. */
function feeding(schema: CompiledSchema, member: MemberDef): string[] {
  if (member.kind === "relation") {
    return member.allowed.flatMap((a) => (a.relation === undefined ? [] : [`${a.type}#${a.relation}`]));
  }
  const out: string[] = [];
  const walk = (expr: PermissionExpr): void => {
    if (expr.kind === "union" || expr.kind === "intersection") expr.children.forEach(walk);
    else if (expr.kind === "exclusion") [expr.base, expr.subtract].forEach(walk);
    else if (expr.kind === "computed") out.push(`${member.definition}#${expr.name}`);
    else if (expr.kind === "arrow") {
      // The tupleset's own relationships count too (a document moved out of an expiring folder link).
      out.push(`${member.definition}#${expr.tupleset}`);
      const tupleset = schema.definitions.get(member.definition)?.members.get(expr.tupleset);
      for (const a of tupleset?.kind === "relation" ? tupleset.allowed : [])
        out.push(`${a.type}#${expr.computed}`);
    }
  };
  walk(member.expr);
  return out;
}

/**
 * Whether a relationship that can expire may decide the set: some relation the watched
 * permission, or a chain principal's delegation permission, is computed from allows an expiration.
 */
function mayExpire(
  schema: CompiledSchema,
  request: WatchPermissionsRequest,
  delegationPermission: (type: string) => string,
): boolean {
  const queue = [
    `${request.resourceType}#${request.permission}`,
    ...(request.onBehalfOf ?? []).map((p) => `${p.type}#${delegationPermission(p.type)}`),
  ];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const ref = queue.pop()!;
    const at = ref.indexOf("#");
    const member = schema.definitions.get(ref.slice(0, at))?.members.get(ref.slice(at + 1));
    if (member === undefined) continue;
    if (member.kind === "relation" && member.allowed.some((a) => a.expiration)) return true;
    for (const next of feeding(schema, member)) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  return false;
}

/** The request does not fit the schema at the token; anything else (a store failure, a token) is the caller's. */
function unfitAtToken(error: unknown): boolean {
  return (
    isLatchError(error) &&
    !error.code.startsWith("revision/") &&
    (error.kind === "invalid-argument" || error.kind === "failed-precondition" || error.kind === "not-found")
  );
}

/**
 * What the client held at `token`: the set then (LookupResources through `setAt`), or "resync"
 * when it cannot be known exactly. A malformed or foreign token is INVALID_ARGUMENT; one older
 * than the GC window FAILED_PRECONDITION (`revision/compacted`, naming the window), as on Watch.
 */
export async function resumeBase(
  store: Store,
  token: string,
  setAt: (token: string) => Promise<ReadonlyMap<string, PermissionState>>,
  expires: (schema: CompiledSchema) => boolean,
): Promise<ResumeBase> {
  const revision = decodeToken(store, token);
  // Checked here too, since a resync reads nothing at the token that would refuse it.
  checkRetained(revision, await store.historyHorizon?.());
  const stored = await store.at(revision).readSchema();
  if (stored !== undefined && expires(compileSchema(stored.text))) {
    return { kind: "resync", reason: "expiration" };
  }
  try {
    return { kind: "diff", entries: await setAt(token) };
  } catch (error) {
    if (unfitAtToken(error)) return { kind: "resync", reason: "schema" };
    throw error;
  }
}

/** The events that turn `base` into `current`, in id order, stamped with `synced`'s revision. */
function difference(
  base: ReadonlyMap<string, PermissionState>,
  current: ReadonlyMap<string, PermissionState>,
  synced: PermissionEvent,
): PermissionEvent[] {
  const { revision, token } = synced;
  const out: PermissionEvent[] = [];
  for (const id of [...new Set([...base.keys(), ...current.keys()])].sort()) {
    const before = base.get(id);
    const after = current.get(id);
    if (sameState(before, after)) continue;
    const kind = after === undefined ? "REMOVED" : after.state === "ALLOWED" ? "ADDED" : "CONDITIONAL";
    out.push({ kind, resourceId: id, missing: after?.missing ?? [], revision, token });
  }
  return out;
}

/** The first events of a resumed stream, once the live set has arrived whole (`current`, at `synced`). */
function firstEvents(
  base: ResumeBase,
  current: ReadonlyMap<string, PermissionState>,
  synced: PermissionEvent,
): PermissionEvent[] {
  if (base.kind === "diff") {
    const changes = difference(base.entries, current, synced);
    if (changes.length <= current.size) return [...changes, synced];
  }
  const { revision, token } = synced;
  return [markerAt("RESYNC", revision, token), ...setEvents({ entries: current, revision, token })];
}

/**
 * A live stream (the whole set, SYNCED, then changes) as a resumed one: the whole set is gathered
 * up to its SYNCED and replaced by its difference from `base` (or RESYNC and the set); the rest
 * passes through.
 */
export async function* resumed(
  events: AsyncIterable<PermissionEvent>,
  base: ResumeBase,
): AsyncGenerator<PermissionEvent, void, undefined> {
  let current: Map<string, PermissionState> | undefined = new Map();
  for await (const e of events) {
    if (current === undefined) {
      yield e;
    } else if (e.kind === "SYNCED") {
      yield* firstEvents(base, current, e);
      current = undefined;
    } else if (e.kind === "RESYNC") {
      current.clear();
    } else if (e.kind === "REMOVED") {
      current.delete(e.resourceId);
    } else {
      current.set(e.resourceId, {
        state: e.kind === "ADDED" ? "ALLOWED" : "CONDITIONAL",
        missing: e.missing,
      });
    }
  }
}

type Subscribe = (
  request: WatchPermissionsRequest,
  options?: WatchPermissionsOptions,
) => AsyncIterable<PermissionEvent>;

/**
 * PermissionWatch.watch: `subscribe` as it is without `after` (its own iterator, with no layer of
 * ours over each event); with it, the token is judged (and the set at it looked up) before the
 * subscription joins a set, and the stream is `resumed`.
 */
export function resumable(
  request: WatchPermissionsRequest,
  options: WatchPermissionsOptions | undefined,
  subscribe: Subscribe,
  watch: { readonly store: Store; readonly decider: SetDecider; readonly maxBulkItems?: number },
  delegationPermission: (type: string) => string,
): AsyncIterable<PermissionEvent> {
  const { after, ...live } = request;
  if (after === undefined) return subscribe(live, options);
  return resumedAfter(after, live, options, subscribe, watch, delegationPermission);
}

async function* resumedAfter(
  after: string,
  live: WatchPermissionsRequest,
  options: WatchPermissionsOptions | undefined,
  subscribe: Subscribe,
  watch: { readonly store: Store; readonly decider: SetDecider; readonly maxBulkItems?: number },
  delegationPermission: (type: string) => string,
): AsyncGenerator<PermissionEvent, void, undefined> {
  // The set as a kept set would have computed it at the token.
  const setAt = (token: string) =>
    new Group(groupKey(live), live, watch.decider, delegationPermission, watch.maxBulkItems ?? 1000).compute(
      token,
    );
  const base = await resumeBase(watch.store, after, setAt, (schema) =>
    mayExpire(schema, live, delegationPermission),
  );
  // A client gone while the base was looked up joins no set.
  if (options?.signal?.aborted === true) return;
  yield* resumed(subscribe(live, options), base);
}
