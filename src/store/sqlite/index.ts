export { type BackupResult, backupSqlite, verifyBackup } from "./backup.js";
export { MIGRATIONS } from "./migrations.js";
export { createSqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
