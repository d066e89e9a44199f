/**
 * Size limits of a schema, so that no text can make the parser, the checks, the compiler or the
 * engine's walks recurse deeper than the stack allows (they recurse over the expression tree).
 *
 * Chosen far above real schemas: across the 73 SpiceDB conformance files and `schemas/*.zed`, the
 * deepest permission expression is 4 levels and the longest has 6 terms. The walks recurse once
 * per expression level inside each dispatch hop (up to `--max-depth`, default 50), so 32 levels
 * keep the worst case (50 x 32 x a few frames) well inside Node's default stack.
 */

/**
 * Most nesting levels of one permission expression, as the compiler and the walks see it: each
 * exclusion, and each run of the same `+` or `&` (flattened into one node), is one level; so is
 * each pair of parentheses while parsing. `a - b - c` is 2 levels; `a + b + c` is 1.
 */
export const MAX_EXPRESSION_DEPTH = 32;

/** Most terms (relations, arrows, `nil`) in one permission expression. */
export const MAX_EXPRESSION_TERMS = 1_000;

/** Most nesting levels of a caveat parameter type (`list<map<list<int>>>` is 3). */
export const MAX_TYPE_DEPTH = 8;

/**
 * Most relations and permissions in one definition. The checks recurse along references between
 * the permissions of a definition (`p1 = p2`, `p2 = p3` ...), so this also bounds that recursion.
 */
export const MAX_DEFINITION_MEMBERS = 1_000;
