export * from "./cursor.js";
export * from "./delegate.js";
export * from "./errors.js";
export * from "./orphans.js";
export * from "./revision-token.js";
export * from "./row-keys.js";
export type * from "./types.js";
export * from "./validate.js";
export * from "./write-checks.js";
