/**
 * Identity security posture: what non-human identities (agents, services) can reach and what is
 * wrong with it, at one revision (docs/posture.md). Reads the relationships, the engine's lookups
 * and the decision log; keeps its reports in the datastore for drift.
 */
export {
  ConfigChecker,
  configToJson,
  DEFAULT_CONFIG_YAML,
  type MemberRef,
  type PostureConfig,
  type PostureThresholds,
  parsePostureConfig,
} from "./config.js";
export { footprint } from "./reach.js";
export { renderHtml } from "./render-html.js";
export { renderText } from "./render-text.js";
export { createPostureReport, type PostureOptions, type PostureResult } from "./report.js";
export * from "./types.js";
