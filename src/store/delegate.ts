/**
 * A store that answers every call by passing it to another: the base for stores that wrap one
 * (the in-memory copy) and change only a few methods, which they put over this with a spread.
 */
import type { Store } from "./types.js";

export function delegateStore(inner: Store): Store {
  const store: Store = {
    storeId: inner.storeId,
    currentRevision: () => inner.currentRevision(),
    readSchema: (revision) => inner.readSchema(revision),
    writeSchema: (text) => inner.writeSchema(text),
    readRelationships: (filter, options) => inner.readRelationships(filter, options),
    lookupForward: (query, revision) => inner.lookupForward(query, revision),
    lookupReverse: (query, revision) => inner.lookupReverse(query, revision),
    write: (updates, preconditions) => inner.write(updates, preconditions),
    deleteRelationships: (filter, options) => inner.deleteRelationships(filter, options),
    changesSince: (after, limit) => inner.changesSince(after, limit),
    importRelationships: (relationships, options) => inner.importRelationships(relationships, options),
    exportRelationships: (revision) => inner.exportRelationships(revision),
    sweepExpired: (limit) => inner.sweepExpired(limit),
    encodeRevision: (revision) => inner.encodeRevision(revision),
    decodeRevision: (token) => inner.decodeRevision(token),
    close: () => inner.close(),
  };
  // Optional capabilities exist on the wrapper exactly when the wrapped store has them.
  if (inner.subscribe !== undefined) store.subscribe = (listener) => inner.subscribe!(listener);
  if (inner.memorySnapshot !== undefined)
    store.memorySnapshot = (revision) => inner.memorySnapshot!(revision);
  return store;
}
