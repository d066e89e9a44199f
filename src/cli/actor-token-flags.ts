/**
 * `--actor-token-jwks FILE --actor-token-issuer ISS --actor-token-audience AUD`, shared by
 * `latch serve` and the in-process commands (`--db`, `--datastore`): the three go together, and the
 * JWKS is read (and its shape checked) before anything is opened.
 */
import { readFileSync } from "node:fs";
import type { ActorTokenOptions } from "../service/index.js";
import type { SharedFlag } from "./audit-flags.js";

export const ACTOR_TOKEN_FLAGS: readonly SharedFlag[] = [
  {
    key: "actorTokenJwks",
    flags: "--actor-token-jwks <file>",
    env: "LATCH_ACTOR_TOKEN_JWKS",
    help: {
      serve:
        "JWKS file (every key with its alg) that verifies RFC 8693 actor tokens; needs --actor-token-issuer and --actor-token-audience",
      "in-process":
        "in process: JWKS file that verifies --actor-token (with --actor-token-issuer and --actor-token-audience)",
    },
  },
  {
    key: "actorTokenIssuer",
    flags: "--actor-token-issuer <iss>",
    env: "LATCH_ACTOR_TOKEN_ISSUER",
    help: {
      serve: "the iss every actor token must carry",
      "in-process": "in process: the iss every actor token must carry",
    },
  },
  {
    key: "actorTokenAudience",
    flags: "--actor-token-audience <aud>",
    env: "LATCH_ACTOR_TOKEN_AUDIENCE",
    help: {
      serve: "an aud every actor token must carry",
      "in-process": "in process: an aud every actor token must carry",
    },
  },
];

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
