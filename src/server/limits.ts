/** Request limits enforced at the edge, before any work is done: the service's, plus the wire's. */
import { DEFAULT_SERVICE_LIMITS, invalidArgument, type ServiceLimits } from "../service/index.js";

export interface ServerLimits extends ServiceLimits {
  /**
   * Largest request message grpc-js accepts from an authenticated caller; larger ones fail with
   * RESOURCE_EXHAUSTED. A call without a valid token is refused before its message is read at all
   * (auth-interceptor.ts).
   */
  readonly maxMessageBytes: number;
}

/**
 * Most rows one ListSignals or ListApprovals answers. Neither has a cursor, and its rows are read
 * and converted in one synchronous stretch (about 7 µs a signal: a limit of 4e9 over 50,000
 * signals held the event loop 0.3-0.4 s); the default (100) and the filters stay as they were.
 */
export const MAX_LIST_ROWS = 1_000;

/** Refuses a list's `limit` past MAX_LIST_ROWS, as an out-of-range parameter (QueryDecisions' page size alike). */
export function checkListLimit(limit: number): void {
  if (limit > MAX_LIST_ROWS)
    throw invalidArgument(
      "limit",
      `must be at most ${MAX_LIST_ROWS} (got ${limit}); 0 lists the default 100`,
    );
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  ...DEFAULT_SERVICE_LIMITS,
};
