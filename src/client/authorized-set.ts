/**
 * `watchAuthorizedSet`: a live Set of the resources a subject may use, kept by a WatchPermissions
 * stream, for a RAG pipeline that filters retrieved chunks many times a second without a call
 * per query. It fails closed: before the first set arrives, and while the stream is down, `has`
 * answers false for everything (filterAuthorized then asks the server instead).
 */
import { formatSubjectRef, isLatchError, LatchError } from "../core/index.js";
import { toSubject } from "./inputs.js";
import type { LatchClient, PermissionChange, WatchPermissionsParams } from "./types.js";

export interface AuthorizedSetOptions extends WatchPermissionsParams {
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

export function watchAuthorizedSet(
  client: Pick<LatchClient, "watchPermissions">,
  options: AuthorizedSetOptions,
): AuthorizedSet {
  const controller = new AbortController();
  const signal =
    options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
  const readable = (c: PermissionChange) =>
    c.kind === "ADDED" || (c.kind === "CONDITIONAL" && options.includeConditional === true);
  let current = new Set<string>();
  /** A whole set being received (the first one, or after RESYNC or a reconnect): swapped in at SYNCED. */
  let building: Set<string> | undefined = new Set();
  let live = false;
  let token: string | undefined;
  let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A caller that never awaits `ready` must not see an unhandled rejection.
  ready.catch(() => undefined);

  const apply = (change: PermissionChange) => {
    if (change.kind === "RESYNC") {
      building = new Set();
      return;
    }
    if (change.kind === "SYNCED") {
      if (building !== undefined) {
        current = building;
        building = undefined;
      }
      token = change.token;
      live = true;
      settle?.resolve();
      settle = undefined;
      return;
    }
    const target = building ?? current;
    if (readable(change)) target.add(change.resourceId);
    else target.delete(change.resourceId);
  };

  const { retryMs = 1000, includeConditional: _, signal: __, onChange, ...params } = options;
  void (async () => {
    while (!signal.aborted) {
      try {
        for await (const change of client.watchPermissions(params, { signal })) {
          apply(change);
          onChange?.(change);
        }
      } catch (error) {
        if (signal.aborted) break;
        // A request the server refuses will be refused again: give up and say why.
        if (isLatchError(error) && error.kind === "invalid-argument") {
          settle?.reject(error);
          settle = undefined;
          break;
        }
      }
      // The stream ended or failed: fail closed until a whole set arrives again.
      live = false;
      building = new Set();
      if (!signal.aborted) await new Promise((r) => setTimeout(r, retryMs).unref?.());
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
    includeConditional: options.includeConditional === true,
    get live() {
      return live;
    },
    get token() {
      return token;
    },
    ids: () => (live ? current : NONE),
    has: (id) => live && current.has(id),
    ready,
    close: () => controller.abort(),
  };
}
