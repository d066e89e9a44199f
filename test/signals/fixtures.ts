/** A test transmitter (keys, SETs) and the signal rules the tests use over schemas/rag.zed. */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload, SignJWT } from "jose";
import { EVENT_TYPES } from "../../src/signals/index.js";

export const ISSUER = "https://idp.example.com";
export const AUDIENCE = "https://latch.example.com/ssf";

/** rag.zed with a caveat that reads signal attributes (`risk`, `assurance_level`). */
export const SCHEMA = `${readFileSync(new URL("../../schemas/rag.zed", import.meta.url), "utf8")}
caveat risk_ok(risk int, assurance_level int) {
  risk < 3 && assurance_level >= 2
}

definition vault {
  relation reader: user with risk_ok | agent with risk_ok
  permission read = reader
}
`;

export const RULES = `
subjects:
  - { format: iss_sub, iss: "${ISSUER}", as: "user:{sub}" }
  - { format: opaque, as: "agent:{id}" }
  - { format: email, map: { "alice@example.com": "user:alice" } }
events:
  "${EVENT_TYPES.accountDisabled}": suspend
  "${EVENT_TYPES.accountEnabled}": resume
  "${EVENT_TYPES.assuranceLevelChange}":
    set-attributes: { assurance_level: current_level }
  "${EVENT_TYPES.tokenClaimsChange}":
    set-attributes: { risk: claims.risk }
  "${EVENT_TYPES.accountPurged}":
    - suspend
    - revoke-delegations: { relations: [delegate, scoped_delegate] }
    - delete-relationships: { resource_type: document }
`;

export interface Transmitter {
  readonly jwks: JSONWebKeySet;
  /** Signs a SET; `claims` override the defaults (iss, aud, iat, jti). */
  sign(
    events: Record<string, Record<string, unknown>>,
    claims?: JWTPayload & { subId?: unknown },
  ): Promise<string>;
}

export async function createTransmitter(kid = "t1"): Promise<Transmitter> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return {
    jwks: { keys: [jwk] },
    async sign(events, claims = {}) {
      const { subId, ...rest } = claims;
      return new SignJWT({
        iss: ISSUER,
        aud: AUDIENCE,
        iat: Math.floor(Date.now() / 1000),
        jti: randomUUID(),
        events,
        ...(subId === undefined ? {} : { sub_id: subId }),
        ...rest,
      } as JWTPayload)
        .setProtectedHeader({ alg: "ES256", kid, typ: "secevent+jwt" })
        .sign(privateKey);
    },
  };
}

export const alice = { format: "iss_sub", iss: ISSUER, sub: "alice" };
