/**
 * `--actor-token-jwks FILE --actor-token-issuer ISS --actor-token-audience AUD`, shared by
 * `latch serve` and the in-process commands (`--db`, `--datastore`): the three go together, and the
 * JWKS is read (and its shape checked) before anything is opened.
 */
import { readFileSync } from "node:fs";
import type { ActorTokenOptions } from "../service/index.js";

export interface ActorTokenFlags {
  readonly actorTokenJwks?: string | undefined;
  readonly actorTokenIssuer?: string | undefined;
  readonly actorTokenAudience?: string | undefined;
}

export function parseActorTokenFlags(
  flags: ActorTokenFlags,
  fail: (message: string) => Error,
): ActorTokenOptions | undefined {
  const { actorTokenJwks: jwks, actorTokenIssuer: issuer, actorTokenAudience: audience } = flags;
  if (jwks === undefined && issuer === undefined && audience === undefined) return undefined;
  if (jwks === undefined || issuer === undefined || audience === undefined)
    throw fail("--actor-token-jwks, --actor-token-issuer and --actor-token-audience go together");
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(jwks, "utf8"));
  } catch (error) {
    throw fail(`--actor-token-jwks ${jwks}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys))
    throw fail(`--actor-token-jwks ${jwks}: not a JWKS (an object with a "keys" array)`);
  return { jwks: parsed as ActorTokenOptions["jwks"], issuer, audience };
}
