/**
 * Stores and readers that answer every call by passing it to another: the base for stores that
 * wrap one (the in-memory copy, a test's counting store) and change only a few methods, which they
 * put over these with a spread. Plain objects on purpose: a spread of a class instance would drop
 * the methods on its prototype.
 */
import type { Store, StoreReader } from "./types.js";

export function delegateStore(inner: Store): Store {
  const store: Store = {
    storeId: inner.storeId,
    currentRevision: () => inner.currentRevision(),
    at: (revision) => inner.at(revision),
    writeSchema: (text, options) => inner.writeSchema(text, options),
    write: (updates, preconditions, options) => inner.write(updates, preconditions, options),
    deleteRelationships: (filter, options) => inner.deleteRelationships(filter, options),
    changesSince: (after, limit, within) => inner.changesSince(after, limit, within),
    importRelationships: (relationships, options) => inner.importRelationships(relationships, options),
    sweepExpired: (limit) => inner.sweepExpired(limit),
    decisions: inner.decisions,
    approvals: inner.approvals,
    postureReports: inner.postureReports,
    signals: inner.signals,
    encodeRevision: (revision) => inner.encodeRevision(revision),
    decodeRevision: (token) => inner.decodeRevision(token),
    close: () => inner.close(),
  };
  // Optional capabilities exist on the wrapper exactly when the wrapped store has them.
  if (inner.subscribe !== undefined) store.subscribe = (listener) => inner.subscribe!(listener);
  if (inner.readReplicas !== undefined) store.readReplicas = () => inner.readReplicas!();
  if (inner.historyHorizon !== undefined) store.historyHorizon = () => inner.historyHorizon!();
  if (inner.freshHistoryHorizon !== undefined) store.freshHistoryHorizon = () => inner.freshHistoryHorizon!();
  if (inner.compactHistory !== undefined) store.compactHistory = (options) => inner.compactHistory!(options);
  return store;
}

export function delegateReader(inner: StoreReader): StoreReader {
  const reader: StoreReader = {
    revision: inner.revision,
    readSchema: () => inner.readSchema(),
    readRelationships: (filter, options) => inner.readRelationships(filter, options),
    lookupForward: (query) => inner.lookupForward(query),
    lookupReverse: (query) => inner.lookupReverse(query),
    exportRelationships: () => inner.exportRelationships(),
  };
  if (inner.snapshot !== undefined) reader.snapshot = () => inner.snapshot!();
  return reader;
}
