export {
  type AsAsked,
  type CheckNow,
  checkNowOf,
  checkNowThrough,
  checkWithWitness,
  withCheckNow,
  withWitness,
} from "./check-now.js";
export type { EngineOptions } from "./engine.js";
export { createEngine, MAX_DEPTH_LIMIT } from "./engine.js";
export {
  type LookupBatchOptions,
  type LookupResourceBatches,
  lookupBatchesOf,
  withLookupBatches,
} from "./lookup-batches.js";
export { cursorToken } from "./lookup-cursor.js";
export { type ReverseBatch, readReverseBatch } from "./lookup-reverse.js";
export { COSTLY_ITEM, createPacer, type Pacer } from "./pacer.js";
export { createRevisions, type Revisions } from "./revisions.js";
export type * from "./types.js";
