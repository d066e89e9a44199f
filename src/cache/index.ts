export { createCache } from "./create-cache.js";
export { estimateSize } from "./estimate-size.js";
export type { Cache, CacheOptions, CacheStats } from "./types.js";
