/**
 * ListSignals has no cursor: how long does one call hold the event loop, by its limit? The handler
 * runs in process over a SQLite store holding N received signals (default 50,000); each call's
 * CPU time is one synchronous stretch (the store answers without a macrotask).
 *
 * Run: `npx tsx bench/stall-lists.ts [N]`. Limits over MAX_LIST_ROWS are refused (request/over-limit).
 */
import { isLatchError } from "../src/core/index.js";
import { signalHandlers } from "../src/server/handlers-signals.js";
import { MAX_LIST_ROWS } from "../src/server/limits.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";

const N = Number(process.argv[2] ?? 50_000);
const EVENT = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

const store = await createSqliteStore({ path: ":memory:" });
await store.writeSchema("definition user {}");
for (let i = 0; i < N; i++) {
  const signal = { issuer: "https://idp.example", jti: `j${i}`, receivedAt: Date.now(), via: "push" };
  await store.signals.record(
    { ...signal, events: [EVENT], effects: [{ event: EVENT, action: "suspend", subject: `user:u${i}` }] },
    [],
  );
}
const list = signalHandlers({ store, signals: undefined }).listSignals as unknown as (
  req: { limit: number },
  ctx: unknown,
) => Promise<{ signals: readonly unknown[] }>;
for (const limit of [100, MAX_LIST_ROWS, N]) {
  for (let run = 0; run < 3; run++) {
    const c0 = process.cpuUsage();
    let answer: string;
    try {
      answer = `${(await list({ limit }, {})).signals.length} rows`;
    } catch (error) {
      answer = isLatchError(error) ? error.code : String(error);
    }
    const c = process.cpuUsage(c0);
    console.log(
      `listSignals limit ${limit} over ${N} signals: ${answer}, CPU ${((c.user + c.system) / 1000).toFixed(1)} ms`,
    );
  }
}
await store.close();
