/**
 * The embedded store: better-sqlite3 over one file (or `:memory:`). better-sqlite3 is synchronous,
 * so every method runs to completion without interleaving inside this process; the async surface
 * is the contract shared with PostgreSQL. See connection.ts for durability and multi-process use.
 */
import type Database from "better-sqlite3";
import type { Relationship, Revision } from "../../core/index.js";
import { type CompiledSchema, compileSchema } from "../../schema/index.js";
import type { ApprovalStore, RulesValidator } from "../approval-store.js";
import { cursorAfter, encodeCursor } from "../cursor.js";
import { type DecisionLog, registerDecisionLogOpener } from "../decision-log.js";
import { StoreError } from "../errors.js";
import {
  type CompactionOptions,
  type CompactionReport,
  checkRetained,
  type HistoryHorizon,
  HORIZON_CACHE_MS,
  resolveCompaction,
} from "../history.js";
import { nextTurn } from "../next-turn.js";
import { findOrphans, type ShapeCount, wouldOrphanError } from "../orphans.js";
import type { PostureReportStore } from "../posture-store.js";
import { lastReader } from "../readers.js";
import { createRevisionCodec, type RevisionCodec } from "../revision-token.js";
import type { SignalStore } from "../signal-store.js";
import type {
  ChangesPage,
  DeleteOptions,
  DeleteResult,
  ImportOptions,
  ImportResult,
  PageOptions,
  Precondition,
  ReadPage,
  RelationshipFilter,
  RelationshipUpdate,
  Store,
  StoredSchema,
  StoreReader,
  TransactionMetadata,
  WriteOptions,
  WriteSchemaOptions,
} from "../types.js";
import { validateRelationship, validateUpdates } from "../validate.js";
import {
  checkFilter,
  checkMetadata,
  checkUpdates,
  MAX_UPDATES_PER_WRITE,
  nonNegativeInt,
  positiveInt,
} from "../write-checks.js";
import { createSqliteApprovals } from "./approvals.js";
import { createSqliteCompaction, type SqliteCompaction } from "./compaction.js";
import { type CompactionThread, compactionThread, type ReadHorizon } from "./compaction-thread.js";
import { type Connection, type ConnectionOptions, openConnection, openReader } from "./connection.js";
import type { LongReadSettings } from "./decision-reads.js";
import { createSqliteDecisionLog } from "./decisions.js";
import { beginImport, type ImportRequest } from "./import-rows.js";
import { createLookups, type Lookups } from "./lookups.js";
import { MAX_REVISION } from "./migrations.js";
import { createSqlitePostureReports } from "./posture.js";
import { createReadSnapshot, type ReadSnapshot } from "./read-snapshot.js";
import {
  type EncodedRows,
  encodeRows,
  filterConditions,
  KEY_COLUMNS,
  keyOfRow,
  type RawRow,
  REL_COLUMNS,
  rowsFromBytes,
  rowToRelationship,
  VISIBLE,
  visibleMatches,
} from "./rows.js";
import { createSqliteSignals } from "./signals.js";
import { prepareStatements, type Statements, statementCache } from "./statements.js";
import { type WriteThread, writeThread } from "./write-thread.js";
import { applyDeleteByFilter, applyUpdates, readChangesPage } from "./write-tx.js";

export interface SqliteStoreOptions extends ConnectionOptions {
  /** Most updates in one write (default 1,000). */
  readonly maxUpdatesPerWrite?: number;
  /** Relationships per import transaction (default 5,000). */
  readonly importBatchSize?: number;
  /** Default and maximum page size of changesSince (default 1,000). */
  readonly changesPageSize?: number;
  /** How often subscribers (the changes feed, the approvals feed) poll for commits by other processes, in ms (default 100). */
  readonly subscribePollMs?: number;
  /** Decision records between two signed checkpoints of the audit chain (default 100). */
  readonly decisionCheckpointEvery?: number;
  /** Page and range sizes of the decision log's long reads (verify, filtered reads; tests make them small). */
  readonly decisionLongReads?: Partial<LongReadSettings>;
  /** Told the thread id each time a background compaction run ends in its thread (tests). */
  readonly onCompactionThreadRun?: (threadId: number) => void;
  /**
   * A delete by filter matching more relationships than this, or an import of more, runs in the
   * write thread (write-thread.ts); up to this many it runs on the calling thread (default 1,000,
   * about 12 ms of work at scale m, sparing the usual small write the hand-over; tests lower it).
   */
  readonly writeThreadRows?: number;
  /** Told the thread id each time a delete or an import ends in the write thread (tests). */
  readonly onWriteThreadRun?: (threadId: number) => void;
}

/** Relationships per chunk an import hands to the write thread: a few ms of validation each. */
const IMPORT_CHUNK = 2_000;

type Stmt = Database.Statement<unknown[], unknown>;

interface RemoteOptions {
  readonly connection: ConnectionOptions;
  readonly checkpointEvery: number | undefined;
}

/**
 * How a thread of this store opens its own connection to the file: only what can cross to it
 * (the options may hold functions), and the same durability and lock waiting as the serving one.
 */
function threadConnection(options: SqliteStoreOptions): ConnectionOptions {
  return {
    path: options.path,
    ...(options.synchronous === undefined ? {} : { synchronous: options.synchronous }),
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  };
}

/**
 * The audit writer thread's connection only appends: the rows and the time index grow at their
 * right edges (seq increases, and at nearly always), so a few pages stay hot. A small page cache, not the
 * default 64 MiB that the appends would otherwise fill page by page with fresh memory (a page
 * fault each 4 KiB of rows, for the first couple of hundred thousand records). Its checkpoints
 * stay at SQLite's default WAL size: past it, any connection's commit checkpoints, and a larger
 * one here would hand bigger checkpoints to the serving thread's writes.
 */
const DECISION_LOG_CONNECTION = { cacheSizeKib: 2048 } as const;

// The decision log of a file, on a connection of its own (the audit trail's writer thread). The
// write lock (BEGIN IMMEDIATE) serializes its appends with every other connection's writes.
registerDecisionLogOpener("sqlite", async (options) => {
  const { connection, checkpointEvery } = options as RemoteOptions;
  const { db, storeId, tokenSecret } = openConnection({ ...connection, ...DECISION_LOG_CONNECTION });
  return {
    log: createSqliteDecisionLog(db, storeId, tokenSecret, {
      checkpointEvery,
      openReader: () => openReader(connection),
    }),
    close: async () => void db.close(),
  };
});

/** The thread that runs a file's background compactions; `horizonRead` takes the horizon it read. */
function backgroundCompactor(
  options: SqliteStoreOptions,
  horizonRead: (read: ReadHorizon) => void,
): CompactionThread {
  const onRun = options.onCompactionThreadRun;
  return compactionThread(threadConnection(options), {
    horizonRead,
    ...(onRun === undefined ? {} : { onRun }),
  });
}

export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  return new SqliteStore(openConnection(options), options);
}

class SqliteStore implements Store {
  readonly storeId: string;
  readonly decisions: DecisionLog;
  readonly approvals: ApprovalStore;
  readonly postureReports: PostureReportStore;
  readonly signals: SignalStore;
  private readonly db: Database.Database;
  readonly s: Statements;
  private readonly codec: RevisionCodec;
  private readonly dynamic: (sql: string) => Stmt;
  private readonly lookups: Lookups;
  private readonly snapshot: ReadSnapshot;
  private readonly maxUpdates: number;
  private readonly importBatchSize: number;
  private readonly writeThreadRows: number;
  private readonly changesPageSize: number;
  private readonly listeners = new Set<(revision: Revision) => void>();
  private readonly pollMs: number;
  private poll: ReturnType<typeof setInterval> | undefined;
  private dataVersion = 0;
  private notified = 0n;
  private compiled: { readonly revision: number; readonly schema: CompiledSchema } | undefined;
  private readonly compaction: SqliteCompaction;
  /** Background runs for a file (a worker cannot open `:memory:`: those run here). */
  private readonly compactor: CompactionThread | undefined;
  /** Large deletes and imports for a file (a worker cannot open `:memory:`: those run here). */
  private readonly writer: WriteThread | undefined;
  /**
   * A write running in the write thread: until it settles, writes here wait for it rather than
   * for the file's write lock, which SQLite would wait for by sleeping on this thread.
   */
  private background: Promise<unknown> | undefined;
  private horizonReadAt = Number.NEGATIVE_INFINITY;
  private horizonValue: HistoryHorizon | undefined;
  private readonly writeTx: (
    updates: readonly RelationshipUpdate[],
    pre: readonly Precondition[],
    metadata?: TransactionMetadata,
  ) => Promise<Revision>;
  private readonly deleteTx: (
    filter: RelationshipFilter,
    limit: number | undefined,
    pre: readonly Precondition[],
    failOverLimit: boolean,
    metadata: TransactionMetadata | undefined,
  ) => Promise<{ revision: Revision; deleted: number }>;
  private readonly schemaTx: (
    text: string,
    schema: CompiledSchema,
    validateRules: RulesValidator | undefined,
  ) => Promise<Revision>;
  private readonly importTx: (request: ImportRequest, rows: Iterable<EncodedRows>) => Promise<ImportResult>;
  private readonly sweepTx: (limit: number) => Promise<number>;
  private readonly changesTx: (after: Revision, limit: number, within: number | undefined) => ChangesPage;

  constructor(connection: Connection, options: SqliteStoreOptions) {
    this.db = connection.db;
    this.storeId = connection.storeId;
    this.codec = createRevisionCodec(connection.storeId, connection.tokenSecret);
    const remote: RemoteOptions = {
      connection: threadConnection(options),
      checkpointEvery: options.decisionCheckpointEvery,
    };
    this.decisions = createSqliteDecisionLog(this.db, connection.storeId, connection.tokenSecret, {
      checkpointEvery: options.decisionCheckpointEvery,
      ...(this.db.memory
        ? {}
        : {
            remote: { backend: "sqlite", module: import.meta.url, options: remote },
            openReader: () => openReader(remote.connection),
          }),
      longReads: options.decisionLongReads,
    });
    // Their writes wait for a write in the write thread, as this store's own do.
    const gate = () => (this.background === undefined ? undefined : this.afterBackground());
    this.approvals = createSqliteApprovals(this.db, options.subscribePollMs ?? 100, gate);
    this.postureReports = createSqlitePostureReports(this.db, gate);
    this.signals = createSqliteSignals(this.db, (revision) => this.committed(revision), gate);
    this.s = prepareStatements(this.db);
    this.dynamic = statementCache(this.db);
    this.snapshot = createReadSnapshot(this.db, options.path);
    this.compaction = createSqliteCompaction(this.db, () => this.snapshot.release());
    this.compactor = this.db.memory
      ? undefined
      : backgroundCompactor(options, (read) => this.learnHorizon(read));
    this.writer = this.db.memory
      ? undefined
      : writeThread(threadConnection(options), options.onWriteThreadRun);
    this.lookups = createLookups(this.snapshot.db);
    this.maxUpdates = options.maxUpdatesPerWrite ?? MAX_UPDATES_PER_WRITE;
    this.importBatchSize = options.importBatchSize ?? 5_000;
    this.writeThreadRows = options.writeThreadRows ?? 1_000;
    this.changesPageSize = options.changesPageSize ?? 1_000;
    this.pollMs = options.subscribePollMs ?? 100;
    // Every write on this connection: first after a write in the write thread, which holds the
    // file's lock (SQLite would wait for it by sleeping on this thread, holding every request).
    const tx = <A extends unknown[], R>(fn: (...args: A) => R) => {
      const t = this.db.transaction(fn);
      return async (...args: A): Promise<R> => {
        if (this.background !== undefined) await this.afterBackground();
        // So that the checkpoint at this commit can copy the whole WAL (read-snapshot.ts).
        this.snapshot.release();
        return t.immediate(...args);
      };
    };
    this.writeTx = tx((updates, pre, metadata) => {
      validateUpdates(this.schemaForWrite(), updates);
      return this.keepMetadata(applyUpdates(this, updates, pre), metadata);
    });
    this.deleteTx = tx((filter, limit, pre, failOverLimit, metadata) => {
      this.schemaForWrite();
      const result = applyDeleteByFilter(this, filter, limit, pre, failOverLimit);
      this.keepMetadata(result.revision, metadata);
      return result;
    });
    this.schemaTx = tx((text, schema, validateRules) => this.applySchema(text, schema, validateRules));
    this.importTx = tx((request, rows) => {
      const sink = beginImport(this, request);
      for (const chunk of rows) sink.add(rowsFromBytes(chunk));
      return sink.finish();
    });
    this.sweepTx = tx((limit) => this.s.sweep.run(Date.now(), limit).changes);
    // Deferred: a read transaction, so both queries of a page see one snapshot.
    const read = this.db.transaction((after: Revision, limit: number, within: number | undefined) => {
      // Read in the page's own snapshot: a feed behind the horizon is refused, never half-answered.
      checkRetained(after, this.compaction.horizon());
      return readChangesPage(this, after, limit, within);
    });
    this.changesTx = (after, limit, within) => read.deferred(after, limit, within);
  }

  exec(sql: string): void {
    this.db.exec(sql);
  }

  current(): Revision {
    return BigInt(this.s.currentRevision.get() as number);
  }

  prepared(sql: string): Stmt {
    return this.dynamic(sql);
  }

  /** The schema writes validate against. */
  private schemaForWrite(): CompiledSchema {
    return this.compiledForWrite().schema;
  }

  /** The latest schema and its revision; recompiled only when another revision of it appears. */
  private compiledForWrite(): { readonly revision: number; readonly schema: CompiledSchema } {
    const revision = this.s.latestSchemaRevision.get() as number | undefined;
    if (revision === undefined) {
      throw new StoreError(
        "schema/missing",
        "failed-precondition",
        "no schema has been written to this store yet: relationships are validated against it. Write a schema first.",
      );
    }
    if (this.compiled?.revision !== revision) {
      const [text] = this.s.latestSchema.get() as [string, number];
      this.compiled = { revision, schema: compileSchema(text) };
    }
    return this.compiled;
  }

  async currentRevision(): Promise<Revision> {
    return this.snapshot.newest();
  }

  at(revision: Revision): StoreReader {
    return this.readerAt(revision);
  }

  private readonly readerAt = lastReader(
    (revision): StoreReader => ({
      revision,
      readSchema: async () => this.schemaAt(revision),
      readRelationships: async (filter, options) => this.readPage(filter, revision, options),
      // Every read, not just the first of a request: a lookup or check at an old revision may
      // pause (a slow stream's consumer) past the grace period while compaction deletes below
      // the horizon. The horizon is cached, so this is a clock read and a comparison.
      lookupForward: async (query) => {
        checkRetained(revision, this.horizon());
        return this.snapshot.at(revision, () => this.lookups.forward(query, revision));
      },
      lookupReverse: async (query) => {
        checkRetained(revision, this.horizon());
        return this.snapshot.at(revision, () => this.lookups.reverse(query, revision));
      },
      exportRelationships: () => this.exportAt(revision),
    }),
  );

  private schemaAt(revision: Revision): StoredSchema | undefined {
    const row = this.s.schemaAt.get(revision) as [string, number] | undefined;
    return row === undefined ? undefined : { text: row[0], revision: BigInt(row[1]) };
  }

  async writeSchema(text: string, options: WriteSchemaOptions = {}): Promise<Revision> {
    const schema = compileSchema(text);
    return this.committed(await this.schemaTx(text, schema, options.validateRules));
  }

  private applySchema(
    text: string,
    schema: CompiledSchema,
    validateRules: RulesValidator | undefined,
  ): Revision {
    // Under the write lock: no rules write (nor any other) can land between this read and COMMIT.
    if (validateRules !== undefined) {
      const row = this.prepared(
        "SELECT version, text, written_at FROM approval_rules ORDER BY version DESC LIMIT 1",
      ).get() as [number, string, number] | undefined;
      validateRules(
        row === undefined ? undefined : { version: row[0], text: row[1], writtenAt: row[2] },
        schema,
      );
    }
    const now = Date.now();
    const shapes: ShapeCount[] = (this.s.liveShapes.all(now) as RawRow[]).map((row) => ({
      resourceType: row[0] as string,
      relation: row[1] as string,
      subjectType: row[2] as string,
      subjectRelation: row[3] === "" ? undefined : (row[3] as string),
      wildcard: row[4] === 1,
      caveatName: (row[5] as string | null) ?? undefined,
      hasExpiration: row[6] === 1,
      count: row[7] as number,
    }));
    const orphans = findOrphans(schema, shapes);
    if (orphans.length > 0) throw wouldOrphanError(orphans);
    const revision = this.current() + 1n;
    this.s.insertRevision.run(Number(revision), now);
    this.s.insertSchema.run(Number(revision), text, schema.hash);
    this.compiled = { revision: Number(revision), schema };
    return revision;
  }

  private readPage(filter: RelationshipFilter, revision: Revision, options: PageOptions = {}): ReadPage {
    checkFilter(filter);
    checkRetained(revision, this.horizon());
    const limit = positiveInt(options.limit, "limit");
    const after = options.cursor === undefined ? undefined : cursorAfter(options.cursor, filter, revision);
    const params: unknown[] = [];
    const where = filterConditions(filter, params);
    if (after !== undefined) {
      // Leave out the key columns the filter fixes: SQLite then seeks straight to the cursor
      // instead of scanning every earlier row of the type.
      const skip = filter.resourceType === undefined ? 0 : filter.resourceId !== undefined ? 2 : 1;
      const columns = KEY_COLUMNS.split(", ").slice(skip);
      where.push(`(${columns.join(", ")}) > (${columns.map(() => "?").join(", ")})`);
      params.push(...after.slice(skip));
    }
    where.push(VISIBLE);
    params.push(Number(revision), Number(revision), Date.now());
    let sql = `SELECT ${REL_COLUMNS} FROM relationships WHERE ${where.join(" AND ")} ORDER BY ${KEY_COLUMNS}`;
    if (limit !== undefined) {
      sql += " LIMIT ?";
      params.push(limit + 1);
    }
    const rows = this.prepared(sql).all(params) as RawRow[];
    if (limit === undefined || rows.length <= limit) {
      return { relationships: rows.map(rowToRelationship), revision };
    }
    rows.length = limit;
    const cursor = encodeCursor({ revision, after: keyOfRow(rows[limit - 1]!) }, filter);
    return { relationships: rows.map(rowToRelationship), cursor, revision };
  }

  async write(
    updates: readonly RelationshipUpdate[],
    preconditions: readonly Precondition[] = [],
    options: WriteOptions = {},
  ): Promise<Revision> {
    checkUpdates(updates, this.maxUpdates);
    checkMetadata(options.metadata);
    return this.committed(await this.writeTx(updates, preconditions, options.metadata));
  }

  /** Inside a write's transaction: its metadata on its revision row. */
  private keepMetadata(revision: Revision, metadata: TransactionMetadata | undefined): Revision {
    if (metadata !== undefined) this.s.setRevisionMetadata.run(JSON.stringify(metadata), Number(revision));
    return revision;
  }

  async deleteRelationships(filter: RelationshipFilter, options: DeleteOptions = {}): Promise<DeleteResult> {
    checkFilter(filter);
    checkMetadata(options.metadata);
    const limit = positiveInt(options.limit, "limit");
    const preconditions = options.preconditions ?? [];
    const failOverLimit = options.failOverLimit === true;
    if (this.background !== undefined) await this.afterBackground();
    const writer = this.writer;
    if (
      writer !== undefined &&
      (limit === undefined || limit > this.writeThreadRows) &&
      this.matchesMoreThan(filter, this.writeThreadRows)
    ) {
      this.schemaForWrite();
      const { metadata } = options;
      return this.inBackground(() =>
        writer.delete({ filter, limit, preconditions, failOverLimit, metadata }),
      );
    }
    const result = await this.deleteTx(filter, limit, preconditions, failOverLimit, options.metadata);
    this.committed(result.revision);
    return result;
  }

  /**
   * A write in the write thread: this store's writes wait for it (`background`). It starts with
   * no read snapshot of this thread's held, so that a short one's checkpoint can copy the whole
   * WAL (read-snapshot.ts); a long one may find one taken since, and a later commit copies the rest.
   */
  private async inBackground<T extends { readonly revision: Revision }>(write: () => Promise<T>): Promise<T> {
    this.snapshot.release();
    const run = write();
    this.background = run;
    try {
      const result = await run;
      this.committed(result.revision);
      return result;
    } finally {
      if (this.background === run) this.background = undefined;
    }
  }

  /** Waits until no write runs in the write thread (another may start as one ends). */
  private async afterBackground(): Promise<void> {
    while (this.background !== undefined) await this.background.catch(() => undefined);
  }

  /** Whether more than `n` relationships visible now match `filter`: reads at most n + 1 of them. */
  private matchesMoreThan(filter: RelationshipFilter, n: number): boolean {
    const { where, params } = visibleMatches(filter, this.current(), Date.now());
    const sql = `SELECT count(*) FROM (SELECT 1 FROM relationships WHERE ${where} LIMIT ?)`;
    const row = this.prepared(sql).get(...params, n + 1) as [number];
    return row[0] > n;
  }

  async changesSince(after: Revision, limit?: number, within?: number): Promise<ChangesPage> {
    const size = Math.min(positiveInt(limit, "limit") ?? this.changesPageSize, this.changesPageSize);
    return this.changesTx(after, size, nonNegativeInt(within, "within"));
  }

  /**
   * One transaction for the whole load, so a failing import (a bad relationship, a source that
   * throws) leaves nothing behind. Into an empty store: bulk-load.ts. Otherwise a revision per batch,
   * as the changes feed pages them. An asynchronous source is read into memory first: a SQLite
   * transaction cannot stay open across awaits on the one connection other calls share. Either
   * way an imported relationship that already exists is replaced (TOUCH), so a load can be repeated.
   */
  async importRelationships(
    relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
    options: ImportOptions = {},
  ): Promise<ImportResult> {
    const batchSize = positiveInt(options.batchSize, "batchSize") ?? this.importBatchSize;
    const createOnly = options.createOnly === true;
    const { schema, revision: schemaRevision } = this.compiledForWrite();
    const encode = (chunk: readonly Relationship[]): EncodedRows => {
      for (const r of chunk) validateRelationship(schema, r);
      return encodeRows(chunk);
    };
    // The first chunk tells whether the import is larger than the write thread's threshold.
    const size = Math.max(IMPORT_CHUNK, this.writeThreadRows + 1);
    let chunks: Iterator<EncodedRows>;
    if (Symbol.iterator in relationships) chunks = mapped(chunked(relationships, size), encode);
    else {
      // A transaction cannot wait on a stream: the connection is shared, and a slow client would
      // hold the file's write lock. The stream is read first, as bytes a chunk at a time: compact,
      // and few objects for the garbage collector to carry. A turn of the event loop after each
      // chunk: a stream's messages may have arrived long before, and their awaits never leave the
      // microtask queue.
      const all: EncodedRows[] = [];
      let batch: Relationship[] = [];
      for await (const r of relationships) {
        batch.push(r);
        if (batch.length === size) {
          all.push(encode(batch));
          batch = [];
          await nextTurn();
        }
      }
      if (batch.length > 0) all.push(encode(batch));
      chunks = all.values();
    }
    if (this.background !== undefined) await this.afterBackground();
    const first = chunks.next();
    const writer = this.writer;
    if (first.done === true) return { revision: this.current(), count: 0 };
    const request = { createOnly, batchSize, schemaRevision };
    if (writer !== undefined && first.value.count > this.writeThreadRows) {
      let head: EncodedRows | undefined = first.value;
      const next = () => {
        const rows = head ?? chunks.next().value;
        head = undefined;
        return rows;
      };
      return this.inBackground(() => writer.import(request, next));
    }
    const result = await this.importTx(request, concat([first.value], chunks));
    this.committed(result.revision);
    return result;
  }

  private async *exportAt(at: Revision): AsyncIterable<Relationship> {
    checkRetained(at, this.horizon());
    const page = 1_000;
    let rows = this.s.exportFirstPage.all(Number(at), Number(at), Date.now(), page) as RawRow[];
    while (rows.length > 0) {
      for (const row of rows) yield rowToRelationship(row);
      if (rows.length < page) return;
      // Again before each page: the consumer may have paused past the grace period, and rows
      // below a horizon published meanwhile may be gone; a short export would look complete.
      checkRetained(at, this.horizon());
      rows = this.s.exportPage.all(
        ...keyOfRow(rows[rows.length - 1]!),
        Number(at),
        Number(at),
        Date.now(),
        page,
      ) as RawRow[];
    }
  }

  /** The published horizon, re-read at most once per HORIZON_CACHE_MS (another process may compact). */
  private horizon(): HistoryHorizon | undefined {
    const now = Date.now();
    if (now - this.horizonReadAt >= HORIZON_CACHE_MS) {
      this.horizonValue = this.compaction.horizon();
      this.horizonReadAt = now;
    }
    return this.horizonValue;
  }

  /**
   * The horizon the compaction thread read, as the cached one: its read is as fresh as one here
   * would be and costs this thread nothing. A cached horizon ahead of it (another process
   * published later) stays.
   */
  private learnHorizon(read: ReadHorizon): void {
    const cached = this.horizonReadAt > Number.NEGATIVE_INFINITY ? this.horizonValue : undefined;
    if (cached !== undefined && (read.horizon === undefined || cached.revision > read.horizon.revision))
      return;
    this.horizonValue = read.horizon;
    this.horizonReadAt = read.at;
  }

  async historyHorizon(): Promise<HistoryHorizon | undefined> {
    return this.horizon();
  }

  /** Always at hand: the horizon is read synchronously (when its cached copy is stale). */
  freshHistoryHorizon(): HistoryHorizon | null {
    return this.horizon() ?? null;
  }

  async compactHistory(options?: CompactionOptions): Promise<CompactionReport> {
    const inThread = options?.background === true && options.dryRun !== true;
    if (inThread) resolveCompaction(options); // bad settings fail here, as a LatchError
    // From the thread, the horizon comes with the report (learnHorizon).
    if (inThread && this.compactor !== undefined) return this.compactor.run(options);
    const report = await this.compaction.run(options);
    this.horizonReadAt = Number.NEGATIVE_INFINITY;
    return report;
  }

  async sweepExpired(limit = 1_000): Promise<number> {
    return this.sweepTx(positiveInt(limit, "limit") ?? 1_000);
  }

  encodeRevision(revision: Revision): string {
    return this.codec.encode(revision);
  }

  decodeRevision(token: string): Revision {
    return this.codec.decode(token);
  }

  /**
   * Local commits are announced as they happen; commits by other processes on the same file are
   * noticed by polling `PRAGMA data_version` (a counter SQLite bumps when another connection
   * commits), which costs one cheap pragma per interval and only while someone listens.
   */
  subscribe(listener: (revision: Revision) => void): () => void {
    this.listeners.add(listener);
    if (this.poll === undefined && this.db.open) {
      this.dataVersion = this.db.pragma("data_version", { simple: true }) as number;
      this.notified = this.current();
      this.poll = setInterval(() => {
        if (!this.db.open) return;
        const version = this.db.pragma("data_version", { simple: true }) as number;
        if (version === this.dataVersion) return;
        this.dataVersion = version;
        this.committed(this.current());
      }, this.pollMs);
      this.poll.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.poll !== undefined) {
        clearInterval(this.poll);
        this.poll = undefined;
      }
    };
  }

  private committed(revision: Revision): Revision {
    if (this.listeners.size > 0 && revision > this.notified) {
      this.notified = revision;
      for (const listener of this.listeners) {
        try {
          listener(revision);
        } catch {
          // A listener's failure must not fail the write that already committed.
        }
      }
    }
    return revision;
  }

  async close(): Promise<void> {
    if (this.poll !== undefined) clearInterval(this.poll);
    this.poll = undefined;
    this.listeners.clear();
    await this.afterBackground();
    await this.writer?.close();
    await this.compactor?.close();
    this.snapshot.close();
    if (this.db.open) this.db.close();
  }
}

export { MAX_REVISION };

function* concat<T>(head: readonly T[], rest: Iterator<T>): Generator<T> {
  yield* head;
  for (let next = rest.next(); next.done !== true; next = rest.next()) yield next.value;
}

function* mapped<T, U>(source: Iterable<T>, f: (item: T) => U): Generator<U> {
  for (const item of source) yield f(item);
}

/** The source in arrays of `size`, read lazily. */
function* chunked<T>(source: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
