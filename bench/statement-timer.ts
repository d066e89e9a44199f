/**
 * Every SQLite statement prepared from now on, timed (the compaction probes, gc-probe.ts and
 * gc-count.ts): `ran` hears each run of `run`, `get` or `all` with its connection, the start of
 * its SQL (whitespace folded, `keyLength` characters) and its microseconds.
 */
import Database from "better-sqlite3";

export function timeStatements(
  keyLength: number,
  ran: (db: Database.Database, sql: string, us: number) => void,
): void {
  type Prepare = (this: Database.Database, sql: string) => Database.Statement;
  const proto = Database.prototype as unknown as { prepare: Prepare };
  const prepare = proto.prepare;
  proto.prepare = function (sql) {
    const stmt = prepare.call(this, sql) as unknown as Record<string, (...a: unknown[]) => unknown>;
    const db = this;
    const key = sql.replace(/\s+/g, " ").slice(0, keyLength);
    for (const method of ["run", "get", "all"]) {
      const f = stmt[method]!;
      stmt[method] = function (this: unknown, ...a: unknown[]) {
        const t0 = performance.now();
        try {
          return f.apply(this, a);
        } finally {
          ran(db, key, (performance.now() - t0) * 1e3);
        }
      };
    }
    return stmt as unknown as Database.Statement;
  };
}
