/** The PostgreSQL store: several stateless Latch replicas on one database. */
import type pg from "pg";
import type { Revision } from "../../core/index.js";
import {
  cachedHorizon,
  checkFilter,
  checkMetadata,
  checkRetained,
  checkUpdates,
  createRevisionCodec,
  deleteOverLimit,
  lastReader,
  nonNegativeInt,
  positiveInt,
  registerDecisionLogOpener,
  type Store,
  StoreError,
} from "../index.js";
import { createPostgresApprovals } from "./approvals.js";
import { compactPostgres, readHorizon } from "./compaction.js";
import { createPool, type PoolOptions, toStoreError, withClient } from "./connection.js";
import { requireSchema, type StoreContext } from "./context.js";
import { createPostgresDecisionLog } from "./decisions.js";
import { importRelationships } from "./import.js";
import { createChangeListener } from "./listen.js";
import { applyMigrations, LATEST_VERSION } from "./migrations.js";
import { createPostgresPostureReports } from "./posture.js";
import {
  currentRevision,
  exportRelationships,
  lookupForward,
  lookupReverse,
  readClient,
  readRelationships,
} from "./read.js";
import { createReadRouter } from "./read-replicas.js";
import { changesSince, readSchema, sweepExpired, writeSchema } from "./schema-ops.js";
import { createPostgresSignals } from "./signals.js";
import {
  approvalsChannel,
  changesChannel,
  isPostgresUrl,
  isValidSchemaName,
  quoteIdent,
} from "./sql-names.js";
import { buildStatements } from "./statements.js";
import { writeTransaction } from "./transaction.js";
import { checkPreconditions, deleteMatching, writeUpdates } from "./write.js";

export interface PostgresStoreOptions {
  /** `postgres://user@host:5432/db` */
  readonly url: string;
  /** PG schema holding Latch's tables (default `public`). */
  readonly schema?: string;
  readonly pool?: PoolOptions;
  /** NOTIFY subscribers of each committed revision (default true). */
  readonly notify?: boolean;
  /** Apply pending migrations on open (default true); false refuses an unmigrated database. */
  readonly migrate?: boolean;
  /** How often `subscribe` (and the approvals feed) polls while LISTEN is down (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** While LISTEN is up, how often its connection is checked alive (default 5000 ms). */
  readonly heartbeatMs?: number;
  /** Clock for expiration, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Decision records between two signed checkpoints of the audit chain (default 100). */
  readonly decisionCheckpointEvery?: number;
  /**
   * `postgres://` URLs of hot standbys of this database (streaming replication): reads at a
   * revision a standby has replayed go there, the rest to the primary (see read-replicas.ts).
   */
  readonly readReplicas?: readonly string[];
  /** How often each read replica is probed for its revision and whether it is there (default 1000 ms). */
  readonly readReplicaProbeMs?: number;
}

/** The store plus the PostgreSQL-only parts. */
export interface PostgresStore extends Store {
  subscribe(listener: (revision: Revision) => void): () => void;
  /** The PG schema this store lives in. */
  readonly schemaName: string;
}

interface RemoteOptions {
  readonly url: string;
  readonly schema: string;
  readonly pool: PoolOptions | undefined;
  readonly checkpointEvery: number | undefined;
}

// The decision log on a pool of its own (the audit trail's writer thread): appends still take
// the head row's lock, so this thread, the others and every other replica share one chain.
registerDecisionLogOpener("postgres", async (options) => {
  const { url, schema, pool, checkpointEvery } = options as RemoteOptions;
  const store = await createPostgresStore({
    url,
    schema,
    migrate: false,
    notify: false,
    // The replica's timeouts; two connections (one append at a time), named apart.
    pool: { ...pool, max: 2, applicationName: `${pool?.applicationName ?? "latch"}-audit` },
    ...(checkpointEvery === undefined ? {} : { decisionCheckpointEvery: checkpointEvery }),
  });
  return { log: store.decisions, close: () => store.close() };
});

/** Largest changes page, and the default (as in the SQLite store). */
const CHANGES_PAGE = 1_000;

function checkSchemaName(schema: string): void {
  if (!isValidSchemaName(schema)) {
    throw new StoreError(
      "store/invalid-pg-schema",
      "invalid-argument",
      `PostgreSQL schema name \`${schema}\` is not a plain identifier (letters, digits, _; at most 63).`,
    );
  }
}

/** Applies pending migrations; safe to run from several processes at once. */
export async function migratePostgres(url: string, schema = "public", pool?: PoolOptions): Promise<number[]> {
  checkSchemaName(schema);
  const p = createPool(url, { ...pool, max: 1 });
  try {
    return await withClient(p, (client) => applyMigrations(client, schema), true);
  } finally {
    await p.end().catch(() => undefined);
  }
}

function checkReplicaUrls(urls: readonly string[]): void {
  for (const url of urls) {
    if (!isPostgresUrl(url)) {
      throw new StoreError(
        "store/invalid-read-replica",
        "invalid-argument",
        `read replica \`${url.replace(/\/\/[^@/]*@/, "//***@")}\` is not a postgres:// URL: give the URL of a hot standby of the primary.`,
      );
    }
  }
}

/**
 * Migrates (unless told not to), checks the migration version and reads the store's identity;
 * ends the pool when any of it fails.
 */
async function storeIdentity(
  pool: pg.Pool,
  schemaName: string,
  migrate: boolean,
): Promise<{ storeId: string; secret: string }> {
  const q = quoteIdent(schemaName);
  let meta: Map<string, string>;
  try {
    meta = await withClient(
      pool,
      async (client) => {
        if (migrate) await applyMigrations(client, schemaName);
        const version = await client
          .query<{ v: number | null }>(`SELECT max(version) AS v FROM ${q}.latch_migrations`)
          .catch((error: unknown) => {
            // No schema or no migrations table yet: not migrated. Anything else is a real failure.
            const code = (error as { code?: unknown }).code;
            if (code === "42P01" || code === "3F000") return { rows: [{ v: null }] };
            throw error;
          });
        const at = version.rows[0]?.v ?? 0;
        if (at > LATEST_VERSION) {
          throw new StoreError(
            "store/newer-version",
            "failed-precondition",
            `PostgreSQL schema ${schemaName} is at migration ${at}, newer than this Latch (${LATEST_VERSION}); upgrade Latch.`,
          );
        }
        if (at < LATEST_VERSION) {
          throw new StoreError(
            "store/not-migrated",
            "failed-precondition",
            `PostgreSQL schema ${schemaName} is not migrated to version ${LATEST_VERSION}: run \`latch migrate\` first.`,
          );
        }
        const rows = await client.query<{ key: string; value: string }>(
          `SELECT key, value FROM ${q}.metadata`,
        );
        return new Map(rows.rows.map((r) => [r.key, r.value]));
      },
      true,
    );
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw toStoreError(error);
  }
  const storeId = meta.get("store_id");
  const secret = meta.get("token_secret");
  if (storeId === undefined || secret === undefined) {
    await pool.end().catch(() => undefined);
    throw new StoreError(
      "store/corrupt",
      "internal",
      `PostgreSQL schema ${schemaName} lacks its store identity.`,
    );
  }
  return { storeId, secret };
}

/**
 * Before every read at a revision, not just a request's first: a lookup, check or export may
 * pause (a slow consumer) past the grace period while compaction deletes below a horizon
 * published meanwhile, and would then answer from half-compacted history. Synchronous while the
 * cached horizon is fresh (a comparison); undefined then, else the read of the horizon.
 */
function retainedAt(
  horizon: ReturnType<typeof cachedHorizon>,
  revision: Revision,
): Promise<void> | undefined {
  const known = horizon.fresh();
  if (known === undefined) return horizon.get().then((h) => checkRetained(revision, h));
  checkRetained(revision, known ?? undefined);
  return undefined;
}

export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schemaName = options.schema ?? "public";
  checkSchemaName(schemaName);
  const replicaUrls = options.readReplicas ?? [];
  checkReplicaUrls(replicaUrls);
  const q = quoteIdent(schemaName);
  const pool = createPool(options.url, options.pool);
  const channel = changesChannel(schemaName);
  const ctx: StoreContext = {
    pool,
    q,
    sql: buildStatements(q),
    channel: options.notify === false ? null : channel,
    now: options.now ?? Date.now,
    reads: undefined,
    compiled: undefined,
  };

  const { storeId, secret } = await storeIdentity(pool, schemaName, options.migrate !== false);
  const codec = createRevisionCodec(storeId, Buffer.from(secret, "hex"));
  const remote: RemoteOptions = {
    url: options.url,
    schema: schemaName,
    pool: options.pool,
    checkpointEvery: options.decisionCheckpointEvery,
  };
  const decisions = createPostgresDecisionLog(
    ctx,
    storeId,
    Buffer.from(secret, "hex"),
    options.decisionCheckpointEvery,
    { backend: "postgres", module: import.meta.url, options: remote },
  );
  const current = () => readClient(ctx, (client) => currentRevision(ctx, client));
  const listener = createChangeListener({
    url: options.url,
    channel,
    poll: current,
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    heartbeatMs: options.heartbeatMs ?? 5_000,
    connectionTimeoutMillis: options.pool?.connectionTimeoutMillis ?? 5_000,
    applicationName: `${options.pool?.applicationName ?? "latch"}-listen`,
  });
  const approvals = approvalsChannel(schemaName);
  const approvalsListener = createChangeListener({
    url: options.url,
    channel: approvals,
    poll: async () => BigInt(await approvalStore.latestChange()),
    pollIntervalMs: options.pollIntervalMs ?? 1_000,
    heartbeatMs: options.heartbeatMs ?? 5_000,
    connectionTimeoutMillis: options.pool?.connectionTimeoutMillis ?? 5_000,
    applicationName: `${options.pool?.applicationName ?? "latch"}-listen-approvals`,
  });
  const approvalStore = createPostgresApprovals(
    ctx,
    options.notify === false ? null : approvals,
    approvalsListener,
  );
  let closed = false;
  if (replicaUrls.length > 0) {
    ctx.reads = createReadRouter(pool, {
      urls: replicaUrls,
      q,
      storeId,
      ...(options.pool === undefined ? {} : { pool: options.pool }),
      ...(options.readReplicaProbeMs === undefined ? {} : { probeMs: options.readReplicaProbeMs }),
    });
    // A standby that is down at start is no reason not to start: its reads go to the primary.
    await ctx.reads.probe();
  }
  const reads = ctx.reads;
  // Cached: asked on every request (engine/revisions.ts) and before every read it guards.
  const horizon = cachedHorizon(() => readHorizon(ctx));
  const retained = async (revision: Revision) => checkRetained(revision, await horizon.get());
  const retainedNow = (revision: Revision) => retainedAt(horizon, revision);
  async function* exportRetained(revision: Revision) {
    await retained(revision);
    yield* exportRelationships(ctx, revision, { beforePage: () => retainedNow(revision) });
  }

  return {
    storeId,
    schemaName,
    currentRevision: current,
    at: lastReader((revision) => ({
      revision,
      readSchema: () => readSchema(ctx, revision),
      readRelationships: async (filter, pageOptions) => {
        await retainedNow(revision);
        return readRelationships(ctx, filter, revision, pageOptions);
      },
      lookupForward: async (query) => {
        await retainedNow(revision);
        return lookupForward(ctx, query, revision);
      },
      lookupReverse: async (query) => {
        await retainedNow(revision);
        return lookupReverse(ctx, query, revision);
      },
      exportRelationships: () => exportRetained(revision),
    })),
    writeSchema: (text, schemaOptions) => writeSchema(ctx, text, schemaOptions),
    async write(updates, preconditions = [], writeOptions = {}) {
      checkUpdates(updates);
      checkMetadata(writeOptions.metadata);
      const { revision } = await writeTransaction(
        ctx,
        (client, revision) => writeUpdates(ctx, client, revision, updates, preconditions),
        writeOptions.metadata,
      );
      return revision;
    },
    async deleteRelationships(filter, deleteOptions = {}) {
      checkFilter(filter);
      checkMetadata(deleteOptions.metadata);
      const limit = positiveInt(deleteOptions.limit, "limit");
      const { revision, result } = await writeTransaction(
        ctx,
        async (client, revision) => {
          await requireSchema(ctx, client);
          await checkPreconditions(ctx, client, deleteOptions.preconditions ?? []);
          const deleted = await deleteMatching(
            ctx,
            client,
            revision,
            filter,
            limit === undefined || deleteOptions.failOverLimit !== true ? limit : limit + 1,
          );
          // Over the limit: the throw rolls the transaction back, so nothing is deleted.
          if (limit !== undefined && deleted > limit) throw deleteOverLimit(limit);
          return deleted;
        },
        deleteOptions.metadata,
      );
      return { revision, deleted: result };
    },
    async changesSince(after, limit, within) {
      const size = Math.min(positiveInt(limit, "limit") ?? CHANGES_PAGE, CHANGES_PAGE);
      // Never sliced here (a read waits on the socket, not on this thread), so never resumed.
      nonNegativeInt(within, "within");
      await retained(after);
      return changesSince(ctx, after, size);
    },
    importRelationships: (relationships, importOptions) =>
      importRelationships(ctx, relationships, importOptions),
    historyHorizon: () => horizon.get(),
    freshHistoryHorizon: () => horizon.fresh(),
    async compactHistory(compactOptions) {
      const report = await compactPostgres(ctx, schemaName, compactOptions);
      horizon.invalidate();
      return report;
    },
    sweepExpired: (limit) => sweepExpired(ctx, positiveInt(limit, "limit") ?? 1_000),
    decisions,
    approvals: approvalStore,
    postureReports: createPostgresPostureReports(ctx),
    signals: createPostgresSignals(ctx),
    encodeRevision: (revision) => codec.encode(revision),
    decodeRevision: (token) => codec.decode(token),
    subscribe: (fn) => listener.subscribe(fn),
    ...(reads === undefined ? {} : { readReplicas: () => reads.statuses() }),
    async close() {
      if (closed) return;
      closed = true;
      await listener.close();
      await approvalsListener.close();
      await reads?.close();
      await pool.end();
    },
  };
}
