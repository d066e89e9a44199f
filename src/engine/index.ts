export type { EngineOptions } from "./engine.js";
export { createEngine } from "./engine.js";
export type * from "./types.js";
