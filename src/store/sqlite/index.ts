export { MIGRATIONS } from "./migrations.js";
export { createSqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
