/**
 * The store the engine tests run on: SQLite `:memory:` (the real backend, under the store
 * conformance suite), with the in-memory copy in front of it when the test wants the synchronous
 * in-memory walk. It counts the lookups that reach it, for batching assertions.
 */
import { parseRelationship, type Revision } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import {
  delegateReader,
  delegateStore,
  lastReader,
  type Store,
  type StoreReader,
} from "../../src/store/index.js";
import { createMirroredStore, type MirroredStore } from "../../src/store/mirror/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

export interface MemoryStore extends Store {
  /** Count of lookupForward/lookupReverse calls, for batching assertions. */
  readonly reads: number;
}

export interface MemoryStoreOptions {
  /**
   * Put the in-memory copy in front, so that readers offer synchronous snapshots. Every write
   * here waits until the copy holds it, so a check right after a write takes the in-memory walk.
   */
  readonly snapshots?: boolean;
}

export async function createMemoryStore(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
  const sqlite = await createSqliteStore({ path: ":memory:" });
  let mirror: MirroredStore | undefined;
  if (options.snapshots === true) {
    // Without the push feed: every write here catches the copy up itself, and a property test's
    // hundreds of stores then leave no poll timers behind.
    const { subscribe: _feed, ...unfed } = delegateStore(sqlite);
    mirror = createMirroredStore(unfed);
    if (!(await mirror.ready())) throw new Error("the in-memory copy did not load");
  }
  const inner: Store = mirror ?? sqlite;
  const caughtUp = async (revision: Revision): Promise<Revision> => {
    if (mirror !== undefined && !(await mirror.catchUp(revision))) {
      throw new Error(`the in-memory copy did not reach revision ${revision}`);
    }
    return revision;
  };
  let reads = 0;
  return {
    ...delegateStore(inner),
    get reads() {
      return reads;
    },
    at: lastReader((revision): StoreReader => {
      const reader = inner.at(revision);
      return {
        ...delegateReader(reader),
        lookupForward(query) {
          reads++;
          return reader.lookupForward(query);
        },
        lookupReverse(query) {
          reads++;
          return reader.lookupReverse(query);
        },
      };
    }),
    writeSchema: async (text, options) => caughtUp(await inner.writeSchema(text, options)),
    write: async (updates, preconditions) => caughtUp(await inner.write(updates, preconditions)),
    async deleteRelationships(filter, deleteOptions) {
      const result = await inner.deleteRelationships(filter, deleteOptions);
      await caughtUp(result.revision);
      return result;
    },
    async importRelationships(relationships, importOptions) {
      const result = await inner.importRelationships(relationships, importOptions);
      await caughtUp(result.revision);
      return result;
    },
  };
}

/**
 * An engine with no cache over a memory store holding `schema` and `relationships` (as text), with
 * the in-memory copy when `snapshots`: each answer is the walk's own.
 */
export async function uncachedEngineOver(
  schema: string,
  relationships: readonly string[],
  snapshots: boolean,
): Promise<Engine> {
  const store = await createMemoryStore({ snapshots });
  await store.writeSchema(schema);
  await store.write(
    relationships.map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
  );
  return createEngine({ store, quantizationMs: 0, cache: false });
}
