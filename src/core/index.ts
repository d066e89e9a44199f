export * from "./clip.js";
export * from "./context-limits.js";
export * from "./error-codes.js";
export * from "./errors.js";
export * from "./relationship-string.js";
export * from "./storable-text.js";
export * from "./types.js";
