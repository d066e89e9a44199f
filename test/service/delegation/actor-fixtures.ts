/**
 * What the actor-token tests share: a schema where a user delegates to an agent and both may view a
 * document, and a signing key with its JWKS (generated per test file, never stored).
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

export const AGENT_SCHEMA = `
definition agent {}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition document {
  relation viewer: user | agent
  permission view = viewer
}`;

export const ISSUER = "https://sts.example";
export const AUDIENCE = "latch";

export interface ActorKey {
  /** The public half, as `actorTokens.jwks` (or the `--actor-token-jwks` file) takes it. */
  readonly jwks: { keys: JWK[] };
  /** A token for ISSUER and AUDIENCE, valid 5 minutes unless `expiresAt` (seconds) says otherwise. */
  sign(claims: Record<string, unknown>, expiresAt?: number): Promise<string>;
}

export async function actorKey(alg: "ES256" | "RS256" = "ES256", kid?: string): Promise<ActorKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const header = kid === undefined ? { alg } : { alg, kid };
  return {
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), ...header }] },
    sign: (claims, expiresAt) =>
      new SignJWT(claims)
        .setProtectedHeader(header)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(expiresAt ?? "5m")
        .sign(pair.privateKey),
  };
}
