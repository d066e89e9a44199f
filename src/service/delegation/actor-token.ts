/**
 * Actor tokens: a verified on-behalf-of chain instead of a claimed one. A request may carry a JWT
 * shaped like an RFC 8693 token-exchange result (`sub` the person, `act.sub` the agent acting now,
 * nested `act` the prior actors); this decorator verifies it against a JWKS, an issuer and an
 * audience, then hands the next decider the request with the chain the token states. A decorator
 * just outside delegation, so delegation sees only verified chains; a request with no token goes
 * straight on.
 */
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import {
  formatSubjectRef,
  LatchError,
  parseSubjectRef,
  type SubjectRef,
  WILDCARD_ID,
} from "../../core/index.js";
import {
  type CheckBulkRequest,
  type CheckRequest,
  type LookupResourcesRequest,
  type RequestOptions,
  withLookupBatches,
} from "../../engine/index.js";
import { type Decider, type Decorator, lookupBatches, singleBatches } from "../decider.js";
import { parseScopeClaim } from "./actor-scope.js";
import { MAX_CHAIN } from "./chain.js";

export interface ActorTokenOptions {
  /** The keys actor tokens are signed with. Every key must name its `alg`: only those algorithms are accepted. */
  readonly jwks: JSONWebKeySet;
  /** The `iss` every token must carry. */
  readonly issuer: string;
  /** An `aud` every token must carry. */
  readonly audience: string;
  /** Seconds of clock skew allowed on `exp` and `nbf` (default 0). */
  readonly clockToleranceSeconds?: number;
}

/**
 * What a verified token states: the subject acting now, whom it acts for (nearest first), and the
 * permissions it is limited to when it carries `scope` (see actor-scope.ts).
 */
export interface ActorChain {
  readonly subject: SubjectRef;
  readonly onBehalfOf: readonly SubjectRef[];
  readonly scope?: readonly string[];
}

export type ActorTokenVerifier = (token: string) => Promise<ActorChain>;

function invalid(reason: string): LatchError {
  return new LatchError("delegation/invalid-actor-token", "unauthenticated", `actor token: ${reason}`, {
    field: "actor_token",
  });
}

/** A subject claim is a Latch subject ref naming one object (`user:alice`), nothing else. */
function subjectClaim(value: unknown, claim: string): SubjectRef {
  if (typeof value !== "string") throw invalid(`${claim} must be a string such as "user:alice"`);
  let ref: SubjectRef;
  try {
    ref = parseSubjectRef(value);
  } catch {
    throw invalid(`${claim} "${value}" is not a Latch subject such as "user:alice" or "agent:calendar-bot"`);
  }
  if (ref.relation !== undefined || ref.id === WILDCARD_ID)
    throw invalid(`${claim} "${value}" must name one object (user:alice), not a subject set or wildcard`);
  return ref;
}

/**
 * RFC 8693 §4.1: `sub` is the principal, `act` the current actor, an `act` inside `act` the actor
 * before it. So `act.sub` is the request's subject and the chain is the prior actors, innermost
 * last, then `sub`.
 */
export function chainOfClaims(payload: JWTPayload): ActorChain {
  const principal = subjectClaim(payload.sub, "sub");
  const actors: SubjectRef[] = [];
  let act: unknown = payload.act;
  let path = "act";
  if (act === undefined) throw invalid("no act claim: the token names no actor");
  while (act !== undefined) {
    if (typeof act !== "object" || act === null || Array.isArray(act))
      throw invalid(`${path} must be an object`);
    // The chain is the actors after the first, then `sub`: at most MAX_CHAIN actors in all, refused
    // before a deeper one is walked.
    if (actors.length >= MAX_CHAIN) throw invalid(`act nests deeper than a chain of ${MAX_CHAIN} allows`);
    actors.push(subjectClaim((act as { sub?: unknown }).sub, `${path}.sub`));
    act = (act as { act?: unknown }).act;
    path += ".act";
  }
  const [subject, ...prior] = actors;
  let scope: readonly string[] | undefined;
  try {
    scope = parseScopeClaim(payload.scope);
  } catch {
    throw invalid('scope must be a string of space-separated entries such as "read document#export"');
  }
  return { subject: subject!, onBehalfOf: [...prior, principal], ...(scope === undefined ? {} : { scope }) };
}

export function createActorTokenVerifier(options: ActorTokenOptions): ActorTokenVerifier {
  if (options.issuer === "" || options.audience === "")
    throw new Error(
      "actor tokens need an issuer and an audience (--actor-token-issuer, --actor-token-audience)",
    );
  const algorithms = [...new Set(options.jwks.keys.map((k) => k.alg))];
  if (options.jwks.keys.length === 0 || algorithms.some((a) => typeof a !== "string" || a === "none"))
    throw new Error("actor token JWKS: every key must name its alg (and none may be 'none')");
  // A shared secret or a private key in a file every replica reads is not a verifier's key: jose
  // would refuse every token signed with it, and the server would start broken.
  const unfit = options.jwks.keys.find(
    (k) => k.kty === "oct" || "d" in k || (typeof k.alg === "string" && k.alg.startsWith("HS")),
  );
  if (unfit !== undefined)
    throw new Error(
      `actor token JWKS: key ${unfit.kid === undefined ? "" : `"${unfit.kid}" `}is ${unfit.kty === "oct" || String(unfit.alg).startsWith("HS") ? "a symmetric (oct, HS*) key" : "a private key"}; list the issuer's public keys (RS*, PS*, ES*, EdDSA)`,
    );
  const keys = createLocalJWKSet(options.jwks);
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: algorithms as string[],
        requiredClaims: ["exp", "sub"],
        clockTolerance: options.clockToleranceSeconds ?? 0,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) throw invalid(`${error.message} (${error.code})`);
      throw invalid("malformed");
    }
    return chainOfClaims(payload);
  };
}

function same(a: SubjectRef, b: SubjectRef): boolean {
  return a.type === b.type && a.id === b.id && (a.relation ?? "...") === (b.relation ?? "...");
}

function mismatch(message: string, field: string): LatchError {
  return new LatchError("delegation/actor-token-mismatch", "permission-denied", message, { field });
}

/**
 * The request's own fields must agree with its token: the subject must be the token's actor, and an
 * on-behalf-of chain, when given, must be the token's chain exactly; an empty one is filled in.
 * The token's scope, if any, goes with the request to the scope gate.
 */
function bind<T extends { subject?: SubjectRef; onBehalfOf?: readonly SubjectRef[] }>(
  request: T,
  chain: ActorChain,
  prefix: string,
): T {
  if (request.subject !== undefined && !same(request.subject, chain.subject))
    throw mismatch(
      `${prefix}subject ${formatSubjectRef(request.subject)} is not the actor token's actor ${formatSubjectRef(chain.subject)}`,
      `${prefix}subject`,
    );
  const scoped = chain.scope === undefined ? request : { ...request, actorScope: chain.scope };
  const claimed = request.onBehalfOf ?? [];
  if (claimed.length === 0) return { ...scoped, onBehalfOf: chain.onBehalfOf };
  if (claimed.length !== chain.onBehalfOf.length || claimed.some((p, i) => !same(p, chain.onBehalfOf[i]!)))
    throw mismatch(
      `${prefix}on_behalf_of [${claimed.map(formatSubjectRef).join(", ")}] is not the actor token's chain [${chain.onBehalfOf.map(formatSubjectRef).join(", ")}]`,
      `${prefix}on_behalf_of`,
    );
  return scoped;
}

function notConfigured(): LatchError {
  return new LatchError(
    "delegation/actor-tokens-not-configured",
    "failed-precondition",
    "actor_token given, but this server verifies no actor tokens (start it with --actor-token-jwks)",
    { field: "actor_token" },
  );
}

/**
 * `verify` undefined: the server takes no actor tokens, and refuses a request that carries one.
 * A seam that verifies tokens also needs `createActorScopeGate()` further in (inside any audit
 * recorder): this decorator only passes a token's `scope` on; the gate enforces it. `openLatch`
 * installs both.
 */
export function createActorTokens(verify: ActorTokenVerifier | undefined): Decorator {
  const chainOf = async (token: string): Promise<ActorChain> => {
    if (verify === undefined) throw notConfigured();
    return verify(token);
  };
  return (next: Decider) => ({
    check: (request, opts) =>
      request.actorToken === undefined ? next.check(request, opts) : checkWithToken(next, request, opts),
    checkBulk: (request, opts) =>
      request.actorToken === undefined ? next.checkBulk(request, opts) : bulkWithToken(next, request, opts),
    // Chunks pass through (the permission watch asks for them) unless a token is to be verified.
    lookupResources: withLookupBatches(
      (request: LookupResourcesRequest, opts?: RequestOptions) =>
        request.actorToken === undefined
          ? next.lookupResources(request, opts)
          : lookupWithToken(next, request, opts),
      (request, opts) =>
        request.actorToken === undefined
          ? lookupBatches(next, request, opts)
          : singleBatches(lookupWithToken(next, request, opts)),
    ),
  });

  async function checkWithToken(next: Decider, request: CheckRequest, opts: Parameters<Decider["check"]>[1]) {
    const { actorToken, ...rest } = request;
    return next.check(bind(rest, await chainOf(actorToken!), ""), opts);
  }

  async function bulkWithToken(
    next: Decider,
    request: CheckBulkRequest,
    opts: Parameters<Decider["checkBulk"]>[1],
  ) {
    const { actorToken, ...rest } = request;
    const chain = await chainOf(actorToken!);
    return next.checkBulk(
      { ...rest, items: rest.items.map((item, i) => bind(item, chain, `items[${i}].`)) },
      opts,
    );
  }

  async function* lookupWithToken(
    next: Decider,
    request: LookupResourcesRequest,
    opts: Parameters<Decider["lookupResources"]>[1],
  ) {
    const { actorToken, ...rest } = request;
    yield* next.lookupResources(bind(rest, await chainOf(actorToken!), ""), opts);
  }
}
