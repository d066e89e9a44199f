export { formatExplain, formatReport, reportFailed } from "./format-report.js";
export type { Assertion, AssertionKind, ExpectedRelation, ValidationDocument } from "./parse.js";
export { parseAssertion, parseRelationshipsBlock } from "./parse.js";
export type { RunOptions, ValidationFailure, ValidationReport } from "./run.js";
export { runValidation, runValidationFile } from "./run.js";
