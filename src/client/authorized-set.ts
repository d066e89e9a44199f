/**
 * `watchAuthorizedSet`: a live Set of the resources a subject may use, kept by a WatchPermissions
 * stream, for a RAG pipeline that filters retrieved chunks many times a second without a call
 * per query. It fails closed: before the first set arrives, and while the stream is down, `has`
 * answers false for everything (filterAuthorized then asks the server instead). When the stream
 * drops, it resubscribes after the last SYNCED token, so the server sends only what changed
 * meanwhile (or RESYNC and the whole set); a token the server refuses (older than the GC window,
 * from another datastore) is dropped and the whole set asked for.
 */
import { formatSubjectRef, isLatchError, LatchError } from "../core/index.js";
import { toSubject } from "./inputs.js";
import type { LatchClient, PermissionChange, WatchPermissionsParams } from "./types.js";

/** `after` is not offered: the set starts empty, so there is nothing to resume from. */
export interface AuthorizedSetOptions extends Omit<WatchPermissionsParams, "after"> {
  /** Count CONDITIONAL resources as readable (default false: only ALLOWED ones). */
  readonly includeConditional?: boolean;
  /** Ends the subscription. */
  readonly signal?: AbortSignal;
  /** Called with each event after it is applied (for logs, cache invalidation, tests). */
  readonly onChange?: (change: PermissionChange) => void;
  /** Wait before resubscribing after the stream fails (default 1000 ms). */
  readonly retryMs?: number;
}

export interface AuthorizedSet {
  readonly resourceType: string;
  readonly permission: string;
  /** The subject as text (`user:alice`), and its chain, for matching requests to this set. */
  readonly subject: string;
  readonly onBehalfOf: readonly string[];
  /** The caveat context the set was watched with: it decided CONDITIONAL against ALLOWED. */
  readonly context: Readonly<Record<string, unknown>> | undefined;
  readonly includeConditional: boolean;
  /** Whether the set is current: it has been received and the stream is up. */
  readonly live: boolean;
  /** The revision token of the last SYNCED: the set is exactly the one at it (undefined before). */
  readonly token: string | undefined;
  /** The readable ids now; empty while not live. */
  ids(): ReadonlySet<string>;
  has(resourceId: string): boolean;
  /** Resolves when the first whole set has arrived; rejects if the subscription fails first. */
  readonly ready: Promise<void>;
  close(): void;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * The set as the events build it. Changes after the last SYNCED are remembered with the state
 * they replaced, so that a stream dropped between two SYNCEDs leaves the set exactly as it was at
 * the last one: the set a resumed stream's changes are measured against.
 */
class Tracked {
  current = new Set<string>();
  /** A whole set being received (the first one, or after RESYNC): swapped in at SYNCED. */
  building: Set<string> | undefined = new Set();
  /** The token of the last SYNCED: `current` is exactly the set at it. */
  token: string | undefined;
  /** Ids changed in `current` since the last SYNCED, each with whether it was in the set then. */
  private readonly unsynced = new Map<string, boolean>();

  constructor(private readonly readable: (c: PermissionChange) => boolean) {}

  /** Applies one event; true at SYNCED (the set is whole and current). */
  apply(change: PermissionChange): boolean {
    if (change.kind === "RESYNC") {
      this.building = new Set();
      return false;
    }
    if (change.kind === "SYNCED") {
      if (this.building !== undefined) {
        this.current = this.building;
        this.building = undefined;
      }
      this.unsynced.clear();
      this.token = change.token;
      return true;
    }
    const target = this.building ?? this.current;
    if (target === this.current && !this.unsynced.has(change.resourceId)) {
      this.unsynced.set(change.resourceId, this.current.has(change.resourceId));
    }
    if (this.readable(change)) target.add(change.resourceId);
    else target.delete(change.resourceId);
    return false;
  }

  /** The stream ended: back to the last SYNCED set; the token to resume after (undefined: none). */
  dropped(): string | undefined {
    for (const [id, was] of this.unsynced) {
      if (was) this.current.add(id);
      else this.current.delete(id);
    }
    this.unsynced.clear();
    this.building = this.token === undefined ? new Set() : undefined;
    return this.token;
  }

  /** The server refused the token: the whole set is asked for again. */
  forget(): void {
    this.building = new Set();
  }
}

/** A resumed stream refused for its token (compacted, foreign, not reached): retry without it. */
const tokenRefused = (error: unknown) => isLatchError(error) && error.code.startsWith("revision/");

export function watchAuthorizedSet(
  client: Pick<LatchClient, "watchPermissions">,
  options: AuthorizedSetOptions,
): AuthorizedSet {
  const controller = new AbortController();
  const signal =
    options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
  const set = new Tracked(
    (c) => c.kind === "ADDED" || (c.kind === "CONDITIONAL" && options.includeConditional === true),
  );
  let live = false;
  let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A caller that never awaits `ready` must not see an unhandled rejection.
  ready.catch(() => undefined);

  const { retryMs = 1000, includeConditional: _, signal: __, onChange, ...params } = options;
  /** One stream, from `after` when resuming; what ended it (undefined: it ended cleanly). */
  const follow = async (after: string | undefined): Promise<unknown> => {
    try {
      const request = after === undefined ? params : { ...params, after };
      for await (const change of client.watchPermissions(request, { signal })) {
        if (set.apply(change)) {
          live = true;
          settle?.resolve();
          settle = undefined;
        }
        onChange?.(change);
      }
      return undefined;
    } catch (error) {
      return error;
    }
  };
  void (async () => {
    let after: string | undefined;
    while (!signal.aborted) {
      const resumedFrom = after;
      const error = await follow(resumedFrom);
      // The stream ended or failed: fail closed until it is whole again.
      live = false;
      after = set.dropped();
      if (signal.aborted) break;
      if (resumedFrom !== undefined && tokenRefused(error)) {
        set.forget();
        after = undefined;
        continue;
      }
      // A request the server refuses will be refused again: give up and say why.
      if (isLatchError(error) && error.kind === "invalid-argument") {
        settle?.reject(error);
        settle = undefined;
        break;
      }
      await new Promise((r) => setTimeout(r, retryMs).unref?.());
    }
    live = false;
    settle?.reject(
      new LatchError(
        "watch/closed",
        "unavailable",
        "the authorized set was closed before its first set arrived",
      ),
    );
  })();

  return {
    resourceType: options.resourceType,
    permission: options.permission,
    subject: formatSubjectRef(toSubject(options.subject)),
    onBehalfOf: (options.onBehalfOf ?? []).map((p) => formatSubjectRef(toSubject(p))),
    context: options.context,
    includeConditional: options.includeConditional === true,
    get live() {
      return live;
    },
    get token() {
      return set.token;
    },
    ids: () => (live ? set.current : NONE),
    has: (id) => live && set.current.has(id),
    ready,
    close: () => controller.abort(),
  };
}
