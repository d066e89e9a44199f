/** Pre-shared bearer tokens, compared in constant time. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import { LatchError } from "../core/index.js";

export interface Authenticator {
  /** Throws an `unauthenticated` LatchError unless the metadata carries a configured token. */
  authenticate(metadata: Metadata): void;
  readonly enabled: boolean;
}

function digest(text: string): Buffer {
  // Hashing first gives equal lengths, which timingSafeEqual needs, and hides the token length.
  return createHash("sha256").update(text, "utf8").digest();
}

const BEARER = /^Bearer\s+(.+)$/i;

/**
 * Header values already accepted. A client sends the same header on every call, and hashing it
 * each time was a visible share of a cached check. Only accepted values are kept, so a caller
 * without a token cannot fill the map, and a wrong token always takes the constant-time path.
 */
const MAX_ACCEPTED = 64;

export function createAuthenticator(tokens: readonly string[]): Authenticator {
  const digests = tokens.filter((t) => t.length > 0).map(digest);
  if (digests.length === 0) {
    return { enabled: false, authenticate: () => {} };
  }
  const accepted = new Set<string>();
  return {
    enabled: true,
    authenticate(metadata) {
      const header = metadata.get("authorization")[0];
      if (header === undefined) {
        throw new LatchError(
          "auth/missing-token",
          "unauthenticated",
          "missing 'authorization: Bearer <token>'",
        );
      }
      const text = typeof header === "string" ? header : header.toString("utf8");
      if (accepted.has(text)) return;
      const match = BEARER.exec(text);
      if (match === null) {
        throw new LatchError("auth/malformed", "unauthenticated", "authorization must be 'Bearer <token>'");
      }
      const presented = digest(match[1]!.trim());
      let ok = false;
      // Compare against every token, without stopping early, so timing says nothing about which.
      for (const d of digests) ok = timingSafeEqual(presented, d) || ok;
      if (!ok) throw new LatchError("auth/invalid-token", "unauthenticated", "invalid token");
      // Spellings of a valid header (spaces, case of "Bearer") are few in practice but unbounded.
      if (accepted.size >= MAX_ACCEPTED) accepted.clear();
      accepted.add(text);
    },
  };
}
