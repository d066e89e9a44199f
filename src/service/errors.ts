/** Errors the service raises itself for malformed requests, before anything reaches the engine. */
import { LatchError } from "../core/index.js";

export class RequestError extends LatchError {
  override readonly name = "RequestError";
}

export function invalidArgument(
  field: string,
  reason: string,
  details: Record<string, unknown> = {},
): RequestError {
  return new RequestError("request/invalid-argument", "invalid-argument", `${field}: ${reason}`, {
    field,
    reason,
    ...details,
  });
}

/** An import stream past `limit` relationships (held in memory until its one transaction commits). */
export function importTooLarge(limit: number): RequestError {
  return new RequestError(
    "request/over-limit",
    "resource-exhausted",
    `an import stream may hold at most ${limit} relationships (one transaction, held in memory until it commits); nothing was written. Split the load into several imports.`,
    { field: "relationships", limit },
  );
}

export function overLimit(field: string, limit: number, got: number): RequestError {
  return new RequestError(
    "request/over-limit",
    "resource-exhausted",
    `${field}: ${got} items is over the limit of ${limit}`,
    { field, limit, got },
  );
}
