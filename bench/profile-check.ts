/**
 * Profiling helper: `node --cpu-prof --import tsx bench/profile-check.ts [scale] [--no-mirror]`.
 * Loops uncached checks; reads come from the in-memory copy unless `--no-mirror`. `PROFILE_KIND`
 * picks one kind of check (`deniedRandom`, `groupNested`, ...), `PROFILE_BULK=100` sends them as
 * CheckBulk requests of that many items instead, `PROFILE_MS` sets how long it runs,
 * `PROFILE_WITNESS=1` asks for witnesses (as the audit trail does for the records it keeps).
 * `PROFILE_AUDIT=all|agents` puts the decision recorder on the seam (`PROFILE_AUDIT_MODE=sync`).
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditRecorder } from "../src/audit/index.js";
import { createEngine } from "../src/engine/index.js";
import { decorate } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, pickFixtures } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--")) ?? "s") as Scale;
const corpus = generateCorpus(scale);
const audit = process.env.PROFILE_AUDIT as "all" | "agents" | undefined;
// Auditing: a file, so that the recorder's writer thread can open the log (not `:memory:`).
const dir = audit === undefined ? undefined : mkdtempSync(join(tmpdir(), "latch-profile-"));
const sqlite = await createSqliteStore({ path: dir === undefined ? ":memory:" : join(dir, "audit.db") });
await sqlite.writeSchema(corpus.schema);
await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
const mirror = args.includes("--no-mirror") ? undefined : await loadedMirror(sqlite);
const store = mirror ?? sqlite;
const fx = pickFixtures(corpus, 1_000);
const recorder =
  audit === undefined
    ? undefined
    : createAuditRecorder({
        log: sqlite.decisions,
        policy: audit,
        mode: process.env.PROFILE_AUDIT_MODE === "sync" ? "sync" : "async",
      });
const engine = decorate(
  createEngine({ store, cache: false }),
  ...(recorder === undefined ? [] : [recorder.decorator]),
);
const only = process.env.PROFILE_KIND as keyof typeof fx | undefined;
const inputs =
  only === undefined
    ? [...fx.deniedRandom, ...fx.folderInherited, ...fx.groupNested]
    : (fx[only] as typeof fx.direct);
const bulk = Number(process.env.PROFILE_BULK ?? 0);
const witness = process.env.PROFILE_WITNESS === "1" ? { witness: true } : {};
// Built once, and not as `{ ...input, witness: true }`: on Node 20's V8 a spread followed by a
// property gives every object a map of its own, whose every read then misses its inline cache.
const requests = inputs.map((input) => Object.assign({}, input, witness));
// The loop's window on the profiler's clock (µs, monotonic), to leave loading out of a profile.
const windowStart = process.hrtime.bigint() / 1000n;
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < Number(process.env.PROFILE_MS ?? 8_000)) {
  if (bulk > 0) {
    for (let i = 0; i + bulk <= inputs.length; i += bulk) {
      await engine.checkBulk({ items: inputs.slice(i, i + bulk), ...witness });
      n += bulk;
    }
    continue;
  }
  for (const input of requests) {
    await engine.check(input);
    // A turn of the event loop now and then, as any program serving requests has: a loop of
    // promises alone would starve timers and the audit writer thread's acknowledgements.
    if (++n % 100 === 0) await new Promise(setImmediate);
  }
}
const windowEnd = process.hrtime.bigint() / 1000n;
console.log(
  `window ${windowStart}-${windowEnd}: ${n} checks${bulk > 0 ? ` in bulks of ${bulk}` : ""}, mean ${((performance.now() - t0) / n) * 1000} µs`,
);
await recorder?.close();
if (recorder !== undefined) console.log("audit", recorder.stats());
await store.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
