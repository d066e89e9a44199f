/**
 * Security Event Token (RFC 8417) verification with `jose`: the signature against the
 * transmitter's JWKS (given as keys, or a URL fetched and cached: `remoteKeys`), `iss`,
 * `aud`, `iat` within the allowed skew and age, a `jti`, and an `events` claim. Each failure is a
 * SignalError whose `err` is the RFC 8935 error code the push receiver answers with.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import { type ErrorCode, isLatchError, LatchError } from "../core/index.js";

/** RFC 8935 §2.4 error codes. */
export type SetErrorCode =
  | "invalid_request"
  | "invalid_key"
  | "invalid_issuer"
  | "invalid_audience"
  | "authentication_failed"
  | "access_denied";

const ERR_OF: Readonly<Record<string, SetErrorCode>> = {
  "signal/invalid-request": "invalid_request",
  "signal/replayed": "invalid_request",
  "signal/invalid-key": "invalid_key",
  "signal/invalid-issuer": "invalid_issuer",
  "signal/invalid-audience": "invalid_audience",
  "signal/authentication-failed": "authentication_failed",
};

/** The RFC 8935 `err` for a failure of `receive` (invalid_request for any code it does not name). */
export function setErrorCode(error: unknown): SetErrorCode {
  return error instanceof LatchError ? (ERR_OF[error.code] ?? "invalid_request") : "invalid_request";
}

export function signalError(
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): LatchError {
  return new LatchError(
    code,
    code === "signal/replayed" ? "already-exists" : "invalid-argument",
    message,
    details,
  );
}

export interface SetVerifierOptions {
  /** The transmitter's keys, or the URL of its JWKS (fetched on first use, cached, refetched on an unknown `kid`). */
  readonly jwks: JSONWebKeySet | URL;
  /** The transmitter's `iss`. */
  readonly issuer: string;
  /** This receiver's name: the SET's `aud` must contain it. */
  readonly audience: string;
  /** Seconds a SET's `iat` may be in the future (clock skew; default 60). */
  readonly clockSkewSeconds?: number;
  /** Seconds a SET's `iat` may be in the past (default 600: a late retry is refused, not replayed). */
  readonly maxAgeSeconds?: number;
  /** How long a fetched JWKS is used before it is fetched again (ms; default 10 min). */
  readonly jwksCacheMs?: number;
  /**
   * After a failed JWKS fetch, how long SETs are answered 503 without fetching again (ms; default
   * 5 s): unauthenticated senders must not be able to make Latch fetch the URL for every SET.
   */
  readonly jwksRetryMs?: number;
  /** For tests: the time (ms since the epoch). */
  readonly now?: () => number;
}

/** A verified SET's claims Latch uses. */
export interface VerifiedSet {
  readonly issuer: string;
  readonly jti: string;
  readonly iat: number;
  /** SSF 1.0's top-level subject identifier, when present. */
  readonly subId?: unknown;
  /** Event type URI -> event payload. */
  readonly events: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly payload: JWTPayload;
}

export type SetVerifier = (token: string) => Promise<VerifiedSet>;

/** Most bytes of a SET Latch reads (a SET is a few hundred bytes; 64 KiB is generous). */
export const MAX_SET_BYTES = 64 * 1024;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function createSetVerifier(options: SetVerifierOptions): SetVerifier {
  if (options.issuer === "" || options.audience === "")
    throw new LatchError(
      "signal/not-configured",
      "failed-precondition",
      "signals need the transmitter's issuer and this receiver's audience (--ssf-issuer, --ssf-audience)",
    );
  const now = options.now ?? Date.now;
  const keys =
    options.jwks instanceof URL ? remoteKeys(options.jwks, options, now) : createLocalJWKSet(options.jwks);
  const skew = options.clockSkewSeconds ?? 60;
  const maxAge = options.maxAgeSeconds ?? 600;

  return async (token) => {
    const text = token.trim();
    if (text.length > MAX_SET_BYTES)
      throw signalError(
        "signal/invalid-request",
        `the SET is ${text.length} bytes, more than ${MAX_SET_BYTES}`,
      );
    if (!JWT_SHAPE.test(text))
      throw signalError(
        "signal/invalid-request",
        "the body is not a signed JWT (three base64url parts separated by dots); send the SET as the request body with Content-Type application/secevent+jwt",
      );
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(text);
    } catch {
      throw signalError("signal/invalid-request", "the SET's header is not base64url JSON");
    }
    if (header.alg === undefined || header.alg === "none")
      throw signalError(
        "signal/invalid-key",
        "the SET is unsigned (alg none): only signed SETs are accepted",
      );
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(text, keys, {
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: skew,
        currentDate: new Date(now()),
        requiredClaims: ["iat", "jti"],
      }));
    } catch (error) {
      throw fromJose(error, options);
    }
    return checkClaims(payload, now() / 1000, skew, maxAge);
  };
}

/** How long an unknown `kid` does not cause a refetch after the last one (jose's default). */
const KID_REFETCH_COOLDOWN_MS = 30_000;

function keysUnavailable(reason: string): LatchError {
  return new LatchError(
    "signal/keys-unavailable",
    "unavailable",
    `the transmitter's keys could not be read: ${reason}; nothing was applied, retry the SET`,
  );
}

/**
 * The keys of a JWKS URL. jose's remote key set fetches (one fetch at a time, its timeout, no
 * redirects); the cache, the refetch on an unknown `kid` and the back-off are kept here so that
 * every failure to obtain the JWKS (unreachable, an HTTP error or redirect, a body that is not a
 * JWKS) is told apart from a verdict on the SET: the former is ours and the transmitter must retry
 * (503), the latter is final (400). jose throws a plain JOSEError for an HTTP error status, which
 * could not be told from a malformed SET after the fact.
 */
function remoteKeys(url: URL, options: SetVerifierOptions, now: () => number): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url);
  const cacheMs = options.jwksCacheMs ?? 600_000;
  const retryMs = options.jwksRetryMs ?? 5_000;
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let failedAt = Number.NEGATIVE_INFINITY;
  let failure = "";

  const refresh = async (): Promise<void> => {
    const since = now() - failedAt;
    if (since < retryMs)
      throw keysUnavailable(
        `fetching ${url.href} failed ${Math.round(since / 1000)} s ago (${failure}); it is fetched again ${Math.ceil((retryMs - since) / 1000)} s after that failure`,
      );
    try {
      await remote.reload();
      const jwks = remote.jwks();
      if (jwks === undefined) throw new Error("no JSON Web Key Set was read");
      local = createLocalJWKSet(jwks);
      fetchedAt = now();
    } catch (error) {
      failedAt = now();
      failure = (error instanceof Error ? error.message : String(error)).slice(0, 200);
      throw keysUnavailable(`fetching ${url.href} failed: ${failure}`);
    }
  };

  return async (header, token) => {
    if (local === undefined || now() - fetchedAt >= cacheMs) await refresh();
    try {
      return await local!(header, token);
    } catch (error) {
      // An unknown kid may be a key the transmitter rotated in: fetch again, but not for every
      // forged SET.
      if (error instanceof joseErrors.JWKSNoMatchingKey && now() - fetchedAt >= KID_REFETCH_COOLDOWN_MS) {
        await refresh();
        return local!(header, token);
      }
      throw error;
    }
  };
}

function fromJose(error: unknown, options: SetVerifierOptions): LatchError {
  // Raised by remoteKeys: the keys could not be read, already the error to answer with.
  if (isLatchError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JOSEAlgNotAllowed)
    return signalError(
      "signal/invalid-key",
      `no key of the transmitter's JWKS verifies this SET: ${message}`,
    );
  if (error instanceof joseErrors.JOSENotSupported)
    return signalError("signal/invalid-key", `the transmitter's keys cannot be used: ${message}`);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return signalError(
      "signal/authentication-failed",
      "the SET's signature does not verify with the transmitter's key",
    );
  if (error instanceof joseErrors.JWTExpired)
    return signalError("signal/invalid-request", `the SET has expired: ${message}`);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === "iss")
      return signalError(
        "signal/invalid-issuer",
        `the SET's iss is not the configured transmitter ${options.issuer}`,
        {
          expected: options.issuer,
        },
      );
    if (error.claim === "aud")
      return signalError(
        "signal/invalid-audience",
        `the SET's aud does not name this receiver (${options.audience})`,
        {
          expected: options.audience,
        },
      );
    return signalError(
      "signal/invalid-request",
      `the SET's ${error.claim} claim is not acceptable: ${message}`,
    );
  }
  // Not jose's verdict on the SET (a failure inside the runtime, or a fetch jose timed out): ours,
  // so the sender retries.
  if (!(error instanceof joseErrors.JOSEError) || error instanceof joseErrors.JWKSTimeout)
    return new LatchError(
      "signal/keys-unavailable",
      "unavailable",
      `the transmitter's keys could not be read: ${message}; nothing was applied, retry the SET`,
    );
  if (error instanceof joseErrors.JWKSInvalid || error instanceof joseErrors.JWKInvalid)
    return signalError("signal/invalid-key", `the transmitter's JWKS is not usable: ${message}`);
  return signalError("signal/invalid-request", `the SET is malformed: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkClaims(payload: JWTPayload, nowSeconds: number, skew: number, maxAge: number): VerifiedSet {
  const { iat, jti, events } = payload;
  if (typeof iat !== "number") throw signalError("signal/invalid-request", "the SET has no numeric iat");
  if (iat > nowSeconds + skew)
    throw signalError(
      "signal/invalid-request",
      `the SET's iat is ${Math.round(iat - nowSeconds)} s in the future (allowed skew ${skew} s)`,
    );
  if (iat < nowSeconds - maxAge)
    throw signalError(
      "signal/invalid-request",
      `the SET was issued ${Math.round(nowSeconds - iat)} s ago, more than the ${maxAge} s accepted`,
    );
  if (typeof jti !== "string" || jti === "" || jti.length > 256)
    throw signalError(
      "signal/invalid-request",
      "the SET's jti must be a non-empty string of at most 256 characters",
    );
  if (!isObject(events) || Object.keys(events).length === 0)
    throw signalError(
      "signal/invalid-request",
      "the SET has no events claim (an object of event type URI -> payload)",
    );
  for (const [type, event] of Object.entries(events)) {
    if (!isObject(event))
      throw signalError("signal/invalid-request", `the event ${type} is not a JSON object`, { event: type });
  }
  return {
    issuer: String(payload.iss),
    jti,
    iat,
    ...(payload.sub_id === undefined ? {} : { subId: payload.sub_id }),
    events: events as VerifiedSet["events"],
    payload,
  };
}
