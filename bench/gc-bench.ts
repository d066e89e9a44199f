/**
 * History compaction under churn: `--touches` TOUCHes (default 1,000,000) of the same `--keys`
 * relationships (default 10,000), in writes of `--batch` (default 500), with compaction running
 * every `--interval` (default 1s) on a `--window` (default 2s) and `--grace` (default 1s); Checks run
 * alongside the whole time. Reports the database size curve (CSV and SVG in bench/results/) and
 * Check p50/p99 while a compaction run is in progress against while none is, from the same run.
 *
 *   npx tsx bench/gc-bench.ts --touches 50000                     # quick, SQLite
 *   LATCH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
 *     npx tsx bench/gc-bench.ts --backend both                    # the full run, both backends
 *
 * Sizes: SQLite's pages in use (page_count - freelist_count; freed pages are reused, the file does
 * not shrink without VACUUM) and the file with its WAL; PostgreSQL's pg_total_relation_size of the
 * store's tables, which counts dead tuples until autovacuum reclaims their space.
 */
import "../src/cli/v8-flags.js";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type CaseResult, summarize } from "../src/cli/load/percentiles.js";
import { parseRelationship } from "../src/core/index.js";
import { createEngine } from "../src/engine/index.js";
import type { RelationshipUpdate, Store } from "../src/store/index.js";
import { createPostgresStore } from "../src/store/postgres/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";

const SCHEMA = `
caveat tagged(n int) { n >= 0 }
definition user {}
definition document {
  relation viewer: user | user with tagged
  permission view = viewer
}`;

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

const touches = Number(arg("touches", "1000000"));
const keys = Number(arg("keys", "10000"));
const batch = Number(arg("batch", "500"));
const windowMs = Number(arg("window", "2000"));
const intervalMs = Number(arg("interval", "1000"));
const graceMs = Number(arg("grace", "1000"));
const backend = arg("backend", "sqlite");
for (const [name, value] of Object.entries({ touches, keys, batch, windowMs, intervalMs, graceMs })) {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
}

interface Sample {
  readonly touches: number;
  readonly seconds: number;
  /** Bytes the database uses (see the header). */
  readonly usedBytes: number;
  /** Bytes on disk (SQLite: file + WAL); PostgreSQL: same as used. */
  readonly diskBytes: number;
}

interface Target {
  readonly name: string;
  readonly store: Store;
  size(): Promise<{ used: number; disk: number }>;
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
      return { used: (pages - free) * pageSize, disk: fileSize(path) + fileSize(`${path}-wal`) };
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
      return { used: bytes, disk: bytes };
    },
    async close() {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}

/** The i-th touch: key i % keys, its caveat context changing so every touch is a real new version. */
function update(i: number): RelationshipUpdate {
  const k = i % keys;
  return {
    operation: "touch",
    relationship: parseRelationship(
      `document:d${k}#viewer@user:u${k % 100}[tagged:{"n":${Math.floor(i / keys)}}]`,
    ),
  };
}

async function run(target: Target) {
  const { store } = target;
  await store.writeSchema(SCHEMA);
  const engine = createEngine({ store, quantizationMs: 0, cache: false });
  const samples: Sample[] = [];
  const during: number[] = [];
  const outside: number[] = [];
  let compacting = false;
  let done = false;
  let runs = 0;
  let removed = 0;
  const started = Date.now();

  const checker = (async () => {
    for (let i = 0; !done; i++) {
      const k = (i * 7919) % keys;
      const wasCompacting = compacting;
      const t0 = process.hrtime.bigint();
      await engine.check({
        resource: { type: "document", id: `d${k}` },
        permission: "view",
        subject: { type: "user", id: `u${k % 100}` },
        context: { n: 1 },
      });
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
        const report = await store.compactHistory!({ windowMs, graceMs, batchSize: 1_000 });
        runs += 1;
        removed += report.relationshipVersions;
      } finally {
        compacting = false;
      }
    }
  })();

  const sampleEvery = Math.max(keys, Math.floor(touches / 100));
  let next = Math.min(keys, touches);
  for (let i = 0; i < touches; ) {
    const n = Math.min(batch, touches - i, next - i);
    const updates = Array.from({ length: n }, (_, j) => update(i + j));
    await store.write(updates);
    // SQLite writes resolve without a turn of the event loop: give the checks and compactions theirs.
    await new Promise((r) => setImmediate(r));
    i += n;
    if (i === next) {
      const size = await target.size();
      samples.push({
        touches: i,
        seconds: (Date.now() - started) / 1000,
        usedBytes: size.used,
        diskBytes: size.disk,
      });
      next = Math.min(touches, next + sampleEvery);
    }
  }
  done = true;
  await Promise.all([checker, compactor]);
  const baseline = samples[0]?.usedBytes ?? 0;
  const peak = Math.max(...samples.map((s) => s.usedBytes));
  return {
    samples,
    baseline,
    peak,
    runs,
    removed,
    checks: [summarize("check while compacting", during), summarize("check, no compaction running", outside)],
  };
}

function svg(title: string, series: { name: string; samples: readonly Sample[] }[]): string {
  const width = 720;
  const height = 360;
  const pad = { left: 80, right: 20, top: 40, bottom: 50 };
  const maxX = Math.max(1, ...series.flatMap((s) => s.samples.map((p) => p.touches)));
  const maxY = Math.max(1, ...series.flatMap((s) => s.samples.map((p) => p.usedBytes)));
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
    const points = s.samples.map((p) => `${x(p.touches).toFixed(1)},${y(p.usedBytes).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${points}"/>`,
    );
    parts.push(
      `<text x="${width - pad.right - 150}" y="${pad.top + 16 * (i + 1)}" fill="${colors[i % colors.length]}">${s.name}: bytes in use</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

console.log(
  `gc-bench: ${touches.toLocaleString("en-US")} touches of ${keys.toLocaleString("en-US")} relationships, window ${windowMs} ms, interval ${intervalMs} ms, grace ${graceMs} ms; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (numbers from a loaded machine mean little)`,
);
const backends = backend === "both" ? ["sqlite", "postgres"] : [backend];
const results: { name: string; samples: readonly Sample[] }[] = [];
const outDir = join(import.meta.dirname, "results");
mkdirSync(outDir, { recursive: true });
const csv = ["backend,touches,seconds,used_bytes,disk_bytes"];
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
      for (const s of r.samples) csv.push(`${name},${s.touches},${s.seconds},${s.usedBytes},${s.diskBytes}`);
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
      console.log(
        `${name}: after the first ${keys.toLocaleString("en-US")} touches ${mib(r.baseline)}, peak ${mib(r.peak)} (${(r.peak / Math.max(1, r.baseline)).toFixed(2)}x), final ${mib(r.samples.at(-1)?.usedBytes ?? 0)}; ${r.runs} compaction runs removed ${r.removed.toLocaleString("en-US")} versions`,
      );
      const [during, outside] = r.checks as [CaseResult, CaseResult];
      for (const c of [during, outside]) {
        console.log(
          `  ${c.name}: ${c.samples} checks, p50 ${c.p50Us.toFixed(0)} µs, p99 ${c.p99Us.toFixed(0)} µs`,
        );
      }
      console.log(
        `  p99 ratio (during / without): ${(during.p99Us / Math.max(1, outside.p99Us)).toFixed(2)}`,
      );
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
