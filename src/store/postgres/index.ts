/** PostgreSQL datastore: the shared store for several Latch replicas on one database. */
export type { PoolOptions } from "./connection.js";
export { LATEST_VERSION as POSTGRES_SCHEMA_VERSION } from "./migrations.js";
export { isPostgresUrl } from "./sql-names.js";
export {
  createPostgresStore,
  migratePostgres,
  type PostgresStore,
  type PostgresStoreOptions,
} from "./store.js";
