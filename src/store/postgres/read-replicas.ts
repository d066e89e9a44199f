/**
 * Read replicas: PostgreSQL hot standbys (streaming replication) that take reads off the primary.
 *
 * Why a standby may answer a read at revision R: rows are versioned (created_rev, deleted_rev), so
 * a read at R sees the same rows on any copy that has replayed R's commit; and revisions commit in
 * order (the revision row lock serializes writers), so a standby whose `revision_counter` row says
 * R or more has replayed every write up to R. That row is the cheap check: each replica's value is
 * kept (a lower bound, since replay only moves forward) and refreshed in the background when a read
 * finds it behind, at most once per `refreshMs`, and by a periodic probe that also finds lost and
 * recovered standbys. A read is never delayed by that check: a replica not known to hold R is
 * skipped, and the primary answers.
 *
 * Writes, revision allocation, the current revision, the changes feed and LISTEN stay on the
 * primary. A read that fails on a replica is answered by the next one or the primary, so losing a
 * standby loses no answer; a connection failure also marks it down until a probe reaches it again.
 */
import type pg from "pg";
import type { Revision } from "../../core/index.js";
import type { ReadReplicaStatus } from "../index.js";
import { createPool, isConnectionFailure, type PoolOptions, withClient } from "./connection.js";

export interface ReadReplicaOptions {
  /** `postgres://` URLs of hot standbys of the primary. */
  readonly urls: readonly string[];
  /** Quoted PG schema name holding Latch's tables (the same on every copy). */
  readonly q: string;
  /** The store id the primary holds: a replica holding another is refused. */
  readonly storeId: string;
  readonly pool?: PoolOptions;
  /** Least time between two background refreshes of one replica's revision (default 20 ms). */
  readonly refreshMs?: number;
  /** How often each replica is probed, for its revision and whether it is there (default 1000 ms). */
  readonly probeMs?: number;
}

/** Where reads at a revision run: a replica that holds it, else the primary. */
export interface ReadRouter {
  run<T>(revision: Revision, work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  statuses(): readonly ReadReplicaStatus[];
  /** Probes every replica now (tests, and the first probe at open); resolves when all answered. */
  probe(): Promise<void>;
  close(): Promise<void>;
}

/** `host:port/database` of a URL: what logs and metrics may show (no user, no password). */
export function replicaName(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname === "" ? "/" : parsed.pathname}`;
  } catch {
    return "(unparsable URL)";
  }
}

class Replica {
  state: ReadReplicaStatus["state"] = "down";
  revision: Revision | undefined;
  reads = 0;
  failures = 0;
  error: string | undefined = "not probed yet";
  private refreshing: Promise<void> | undefined;
  private refreshedAt = 0;
  private verified = false;

  constructor(
    readonly name: string,
    readonly pool: pg.Pool,
    private readonly options: ReadReplicaOptions,
  ) {}

  /** True when a read at `revision` may run here now. */
  holds(revision: Revision): boolean {
    return this.state === "up" && this.revision !== undefined && this.revision >= revision;
  }

  /**
   * A refresh of the revision in the background, unless one ran in the last `refreshMs`. Only for
   * a replica that is up: one that is down or mismatched waits for the periodic probe, so reads do
   * not turn into connection attempts against a standby that is gone.
   */
  refreshSoon(): void {
    if (this.state !== "up" || Date.now() - this.refreshedAt < (this.options.refreshMs ?? 20)) return;
    void this.refresh();
  }

  refresh(): Promise<void> {
    this.refreshedAt = Date.now();
    this.refreshing ??= this.ask().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async ask(): Promise<void> {
    const { q, storeId } = this.options;
    try {
      const revision = await withClient(
        this.pool,
        async (client) => {
          if (!this.verified) {
            const row = await client.query<{ value: string }>(
              `SELECT value FROM ${q}.metadata WHERE key = 'store_id'`,
            );
            const found = row.rows[0]?.value;
            if (found !== storeId) {
              throw new MismatchedReplica(
                `it holds store ${found ?? "(none)"}, not ${storeId}: point it at a standby of the primary`,
              );
            }
            this.verified = true;
          }
          const rows = await client.query<[string]>({
            text: `SELECT revision FROM ${q}.revision_counter`,
            rowMode: "array",
          });
          return BigInt(rows.rows[0]?.[0] ?? "0");
        },
        false,
      );
      // Replay only moves forward; an older answer (a probe overtaken by a refresh) changes nothing.
      if (this.revision === undefined || revision > this.revision) this.revision = revision;
      this.state = "up";
      this.error = undefined;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      this.state = cause instanceof MismatchedReplica ? "mismatched" : "down";
      this.error = messageOf(error);
    }
  }

  failed(error: unknown): void {
    this.failures++;
    if (isConnectionFailure(error)) {
      this.state = "down";
      this.error = messageOf(error);
    }
  }

  status(): ReadReplicaStatus {
    return {
      name: this.name,
      state: this.state,
      revision: this.revision,
      reads: this.reads,
      failures: this.failures,
      ...(this.error === undefined ? {} : { error: this.error }),
    };
  }
}

class MismatchedReplica extends Error {}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A standby that goes silent must cost a read little, since the primary can answer it: shorter
 * connect and round-trip limits than the primary's defaults, unless the pool settings give them.
 */
const REPLICA_CONNECT_TIMEOUT_MS = 1_000;
const REPLICA_QUERY_TIMEOUT_MS = 5_000;

export function createReadRouter(primary: pg.Pool, options: ReadReplicaOptions): ReadRouter {
  const pool = options.pool;
  const replicas = options.urls.map(
    (url) =>
      new Replica(
        replicaName(url),
        createPool(url, {
          ...pool,
          connectionTimeoutMillis: pool?.connectionTimeoutMillis ?? REPLICA_CONNECT_TIMEOUT_MS,
          queryTimeoutMillis: pool?.queryTimeoutMillis ?? REPLICA_QUERY_TIMEOUT_MS,
          applicationName: `${pool?.applicationName ?? "latch"}-replica`,
        }),
        options,
      ),
  );
  const probe = () => Promise.all(replicas.map((r) => r.refresh())).then(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = () => {
    if (closed || replicas.length === 0) return;
    timer = setTimeout(() => void probe().finally(schedule), options.probeMs ?? 1_000);
    // Probing alone must not keep a process alive.
    timer.unref();
  };
  schedule();
  let next = 0;

  return {
    async run(revision, work) {
      // Round robin over the replicas that hold the revision; the primary when none does or all fail.
      const start = next++;
      for (let i = 0; i < replicas.length; i++) {
        const replica = replicas[(start + i) % replicas.length]!;
        if (!replica.holds(revision)) {
          replica.refreshSoon();
          continue;
        }
        try {
          const result = await withClient(replica.pool, work, false);
          replica.reads++;
          return result;
        } catch (error) {
          // Whatever the failure (lost standby, a query cancelled by replay, a copy behind after
          // all), the primary's answer is the one that counts.
          replica.failed(error);
        }
      }
      return withClient(primary, work, true);
    },
    statuses: () => replicas.map((r) => r.status()),
    probe,
    async close() {
      closed = true;
      clearTimeout(timer);
      await Promise.all(replicas.map((r) => r.pool.end().catch(() => undefined)));
    },
  };
}
