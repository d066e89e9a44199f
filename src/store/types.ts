/**
 * The store contract. Small, async and batched so that SQLite (embedded) and PostgreSQL (shared)
 * implement it alike; one conformance suite (`test/store/*.case.ts`) runs against every backend.
 */
import type { Relationship, Revision } from "../core/index.js";
import type { ApprovalStore, RulesValidator } from "./approval-store.js";
import type { DecisionLog } from "./decision-log.js";
import type { CompactionOptions, CompactionReport, HistoryHorizon } from "./history.js";
import type { PostureReportStore } from "./posture-store.js";
import type { SignalStore } from "./signal-store.js";

export interface SubjectFilter {
  readonly type: string;
  readonly id?: string;
  /** `""` matches subjects without a relation (plain objects and wildcards) only. */
  readonly relation?: string;
}

/**
 * Every field narrows the match; at least one must be given. Without a resource type the filter
 * spans every type (SpiceDB's filters allow that); such reads cannot use the primary key's prefix.
 */
export interface RelationshipFilter {
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly resourceIdPrefix?: string;
  readonly relation?: string;
  readonly subject?: SubjectFilter;
  readonly caveatName?: string;
}

export interface PageOptions {
  readonly limit?: number;
  /** Opaque cursor from a previous page, read at the same revision. */
  readonly cursor?: string;
}

export interface ReadPage {
  readonly relationships: readonly Relationship[];
  /** Present when more may follow; pass it back to continue after the last relationship. */
  readonly cursor?: string;
  readonly revision: Revision;
}

/** Forward: for many resources of one type, every relationship on the given relations. */
export interface ForwardQuery {
  readonly resourceType: string;
  readonly resourceIds: readonly string[];
  readonly relations: readonly string[];
  /** Only subjects of this type (and relation, when given: "" for none); any when absent. */
  readonly subjectType?: string;
  readonly subjectRelation?: string;
  readonly subjectIds?: readonly string[];
}

/** Reverse: relationships on `resourceType#relations` whose subject is one of the given ones. */
export interface ReverseQuery {
  readonly resourceType: string;
  readonly relations: readonly string[];
  readonly subjectType: string;
  /** Subject ids to match; include `*` to also find wildcard relationships. */
  readonly subjectIds: readonly string[];
  /** "" for plain objects and wildcards, else the subject-set relation. */
  readonly subjectRelation: string;
}

export type UpdateOperation = "create" | "touch" | "delete";

export interface RelationshipUpdate {
  readonly operation: UpdateOperation;
  readonly relationship: Relationship;
}

export interface Precondition {
  readonly operation: "must-match" | "must-not-match";
  readonly filter: RelationshipFilter;
}

/** A JSON object a caller attaches to a write's revision (SpiceDB's transaction metadata). */
export type TransactionMetadata = Readonly<Record<string, unknown>>;

export interface WriteOptions {
  /** Kept with the write's revision; the changes feed returns it (`ChangesPage.metadata`). */
  readonly metadata?: TransactionMetadata;
}

export interface DeleteOptions extends WriteOptions {
  readonly limit?: number;
  readonly preconditions?: readonly Precondition[];
  /** With `limit`: refuse (delete nothing) when more than `limit` relationships match. */
  readonly failOverLimit?: boolean;
}

export interface DeleteResult {
  readonly revision: Revision;
  readonly deleted: number;
}

export interface Change {
  readonly revision: Revision;
  readonly operation: "touch" | "delete";
  readonly relationship: Relationship;
}

export interface SchemaChange {
  readonly revision: Revision;
  readonly schemaText: string;
}

export interface ChangesPage {
  /** Relationship changes after the given revision, ordered by revision then write order. */
  readonly changes: readonly Change[];
  readonly schemaChanges: readonly SchemaChange[];
  /** The revision the page reaches; pass it to the next call to continue. */
  readonly revision: Revision;
  /** The metadata of the page's revisions that were written with some, in revision order. */
  readonly metadata?: readonly { readonly revision: Revision; readonly metadata: TransactionMetadata }[];
  /**
   * Set when the page is a slice of one revision too large for a page (only when the call passed
   * `within`): the page holds that revision's changes from the `within` asked for up to this one,
   * `revision` is still the `after` asked for, and the next call passes both back unchanged but
   * for this `within`. The revision's last slice comes without it, reaching the revision.
   */
  readonly within?: number;
}

export interface StoredSchema {
  readonly text: string;
  readonly revision: Revision;
}

export interface ImportOptions {
  /**
   * Relationships a batch: a revision each for a plain import; for a CREATE import (one revision)
   * the rows a statement on PostgreSQL.
   */
  readonly batchSize?: number;
  /** One transaction, CREATE semantics (see `Store.importRelationships`). */
  readonly createOnly?: boolean;
}

export interface ImportResult {
  readonly revision: Revision;
  readonly count: number;
}

/**
 * Everything the engine and the API need from a datastore. Reads go through a reader pinned to a
 * revision (`at`); writes, the revision, the changes feed and tokens are on the store itself.
 * Relationships whose expiration has passed are invisible to every read.
 */
export interface Store {
  /** Identity of this datastore; revision tokens carry it so one store refuses another's token. */
  readonly storeId: string;

  currentRevision(): Promise<Revision>;

  /**
   * Reads as of `revision`: they see exactly the writes up to it. Cheap and synchronous (no I/O):
   * make one per request, not one per read; stores may hand back the same reader for a revision.
   */
  at(revision: Revision): StoreReader;

  /**
   * Validates and stores a schema. Refused (nothing written) when it does not compile or when it
   * would orphan stored relationships, with the affected relations and counts, or when
   * `options.validateRules` throws (it is called inside the write's transaction).
   */
  writeSchema(text: string, options?: WriteSchemaOptions): Promise<Revision>;

  /**
   * One transaction: every relationship validated against the current schema, every
   * precondition checked, then all updates applied at one new revision; or nothing at all.
   */
  write(
    updates: readonly RelationshipUpdate[],
    preconditions?: readonly Precondition[],
    options?: WriteOptions,
  ): Promise<Revision>;
  /**
   * One transaction: the preconditions, then every relationship matching `filter` (at most `limit`)
   * deleted at one new revision. With `limit` and `failOverLimit`, more matches than `limit` delete
   * nothing and fail with `delete/over-limit`.
   */
  deleteRelationships(filter: RelationshipFilter, options?: DeleteOptions): Promise<DeleteResult>;

  /**
   * Changes after `after`, in order, at most `limit` relationship changes; a page ends on a
   * revision boundary. A revision with more than `limit` changes comes whole in a page of its own,
   * unless the caller passes `within` (0 to start): then the store may return it in slices (see
   * `ChangesPage.within`), so that no read holds the thread for the whole revision (SQLite does;
   * PostgreSQL, whose reads do not hold the thread, returns it whole).
   */
  changesSince(after: Revision, limit?: number, within?: number): Promise<ChangesPage>;

  /**
   * Validated bulk load, replacing what exists (TOUCH), atomic: one transaction with a revision per
   * batch, so a failure anywhere (a bad relationship, a source that throws) writes nothing. Writers
   * wait while it commits. With `createOnly`:
   * the whole load in one transaction at one revision, and a relationship that exists already or
   * appears twice in the load fails it with `relationship/already-exists`, writing nothing (the
   * load is held in memory until it commits).
   */
  importRelationships(
    relationships: AsyncIterable<Relationship> | Iterable<Relationship>,
    options?: ImportOptions,
  ): Promise<ImportResult>;

  /** Deletes up to `limit` expired relationships; returns how many. Safe to call concurrently. */
  sweepExpired(limit?: number): Promise<number>;

  /** The decision audit trail, a hash chain in the same datastore (see decision-log.ts). */
  readonly decisions: DecisionLog;

  /** Approval rules and requests of the human-approval flow (see approval-store.ts). */
  readonly approvals: ApprovalStore;

  /** Kept posture reports, with their revisions, for drift (see posture-store.ts). */
  readonly postureReports: PostureReportStore;
  /** Security signals: subject suspensions and attributes, received SETs (see signal-store.ts). */
  readonly signals: SignalStore;

  /** Opaque, tamper-evident token for a revision of this store. */
  encodeRevision(revision: Revision): string;
  /** Decodes a token, refusing one from another store or one that was altered. */
  decodeRevision(token: string): Revision;

  /**
   * Optional history compaction (history.ts): the published horizon, before which reads and the
   * changes feed are refused (`revision/compacted`); undefined when nothing was ever compacted.
   * Cached for at most a second, so cheap enough to ask on every request.
   */
  historyHorizon?(): Promise<HistoryHorizon | undefined>;
  /**
   * The same answer without waiting, where the store has it at hand (cached and still fresh, as
   * `historyHorizon` would return it now): the horizon, `null` when nothing was ever compacted, or
   * undefined when only `historyHorizon` can tell. Lets a request skip an await on every check.
   */
  freshHistoryHorizon?(): HistoryHorizon | null | undefined;
  /**
   * One compaction run: applies a horizon whose grace period has passed (bounded delete
   * transactions), then publishes the next one. Only one replica runs at a time; another gets a
   * report with `skipped: "locked"`. The decision log and approvals are not history: untouched.
   */
  compactHistory?(options?: CompactionOptions): Promise<CompactionReport>;

  /**
   * Optional push feed: calls `listener` with each newly committed revision (at most once, in
   * increasing order; revisions may be coalesced), including ones written by other processes on a
   * shared datastore. Read the changes themselves with `changesSince`. Returns an unsubscribe.
   */
  subscribe?(listener: (revision: Revision) => void): () => void;

  /**
   * Optional: the read replicas (PostgreSQL hot standbys) reads at a revision may go to, as last
   * seen; absent or empty when every read goes to the one database.
   */
  readReplicas?(): readonly ReadReplicaStatus[];

  close(): Promise<void>;
}

export interface WriteSchemaOptions {
  /**
   * Checks the stored approval rules against the new schema inside the schema write's transaction,
   * serialized with rules writes (`ApprovalStore.writeRules`), so that neither can slip in between
   * the other's check and write; a throw refuses the schema and writes nothing.
   */
  readonly validateRules?: RulesValidator;
}

/** One read replica as its store last saw it (see `Store.readReplicas`). */
export interface ReadReplicaStatus {
  /** `host:port/database`: no user, no password. */
  readonly name: string;
  /**
   * `up`: answers reads at revisions it has replayed; `down`: unreachable (its reads go elsewhere
   * until a probe reaches it again); `mismatched`: reachable but not a copy of this store, never used.
   */
  readonly state: "up" | "down" | "mismatched";
  /** The newest revision it had replayed when last asked; undefined before the first answer. */
  readonly revision: Revision | undefined;
  /** Reads it answered. */
  readonly reads: number;
  /** Reads sent to it that failed and were answered elsewhere. */
  readonly failures: number;
  /** Why it is down or mismatched. */
  readonly error?: string;
}

/** The reads of one revision (see `Store.at`). */
export interface StoreReader {
  readonly revision: Revision;

  /** The schema in force at the revision and the revision it was written at; undefined before the first. */
  readSchema(): Promise<StoredSchema | undefined>;
  /** A page of the relationships matching `filter`; a cursor from another revision is refused. */
  readRelationships(filter: RelationshipFilter, options?: PageOptions): Promise<ReadPage>;
  /** One query, many ids: the engine's forward path. */
  lookupForward(query: ForwardQuery): Promise<readonly Relationship[]>;
  /** One query, many subject ids: the reverse path for lookups and membership expansion. */
  lookupReverse(query: ReverseQuery): Promise<readonly Relationship[]>;
  /** Every relationship, in a stable order. */
  exportRelationships(): AsyncIterable<Relationship>;

  /**
   * Optional fast path: the same relationships read synchronously, when the store holds them in
   * memory (the in-memory copy does); undefined when it cannot answer at this revision now (ask
   * again later: the copy may catch up). A snapshot is for use before the caller next yields to
   * the event loop: it is not kept current.
   */
  snapshot?(): MemorySnapshot | undefined;
}

/** Synchronous reads at one revision (see `StoreReader.snapshot`). */
export interface MemorySnapshot {
  /**
   * Every relationship of one object, whatever its relation, unexpired and visible at the revision;
   * of a partial snapshot (see `holds`), those of the relations it holds only.
   */
  relationshipsOf(resourceType: string, resourceId: string): readonly Relationship[];
  /** As `StoreReader.lookupReverse`; undefined when the snapshot does not hold every relation asked. */
  lookupReverse(query: ReverseQuery): readonly Relationship[] | undefined;
  /**
   * Present on a partial snapshot (an in-memory copy over its limit keeps some relations only):
   * whether it holds every relationship of `resourceType#relation`. Absent: it holds them all.
   */
  holds?(resourceType: string, relation: string): boolean;
  /**
   * `relationshipsOf` packed (see PackedRows), for a walk that reads many objects: optional, a walk
   * packs `relationshipsOf` itself without it.
   */
  packedOf?(resourceType: string, resourceId: string): PackedRows;
  /**
   * `lookupReverse` packed (see ReverseRows), for the walk up a subject's memberships: one list per
   * subject id that has rows, each with the rows of every relation (the caller picks its own);
   * undefined when the snapshot does not hold every relation asked. Optional: a walk packs
   * `lookupReverse` itself without it.
   */
  reverseRows?(query: ReverseQuery): readonly ReverseRows[] | undefined;
}

/**
 * One object's relationships as the synchronous walk reads them: `[head, ...rows]`, each row four
 * slots `relation, subject key, subject, relationship` (packed-rows.ts: `subjectKey`, a small
 * integer); `head` (a PackedHead) says whether a row may carry an expiration, or a caveat. The walk
 * tests a row's relation and subject key from the slots themselves, reads the subject only for a
 * row whose key may be the subject's (or that it follows), and the Relationship object only for a
 * row that grants, is followed, may expire or may carry a caveat: in a copy larger than the CPU's
 * caches each object read is a likely cache miss, and most rows of an object grant nothing.
 */
export type PackedRows = readonly unknown[];

/**
 * One subject's relationships to one resource type as the walk up its memberships reads them:
 * `[caveated, expiring, ...rows]`, each row three slots `relation, resource id, relationship`;
 * `caveated` (`expiring`) is false when no row carries a caveat (an expiration). The walk reads a
 * row's relation and resource id from the slots and the Relationship object only when a header
 * says it must: the object and its resource are each a likely cache miss in a large copy.
 */
export type ReverseRows = readonly unknown[];
