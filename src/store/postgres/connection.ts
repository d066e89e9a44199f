/**
 * The connection pool and the mapping of driver failures to store errors. A database that cannot
 * be reached is `unavailable` (the server answers UNAVAILABLE and reports NOT_SERVING); nothing
 * waits past a deadline: connecting, each statement (server side) and each query round trip
 * (client side) are bounded.
 */
import pg from "pg";
import { isLatchError, type LatchError } from "../../core/index.js";
import { StoreError } from "../errors.js";

export interface PoolOptions {
  /** Most connections this replica opens (default 10). */
  readonly max?: number;
  /** Close connections idle this long (default 30 s). */
  readonly idleTimeoutMillis?: number;
  /** Give up opening a connection after this long (default 5 s). */
  readonly connectionTimeoutMillis?: number;
  /** Server-side statement limit (default 30 s). */
  readonly statementTimeoutMillis?: number;
  /** Client-side round-trip limit; catches a silent network (default statement timeout + 5 s). */
  readonly queryTimeoutMillis?: number;
  /** `application_name` of the connections (default `latch`): what operators see in pg_stat_activity. */
  readonly applicationName?: string;
}

export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const statementTimeout = options.statementTimeoutMillis ?? 30_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    statement_timeout: statementTimeout,
    // A transaction left open by a crashed caller must not hold the revision lock forever.
    idle_in_transaction_session_timeout: statementTimeout * 2,
    query_timeout: options.queryTimeoutMillis ?? statementTimeout + 5_000,
    application_name: options.applicationName ?? "latch",
    keepAlive: true,
  });
  // Idle clients whose backend went away emit here; without a listener the process would crash.
  // The pool drops them by itself, the next checkout opens a fresh connection.
  pool.on("error", () => undefined);
  return pool;
}

/** SQLSTATE classes and codes that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown (also pg_terminate_backend)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "53100", // disk_full
  "58000", // system_error
]);

const UNAVAILABLE_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

const UNAVAILABLE_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Query read timeout",
  "Client has encountered a connection error",
  "Client was closed and is not queryable",
  "Cannot use a pool after calling end",
  "the database system is",
];

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** True when the failure says nothing about the request, only about reaching the database. */
export function isConnectionFailure(error: unknown): boolean {
  if (isLatchError(error)) return error.code === "store/unavailable";
  const code = sqlState(error);
  if (code !== undefined) {
    if (code.startsWith("08") || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))
      return true;
  }
  const message = error instanceof Error ? error.message : String(error);
  return UNAVAILABLE_MESSAGES.some((m) => message.includes(m));
}

/** Turns a driver failure into a LatchError; LatchErrors pass through unchanged. */
export function toStoreError(error: unknown): LatchError {
  if (isLatchError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isConnectionFailure(error)) {
    return new StoreError(
      "store/unavailable",
      "unavailable",
      `PostgreSQL is unavailable: ${message}`,
      {},
      { cause: error },
    );
  }
  const code = sqlState(error);
  if (code === "57014") {
    return new StoreError(
      "store/deadline-exceeded",
      "deadline-exceeded",
      `PostgreSQL statement timed out: ${message}`,
      {},
      { cause: error },
    );
  }
  if (code === "40001" || code === "40P01" || code === "55P03") {
    return new StoreError(
      "store/conflict",
      "unavailable",
      `PostgreSQL transaction conflict, retry: ${message}`,
      {},
      { cause: error },
    );
  }
  // A NUL in text (22021), or jsonb refusing \u0000 (22P05): the caller's input, on a path no
  // check of its own caught; SQLite keeps such text, PostgreSQL cannot. (A lone surrogate never
  // gets here: the driver's UTF-8 encoding turns it into U+FFFD in text, and the stored JSON
  // values that could hold one are checked before any write.)
  if (code === "22021" || code === "22P05") {
    return new StoreError(
      "store/unstorable-text",
      "invalid-argument",
      `PostgreSQL cannot store the text given (${message}); remove U+0000 from it`,
      { sqlState: code },
      { cause: error },
    );
  }
  return new StoreError(
    "store/internal",
    "internal",
    `PostgreSQL error: ${message}`,
    { sqlState: code },
    { cause: error },
  );
}

/**
 * Runs `work` on a pooled client. A client whose connection failed is destroyed rather than
 * returned to the pool. Work that is safe to repeat (`retry: true`: reads, and writes that failed
 * before COMMIT was sent) gets one more attempt on a fresh connection, which hides the common
 * case of a pooled connection that died while idle.
 */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  retry: boolean,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    // A checked-out client whose connection dies between queries emits "error"; unheard, that
    // would crash the process. The failure also surfaces through the next query.
    let lost: unknown;
    const onError = (error: unknown) => {
      lost = error;
    };
    client.on("error", onError);
    try {
      const result = await work(client);
      client.off("error", onError);
      client.release(lost === undefined ? undefined : asError(lost));
      return result;
    } catch (error) {
      client.off("error", onError);
      const cause = error instanceof NotRetryable ? error.cause : error;
      const broken = isConnectionFailure(cause) || lost !== undefined;
      client.release(broken ? asError(cause) : undefined);
      if (broken && retry && attempt === 0 && !(error instanceof NotRetryable)) continue;
      throw toStoreError(cause);
    }
  }
}

/** Wraps a failure that must not be retried (COMMIT was sent: the outcome is unknown). */
export class NotRetryable extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
