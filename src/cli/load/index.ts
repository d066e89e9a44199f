export { type CaseResult, markdownTable, summarize } from "./percentiles.js";
export { type LoadOperation, type LoadOutcome, runLoad } from "./run-load.js";
