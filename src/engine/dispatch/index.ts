export { CachingDispatcher, recall, remember } from "./caching.js";
export { createDispatcher } from "./combined.js";
export { keyPrefix, keySuffix, subproblemKey } from "./keys.js";
export { createRequestResults, createSharedResults, type SharedResults } from "./results.js";
export {
  type Flight,
  type FlightResult,
  OwnFlight,
  SingleFlightDispatcher,
  waitsFor,
} from "./single-flight.js";
export type {
  CachedResult,
  DispatchContext,
  Dispatched,
  Dispatcher,
  RequestState,
  ResultStore,
  Subproblem,
} from "./types.js";
export { answered, narrow } from "./types.js";
