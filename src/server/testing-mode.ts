/**
 * `latch serve --testing`: every distinct bearer token gets its own empty in-memory store, as
 * `spicedb serve-testing` does, so that a client library's integration tests can run side by side
 * against one server, each test with a fresh token and so a fresh store. Any token is accepted (a
 * call without one gets the store of the empty token): this mode is for tests only, never a default.
 *
 * How: the services served are routers. Each call's token picks its backend from a bounded pool
 * (tenant-pool.ts), and with it the handlers built over that backend, the same handlers the normal
 * mode serves; the call is then handed to them whole. Nothing below the server knows of tokens.
 */
import { createHash } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { Authenticator } from "./auth.js";
import type { CallContext } from "./grpc-adapter.js";
import type { Backend, ServedService, ServiceShape } from "./services.js";
import { createTenantPool, type TenantPool } from "./tenant-pool.js";

/** What the server gets for a token in testing mode: a backend and how to close it. */
export interface TestingBackend extends Backend {
  close(): Promise<void>;
}

export interface TestingOptions {
  /** Opens a new, empty backend (e.g. `openLatch({ database: ":memory:" })`). */
  readonly open: () => Promise<TestingBackend>;
  /** Most stores open at once (default 256); past it the least recently used idle one is closed. */
  readonly maxStores?: number;
  /** Called when a token's store was closed to make room: that token starts empty next time. */
  readonly onEvict?: (caller: string) => void;
}

export const DEFAULT_TESTING_MAX_STORES = 256;

const BEARER = /^Bearer\s+(.+)$/i;

/** The token a call carries (`authorization: Bearer <token>`), or "" when it carries none. */
export function tokenOf(metadata: Metadata): string {
  const header = metadata.get("authorization")[0];
  if (header === undefined) return "";
  const text = typeof header === "string" ? header : header.toString("utf8");
  return BEARER.exec(text)?.[1]?.trim() ?? text.trim();
}

/** The name logs and audit records give a token's caller: never the token itself. */
export function testingCallerName(token: string): string {
  return `testing-${createHash("sha256").update(token, "utf8").digest("hex").slice(0, 12)}`;
}

/** Accepts every call; names the caller after (a hash of) its token. */
export function testingAuthenticator(): Authenticator {
  return {
    enabled: false,
    authenticate: () => {},
    callerOf: (metadata) => testingCallerName(tokenOf(metadata)),
  };
}

interface Tenant {
  readonly backend: TestingBackend;
  /** The handlers over this tenant's backend, by service type name. */
  readonly services: ReadonlyMap<string, ServedService>;
  close(): Promise<void>;
}

type AnyHandler = (request: unknown, ctx: CallContext) => unknown;

export interface TestingServices {
  /** Routers with the services' descriptors, for the transports to serve. */
  readonly services: ServedService[];
  readonly pool: TenantPool<Tenant>;
}

/**
 * Routers for `shapes` whose every call runs on the backend of its token. `build` makes the
 * handlers over one backend (the normal mode's function, giving at least the services of
 * `shapes`); it is called once per token, when the token is first seen.
 */
export function testingServices(
  options: TestingOptions,
  shapes: readonly ServiceShape[],
  build: (backend: Backend) => ServedService[],
): TestingServices {
  const pool = createTenantPool<Tenant>({
    max: options.maxStores ?? DEFAULT_TESTING_MAX_STORES,
    async open() {
      const backend = await options.open();
      try {
        const services = new Map(build(backend).map((s) => [s.service.typeName, s]));
        return { backend, services, close: () => backend.close() };
      } catch (error) {
        await backend.close();
        throw error;
      }
    },
    ...(options.onEvict === undefined
      ? {}
      : { onEvict: (token: string) => options.onEvict?.(testingCallerName(token)) }),
  });
  const handlerOf = (tenant: Tenant, service: string, method: string): AnyHandler => {
    const impl = tenant.services.get(service)?.impl as Record<string, AnyHandler> | undefined;
    const handler = impl?.[method];
    if (handler === undefined) throw new Error(`testing mode: no handler for ${service}/${method}`);
    return handler;
  };
  const services = shapes.map((s): ServedService => {
    const impl: Record<string, AnyHandler> = {};
    const type = s.service.typeName;
    for (const m of s.service.methods) {
      const name = m.localName;
      if (m.methodKind === "server_streaming") {
        impl[name] = async function* (request, ctx) {
          const lease = await pool.acquire(tokenOf(ctx.metadata));
          try {
            yield* handlerOf(lease.value, type, name)(request, ctx) as AsyncIterable<unknown>;
          } finally {
            lease.release();
          }
        };
      } else {
        // Unary and client streaming: one answer, awaited while the store is held.
        impl[name] = async (request, ctx) => {
          const lease = await pool.acquire(tokenOf(ctx.metadata));
          try {
            return await handlerOf(lease.value, type, name)(request, ctx);
          } finally {
            lease.release();
          }
        };
      }
    }
    return { ...s, impl: impl as ServedService["impl"] };
  });
  return { services, pool };
}
