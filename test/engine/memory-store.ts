/**
 * A deliberately simple in-memory Store for engine tests: a list of (relationship, revision added,
 * revision removed) rows, read by linear scan. Only what the engine uses is implemented.
 */
import { LatchError, type Relationship, type Revision } from "../../src/core/index.js";
import { compileSchema } from "../../src/schema/index.js";
import type { ForwardQuery, ReverseQuery, Store } from "../../src/store/index.js";

interface Row {
  readonly r: Relationship;
  readonly added: Revision;
  removed: Revision | undefined;
}

export interface MemoryStore extends Store {
  /** Sets the schema (compiled to check it) at a new revision. */
  writeSchema(text: string): Promise<Revision>;
  /** Count of lookupForward/lookupReverse calls, for batching assertions. */
  readonly reads: number;
}

const keyOf = (r: Relationship) =>
  `${r.resource.type}:${r.resource.id}#${r.relation}@${r.subject.type}:${r.subject.id}#${r.subject.relation ?? ""}`;

export interface MemoryStoreOptions {
  /** Also offer synchronous snapshots (`memorySnapshot`), as the in-memory copy does. */
  readonly snapshots?: boolean;
}

export function createMemoryStore(id = "memory", options: MemoryStoreOptions = {}): MemoryStore {
  let revision = 0n;
  const rows: Row[] = [];
  const schemas: { text: string; revision: Revision }[] = [];
  let reads = 0;
  const visible = (row: Row, at: Revision, now: number) =>
    row.added <= at &&
    (row.removed === undefined || row.removed > at) &&
    (row.r.expiration === undefined || row.r.expiration.getTime() > now);
  const unsupported = (): never => {
    throw new Error("not supported by the memory store");
  };
  /** The relationships visible at `at` that `keep` accepts: every read is one scan. */
  const scan = (at: Revision, now: number, keep: (r: Relationship) => boolean) =>
    rows.filter((row) => visible(row, at, now) && keep(row.r)).map((row) => row.r);
  const reverse = (q: ReverseQuery, at: Revision, now: number) => {
    const ids = new Set(q.subjectIds);
    const rels = new Set(q.relations);
    return scan(
      at,
      now,
      (r) =>
        r.resource.type === q.resourceType &&
        rels.has(r.relation) &&
        r.subject.type === q.subjectType &&
        ids.has(r.subject.id) &&
        (r.subject.relation ?? "") === q.subjectRelation,
    );
  };
  const store: MemoryStore = {
    storeId: id,
    get reads() {
      return reads;
    },
    async currentRevision() {
      return revision;
    },
    async readSchema(at) {
      const r = at ?? revision;
      let found: { text: string; revision: Revision } | undefined;
      for (const s of schemas) if (s.revision <= r) found = s;
      return found;
    },
    async writeSchema(text) {
      compileSchema(text);
      revision++;
      schemas.push({ text, revision });
      return revision;
    },
    readRelationships: unsupported,
    async lookupForward(q: ForwardQuery, at: Revision) {
      reads++;
      const ids = new Set(q.resourceIds);
      const rels = new Set(q.relations);
      return scan(
        at,
        Date.now(),
        (r) => r.resource.type === q.resourceType && ids.has(r.resource.id) && rels.has(r.relation),
      );
    },
    async lookupReverse(q: ReverseQuery, at: Revision) {
      reads++;
      return reverse(q, at, Date.now());
    },
    async write(updates) {
      revision++;
      for (const u of updates) {
        const k = keyOf(u.relationship);
        for (const row of rows) if (row.removed === undefined && keyOf(row.r) === k) row.removed = revision;
        if (u.operation !== "delete") rows.push({ r: u.relationship, added: revision, removed: undefined });
      }
      return revision;
    },
    deleteRelationships: unsupported,
    changesSince: unsupported,
    async importRelationships(relationships) {
      const list: Relationship[] = [];
      for await (const r of relationships) list.push(r);
      const rev = await store.write(
        list.map((relationship) => ({ operation: "touch" as const, relationship })),
      );
      return { revision: rev, count: list.length };
    },
    exportRelationships: unsupported,
    async sweepExpired() {
      return 0;
    },
    encodeRevision(r) {
      return `${id}.${r}`;
    },
    decodeRevision(token) {
      const [store, r] = token.split(".");
      if (store !== id || r === undefined || !/^\d+$/.test(r)) {
        throw new LatchError("revision/invalid-token", "invalid-argument", "foreign or malformed token");
      }
      return BigInt(r);
    },
    async close() {},
  };
  if (options.snapshots === true) {
    store.memorySnapshot = (at) => {
      const now = Date.now();
      return {
        relationshipsOf: (type, objectId) =>
          scan(at, now, (r) => r.resource.type === type && r.resource.id === objectId),
        lookupReverse: (q) => reverse(q, at, now),
      };
    };
  }
  return store;
}
