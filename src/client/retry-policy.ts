/**
 * When an idempotent call that failed UNAVAILABLE is tried again, on every transport: after 25 ms,
 * doubling with each attempt, and only when the attempt would start with time left before the
 * call's deadline (one that could only fail DEADLINE_EXCEEDED would hide the real cause).
 */
const FIRST_PAUSE_MS = 25;
/** Less than this left when a retry would start: not worth an attempt. */
const LEAST_LEFT_MS = 5;

/**
 * The pause before the attempt after `attempt` (0 for the first), or undefined when there is none:
 * `maxAttempts` made, or that attempt would start too close to `endsAt` (`Date.now()` at the
 * deadline; undefined: none).
 */
export function retryPause(
  attempt: number,
  maxAttempts: number,
  endsAt: number | undefined,
): number | undefined {
  if (attempt + 1 >= maxAttempts) return undefined;
  const pause = FIRST_PAUSE_MS * 2 ** attempt;
  return endsAt === undefined || Date.now() + pause + LEAST_LEFT_MS <= endsAt ? pause : undefined;
}
