import { type ErrorCodeIn, LatchError } from "../core/index.js";

/**
 * A caveat expression or its context is unacceptable. Codes: `condition/syntax`, `condition/type`,
 * `condition/too-large`, `condition/bad-parameter` (a declared parameter name CEL cannot use),
 * `condition/bad-context` (a context value does not convert to its declared type). When the CEL
 * library locates the problem, `details.offset` is the 0-based character offset in the expression.
 */
export class ConditionError extends LatchError {
  override readonly name = "ConditionError";
}

export function conditionError(
  code: ErrorCodeIn<"condition">,
  message: string,
  details: Record<string, unknown> = {},
) {
  return new ConditionError(code, "invalid-argument", message, details);
}
