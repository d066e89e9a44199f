/** Pre-shared bearer tokens, compared in constant time. */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import { LatchError } from "../core/index.js";

export interface Authenticator {
  /** Throws an `unauthenticated` LatchError unless the metadata carries a configured token. */
  authenticate(metadata: Metadata): void;
  /**
   * The name of the token the metadata carries (after `authenticate` accepted it), for the audit
   * trail; undefined when no token is configured or the metadata carries none that is.
   */
  callerOf(metadata: Metadata): string | undefined;
  readonly enabled: boolean;
}

/** A token with its name: the name goes into logs and audit records, the secret never. */
export interface NamedToken {
  readonly name: string;
  readonly secret: string;
}

const TOKEN_NAME = /^[A-Za-z0-9][\w.:-]{0,63}$/;

/**
 * `name=secret`, or a bare secret, named `token-N` after its position (from 1). The text is split
 * at its first `=` only when what comes before is a name (letters, digits, `_ . : -`, at most 64)
 * and what comes after is not only `=`s: so a base64 secret ending in `==` stays one bare secret.
 * A secret holding `=` elsewhere can always be given as `name=secret` (the secret is everything
 * after the first `=`).
 */
export function parseToken(spec: string | NamedToken, position: number): NamedToken {
  if (typeof spec !== "string") return spec;
  const eq = spec.indexOf("=");
  if (eq > 0) {
    const name = spec.slice(0, eq);
    const secret = spec.slice(eq + 1);
    if (TOKEN_NAME.test(name) && /[^=]/.test(secret)) return { name, secret };
  }
  return { name: `token-${position}`, secret: spec };
}

export function parseTokens(specs: readonly (string | NamedToken)[]): NamedToken[] {
  return specs.map((spec, i) => parseToken(spec, i + 1));
}

function digest(text: string): Buffer {
  // Hashing first gives equal lengths, which timingSafeEqual needs, and hides the token length.
  return createHash("sha256").update(text, "utf8").digest();
}

const BEARER = /^Bearer\s+(.+)$/i;

/**
 * The name `authenticate` found, kept on the call's metadata: `callerOf` (asked by every audit
 * record) reads it back instead of finding the header and hashing its fresh text into the map
 * again (a visible share of a recorded cached check's capture in a server profile). grpc-js hands
 * its interceptor and the handler the same Metadata object; were they ever two, `callerOf` finds
 * the name from the header as before. A symbol cannot come from the wire.
 */
const CALLER = Symbol("latch.caller");
type Marked = Metadata & { [CALLER]?: string };

/**
 * Header values already accepted. A client sends the same header on every call, and hashing it
 * each time was a visible share of a cached check. Only accepted values are kept, so a caller
 * without a token cannot fill the map, and a wrong token always takes the constant-time path.
 */
const MAX_ACCEPTED = 64;

export function createAuthenticator(tokens: readonly (string | NamedToken)[]): Authenticator {
  const named = parseTokens(tokens).filter((t) => t.secret.length > 0);
  const digests = named.map((t) => digest(t.secret));
  if (digests.length === 0) {
    return { enabled: false, authenticate: () => {}, callerOf: () => undefined };
  }
  // Accepted header text -> the token's name.
  const accepted = new Map<string, string>();
  const headerOf = (metadata: Metadata): string | undefined => {
    const header = metadata.get("authorization")[0];
    if (header === undefined) return undefined;
    return typeof header === "string" ? header : header.toString("utf8");
  };
  /** The name of the token the header holds, or undefined; constant time over the tokens. */
  const match = (text: string): string | undefined => {
    const bearer = BEARER.exec(text);
    if (bearer === null) return undefined;
    const presented = digest(bearer[1]!.trim());
    let found: string | undefined;
    // Compare against every token, without stopping early, so timing says nothing about which.
    for (let i = 0; i < digests.length; i++) {
      if (timingSafeEqual(presented, digests[i]!) && found === undefined) found = named[i]!.name;
    }
    return found;
  };
  return {
    enabled: true,
    callerOf(metadata) {
      const marked = (metadata as Marked)[CALLER];
      if (marked !== undefined) return marked;
      const text = headerOf(metadata);
      if (text === undefined) return undefined;
      return accepted.get(text) ?? match(text);
    },
    authenticate(metadata) {
      const text = headerOf(metadata);
      if (text === undefined) {
        throw new LatchError(
          "auth/missing-token",
          "unauthenticated",
          "missing 'authorization: Bearer <token>'",
        );
      }
      const known = accepted.get(text);
      if (known !== undefined) {
        (metadata as Marked)[CALLER] = known;
        return;
      }
      if (!BEARER.test(text)) {
        throw new LatchError("auth/malformed", "unauthenticated", "authorization must be 'Bearer <token>'");
      }
      const name = match(text);
      if (name === undefined) throw new LatchError("auth/invalid-token", "unauthenticated", "invalid token");
      // Spellings of a valid header (spaces, case of "Bearer") are few in practice but unbounded.
      if (accepted.size >= MAX_ACCEPTED) accepted.clear();
      accepted.set(text, name);
      (metadata as Marked)[CALLER] = name;
    },
  };
}
