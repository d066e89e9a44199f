export * from "./approval-store.js";
export * from "./canonical-context.js";
export * from "./cursor.js";
export * from "./decision-log.js";
export * from "./delegate.js";
export * from "./describe.js";
export * from "./errors.js";
export * from "./history.js";
export * from "./orphans.js";
export * from "./packed-rows.js";
export * from "./posture-store.js";
export * from "./readers.js";
export * from "./revision-token.js";
export * from "./row-keys.js";
export * from "./signal-store.js";
export type * from "./types.js";
export * from "./validate.js";
export {
  closeThread,
  type PostedError,
  postedError,
  type RequestThread,
  receivedError,
  requestThread,
  spawnModuleThread,
} from "./worker-thread.js";
export * from "./write-checks.js";
