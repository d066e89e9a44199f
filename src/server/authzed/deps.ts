/** What the authzed.api.v1 handlers are built from: the same parts latch.v1's handlers use. */
import type { Engine } from "../../engine/index.js";
import type { Decider } from "../../service/index.js";
import type { Store } from "../../store/index.js";
import type { ServerLimits } from "../limits.js";

export interface AuthzedDeps {
  readonly store: Store;
  readonly engine: Engine;
  /** The decision seam: every Check, bulk check and LookupResources goes through it, as on latch.v1. */
  readonly decider: Decider;
  readonly limits: ServerLimits;
  readonly watchPollMs: number;
  /** Aborted when the server shuts down: long streams (Watch) end then. */
  readonly shutdown: AbortSignal;
}
