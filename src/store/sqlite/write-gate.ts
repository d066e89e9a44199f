/**
 * What a write on the serving connection awaits first: the store's write thread may hold the
 * file's write lock (SqliteStore's `background`), and SQLite would wait for it by sleeping on
 * this thread, holding every request. Undefined when nothing runs there.
 */
export type WriteGate = () => Promise<void> | undefined;
