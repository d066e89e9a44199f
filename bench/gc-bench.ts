/**
 * History compaction under churn: `--touches` TOUCHes (default 1,000,000) of the same `--keys`
 * relationships (default 10,000), in writes of `--batch` (default 500), paced to at most `--rate`
 * touches a second (default 1,000; 0: as fast as the store takes them), each touch changing the
 * relationship's caveat context so that it is a new version; compaction runs every `--interval`
 * (default 250 ms) on a `--window` (default 250 ms) and `--grace` (default 250 ms), and Checks run
 * alongside the whole time. Reports the database size curve (CSV and SVG in bench/results/), where
 * the bytes are (per table and index) after the first `--keys` touches and at the end, and Check
 * p50/p99 while a compaction run is in progress against while none is, from the same run.
 *
 *   npx tsx bench/gc-bench.ts --touches 50000                     # quick, SQLite
 *   LATCH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
 *     npx tsx bench/gc-bench.ts --backend both                    # the full run, both backends
 *   npx tsx bench/gc-bench.ts --placement in-place                # compaction on the serving thread
 *
 * Why these defaults: a version closed at time c is deleted by the first run that publishes a
 * horizon past it (c + window, + up to one interval) once the grace has passed (the run after), so
 * a store keeps about rate x (window + interval + grace) versions beside its live rows, whatever
 * the compaction does: 1,000/s x 0.5-0.75 s is 500-750 versions beside 10,000 live rows (more when
 * a loaded machine runs compaction late: at 2,000/s under load 24 SQLite kept up to 3,000 and its
 * size reached 2.02x, its B-trees 31-37% empty after churn). That is what the issue's "within 2x
 * of the size after the first 10,000 touches" can bound; a 24 h window at 1,000 touches/s keeps
 * 86 million versions, the window's cost and not a failure of compaction. What the bench shows is that the size levels off (compaction keeps up and the
 * space it frees is reused); `--rate 0` shows that at full speed too, higher by the rate.
 *
 * Size, the same measure on both backends: the bytes the store's data takes, free space inside
 * it included. SQLite: page_count x page_size (the file as it is once its WAL is checkpointed:
 * free pages count; they are reused, the file does not shrink without VACUUM); the WAL file is
 * reported beside it. PostgreSQL: pg_total_relation_size of the store's tables (heap with dead
 * tuples and free space, indexes, TOAST, free space and visibility maps); the server's WAL is
 * shared by every database of the cluster and not counted.
 */
import "../src/cli/v8-flags.js";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type CaseResult, summarize } from "../src/cli/load/percentiles.js";
import { createEngine } from "../src/engine/index.js";
import type { RelationshipUpdate, Store } from "../src/store/index.js";
import { createPostgresStore } from "../src/store/postgres/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { arg, CHURN_SCHEMA, churnCheck, churnUpdate } from "./churn.js";

const touches = Number(arg("touches", "1000000"));
const keys = Number(arg("keys", "10000"));
const batch = Number(arg("batch", "500"));
const rate = Number(arg("rate", "1000"));
const windowMs = Number(arg("window", "250"));
const intervalMs = Number(arg("interval", "250"));
const graceMs = Number(arg("grace", "250"));
const backend = arg("backend", "sqlite");
/**
 * `background` (the default): runs as a serving store's background compactor asks for them (on
 * SQLite, a file's worker thread); `in-place`: on the serving thread, as `latch gc` runs.
 */
const placement = arg("placement", "background");
if (placement !== "background" && placement !== "in-place") {
  throw new Error(`--placement must be background or in-place, got ${placement}`);
}
for (const [name, value] of Object.entries({ touches, keys, batch, rate, windowMs, intervalMs, graceMs })) {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
}

interface Size {
  /** The database's size, free space inside it included (see the header): what the ratio is of. */
  readonly db: number;
  /** SQLite: pages holding data (page_count - freelist_count); PostgreSQL: the same as `db`. */
  readonly inUse: number;
  /** SQLite: the WAL file; PostgreSQL: 0 (the server's WAL is not the store's). */
  readonly wal: number;
}

interface Sample extends Size {
  readonly touches: number;
  readonly seconds: number;
}

interface Target {
  readonly name: string;
  readonly store: Store;
  size(): Promise<Size>;
  /** Where the bytes are: one line per table or index, largest first. */
  breakdown(): Promise<string[]>;
  close(): Promise<void>;
}

async function sqliteTarget(dir: string): Promise<Target> {
  const path = join(dir, "gc.db");
  const store = await createSqliteStore({ path });
  const Database = (await import("better-sqlite3")).default;
  const probe = new Database(path, { readonly: true });
  const fileSize = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return {
    name: "sqlite",
    store,
    async size() {
      const pages = probe.pragma("page_count", { simple: true }) as number;
      const free = probe.pragma("freelist_count", { simple: true }) as number;
      const pageSize = probe.pragma("page_size", { simple: true }) as number;
      return { db: pages * pageSize, inUse: (pages - free) * pageSize, wal: fileSize(`${path}-wal`) };
    },
    async breakdown() {
      const rows = probe
        .prepare(
          "SELECT name, count(*) AS pages, sum(pgsize) AS bytes, sum(unused) AS unused, sum(ncell) AS cells FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT 4",
        )
        .all() as { name: string; pages: number; bytes: number; unused: number; cells: number }[];
      const free = probe.pragma("freelist_count", { simple: true }) as number;
      const pageSize = probe.pragma("page_size", { simple: true }) as number;
      return [
        ...rows.map(
          (r) =>
            `${r.name}: ${(r.bytes / 2 ** 20).toFixed(2)} MiB in ${r.pages} pages, ${((100 * r.unused) / Math.max(1, r.bytes)).toFixed(0)}% unused, ${r.cells} cells`,
        ),
        `freelist: ${free} pages (${((free * pageSize) / 2 ** 20).toFixed(2)} MiB); WAL file ${(fileSize(`${path}-wal`) / 2 ** 20).toFixed(2)} MiB`,
      ];
    },
    async close() {
      probe.close();
      await store.close();
    },
  };
}

async function postgresTarget(url: string): Promise<Target> {
  const schema = `latch_gcbench_${process.pid}`;
  const store = await createPostgresStore({ url, schema, pool: { max: 4 } });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  return {
    name: "postgres",
    store,
    async size() {
      const result = await admin.query<{ n: string }>(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS n FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      );
      const bytes = Number(result.rows[0]?.n ?? 0);
      return { db: bytes, inUse: bytes, wal: 0 };
    },
    async breakdown() {
      const result = await admin.query<{
        name: string;
        total: string;
        rel: string;
        dead: string | null;
        live: string | null;
      }>(
        `SELECT c.relname AS name, pg_total_relation_size(c.oid)::text AS total, pg_relation_size(c.oid)::text AS rel,
           s.n_dead_tup::text AS dead, s.n_live_tup::text AS live
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6`,
        [schema],
      );
      return result.rows.map(
        (r) =>
          `${r.name}: ${(Number(r.total) / 2 ** 20).toFixed(2)} MiB${r.live === null ? "" : " with its indexes and TOAST"}, main fork ${(Number(r.rel) / 2 ** 20).toFixed(2)} MiB${r.live === null ? "" : `, ${r.live} live / ${r.dead} dead tuples`}`,
      );
    },
    async close() {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}

/** The i-th touch: its caveat context changes, so every touch is a real new version. */
const update = (i: number): RelationshipUpdate => churnUpdate(i, keys);

async function run(target: Target) {
  const { store } = target;
  await store.writeSchema(CHURN_SCHEMA);
  const engine = createEngine({ store, quantizationMs: 0, cache: false });
  const samples: Sample[] = [];
  const during: number[] = [];
  const outside: number[] = [];
  let compacting = false;
  // The first check after a run counts as during it: on SQLite the run's commit made the read
  // connection drop its page cache, and that check pays for it (a run is often one synchronous
  // transaction, which no check can start inside of).
  let aftermath = false;
  let done = false;
  let runs = 0;
  let removed = 0;
  const started = Date.now();

  const checker = (async () => {
    for (let i = 0; !done; i++) {
      const k = (i * 7919) % keys;
      const wasCompacting = compacting || aftermath;
      aftermath = false;
      const t0 = process.hrtime.bigint();
      await engine.check(churnCheck(k));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      (wasCompacting || compacting ? during : outside).push(ms);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const compactor = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, intervalMs));
      if (done) break;
      compacting = true;
      try {
        const report = await store.compactHistory!({
          windowMs,
          graceMs,
          batchSize: 1_000,
          background: placement === "background",
        });
        runs += 1;
        removed += report.relationshipVersions;
      } finally {
        compacting = false;
        aftermath = true;
      }
    }
  })();

  const sampleEvery = Math.max(keys, Math.floor(touches / 100));
  let next = Math.min(keys, touches);
  const writing = Date.now();
  let first: string[] = [];
  for (let i = 0; i < touches; ) {
    const n = Math.min(batch, touches - i, next - i);
    const updates = Array.from({ length: n }, (_, j) => update(i + j));
    await store.write(updates);
    i += n;
    // SQLite writes resolve without a turn of the event loop: give the checks and compactions theirs
    // (a timer when the pace says to wait, else one turn).
    const wait = rate > 0 ? writing + (i * 1000) / rate - Date.now() : 0;
    await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
    if (i === next) {
      samples.push({ touches: i, seconds: (Date.now() - started) / 1000, ...(await target.size()) });
      if (samples.length === 1) first = await target.breakdown();
      next = Math.min(touches, next + sampleEvery);
    }
  }
  const seconds = (Date.now() - writing) / 1000;
  done = true;
  await Promise.all([checker, compactor]);
  return {
    samples,
    seconds,
    breakdown: { first, last: await target.breakdown() },
    runs,
    removed,
    slow: {
      during: during.filter((ms) => ms > 0.1).length,
      outside: outside.filter((ms) => ms > 0.1).length,
    },
    checks: [
      summarize("check while compacting or first after", during),
      summarize("check, no compaction running", outside),
    ],
  };
}

type Outcome = Awaited<ReturnType<typeof run>>;

/** The figures the issue asks for, each ratio against the size after the first `keys` touches. */
function printOutcome(name: string, r: Outcome): void {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const first = r.samples[0];
  const last = r.samples.at(-1);
  if (first === undefined || last === undefined) return;
  const peak = Math.max(...r.samples.map((s) => s.db));
  const ratio = (b: number, base: number) => `${(b / Math.max(1, base)).toFixed(2)}x`;
  console.log(
    `${name}: ${touches.toLocaleString("en-US")} touches in ${r.seconds.toFixed(1)} s (${Math.round(touches / r.seconds).toLocaleString("en-US")}/s); ${r.runs} compaction runs removed ${r.removed.toLocaleString("en-US")} versions`,
  );
  console.log(
    `  database size: ${mib(first.db)} after the first ${keys.toLocaleString("en-US")} touches, peak ${mib(peak)} (${ratio(peak, first.db)}), final ${mib(last.db)} (${ratio(last.db, first.db)})`,
  );
  if (name === "sqlite") {
    const peakInUse = Math.max(...r.samples.map((s) => s.inUse));
    const peakWithWal = Math.max(...r.samples.map((s) => s.db + s.wal));
    console.log(
      `  pages in use: ${mib(first.inUse)} first, peak ${mib(peakInUse)} (${ratio(peakInUse, first.inUse)}); with the WAL file: ${mib(first.db + first.wal)} first, peak ${mib(peakWithWal)} (${ratio(peakWithWal, first.db + first.wal)}), largest WAL ${mib(Math.max(...r.samples.map((s) => s.wal)))}`,
    );
  }
  console.log(`  where the bytes are after the first ${keys.toLocaleString("en-US")} touches:`);
  for (const line of r.breakdown.first) console.log(`    ${line}`);
  console.log("  and at the end:");
  for (const line of r.breakdown.last) console.log(`    ${line}`);
  const [during, outside] = r.checks as [CaseResult, CaseResult];
  for (const c of [during, outside]) {
    console.log(
      `  ${c.name}: ${c.samples} checks, p50 ${c.p50Us.toFixed(0)} µs, p99 ${c.p99Us.toFixed(0)} µs`,
    );
  }
  console.log(`  p99 ratio (during / without): ${(during.p99Us / Math.max(1, outside.p99Us)).toFixed(2)}`);
  // Counts, not shares: a p99 also moves when the set around the slow checks grows or shrinks.
  console.log(
    `  checks over 100 µs: ${r.slow.during} during (${(r.slow.during / Math.max(1, r.runs)).toFixed(2)} a run), ${r.slow.outside} without`,
  );
}

function svg(title: string, series: { name: string; samples: readonly Sample[] }[]): string {
  const width = 720;
  const height = 360;
  const pad = { left: 80, right: 20, top: 40, bottom: 50 };
  const maxX = Math.max(1, ...series.flatMap((s) => s.samples.map((p) => p.touches)));
  // Room for each backend's bound too: twice its size after the first `keys` touches.
  const bound = (s: { samples: readonly Sample[] }) => 2 * (s.samples[0]?.db ?? 0);
  const maxY = Math.max(1, ...series.flatMap((s) => [bound(s), ...s.samples.map((p) => p.db)]));
  const x = (v: number) => pad.left + (v / maxX) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - (v / maxY) * (height - pad.top - pad.bottom);
  const colors = ["#1f77b4", "#d62728"];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
    `<line x1="${pad.left}" y1="${y(0)}" x2="${width - pad.right}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${pad.left}" y1="${y(0)}" x2="${pad.left}" y2="${pad.top}" stroke="#333"/>`,
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">touches (max ${maxX.toLocaleString("en-US")})</text>`,
    `<text x="${pad.left - 8}" y="${pad.top}" text-anchor="end">${(maxY / 2 ** 20).toFixed(1)} MiB</text>`,
    `<text x="${pad.left - 8}" y="${y(0)}" text-anchor="end">0</text>`,
  ];
  for (const [i, s] of series.entries()) {
    const color = colors[i % colors.length];
    const points = s.samples.map((p) => `${x(p.touches).toFixed(1)},${y(p.db).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`);
    parts.push(
      `<line x1="${pad.left}" y1="${y(bound(s)).toFixed(1)}" x2="${width - pad.right}" y2="${y(bound(s)).toFixed(1)}" stroke="${color}" stroke-dasharray="6 4"/>`,
    );
    parts.push(
      `<text x="${width - pad.right - 260}" y="${pad.top + 16 * (i + 1)}" fill="${color}">${s.name}: database size (dashed: 2x the first)</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

console.log(
  `gc-bench: ${touches.toLocaleString("en-US")} touches of ${keys.toLocaleString("en-US")} relationships, ${rate > 0 ? `at most ${rate.toLocaleString("en-US")}/s` : "unpaced"}, window ${windowMs} ms, interval ${intervalMs} ms, grace ${graceMs} ms; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (numbers from a loaded machine mean little)`,
);
const backends = backend === "both" ? ["sqlite", "postgres"] : [backend];
const results: { name: string; samples: readonly Sample[] }[] = [];
const outDir = join(import.meta.dirname, "results");
mkdirSync(outDir, { recursive: true });
const csv = ["backend,touches,seconds,db_bytes,in_use_bytes,wal_bytes"];
const dir = mkdtempSync(join(tmpdir(), "latch-gc-bench-"));
try {
  for (const name of backends) {
    let target: Target;
    if (name === "sqlite") target = await sqliteTarget(dir);
    else if (name === "postgres") {
      const url = process.env.LATCH_TEST_POSTGRES_URL;
      if (url === undefined) throw new Error("--backend postgres needs LATCH_TEST_POSTGRES_URL");
      target = await postgresTarget(url);
    } else throw new Error(`--backend must be sqlite, postgres or both, got ${name}`);
    try {
      const r = await run(target);
      results.push({ name, samples: r.samples });
      for (const s of r.samples) {
        csv.push(`${name},${s.touches},${s.seconds},${s.db},${s.inUse},${s.wal}`);
      }
      printOutcome(name, r);
    } finally {
      await target.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const label = `gc-${backend}-${touches}`;
writeFileSync(join(outDir, `${label}.csv`), `${csv.join("\n")}\n`);
writeFileSync(
  join(outDir, `${label}.svg`),
  svg(`Latch: database size under ${touches.toLocaleString("en-US")} touches, with compaction`, results),
);
console.log(`wrote bench/results/${label}.csv and .svg`);
