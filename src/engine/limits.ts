/**
 * The engine's fixed limits, in a module of their own that imports nothing: the CLI names them in
 * its help text and must not load the whole engine to do so.
 */

/**
 * The highest `maxDepth` allowed: the in-memory walk recurses once per hop (and per expression
 * level within one, see schema/limits.ts), and must stay well inside Node's default stack.
 */
export const MAX_DEPTH_LIMIT = 1_000;
