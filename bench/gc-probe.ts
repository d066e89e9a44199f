/**
 * Where the time of a slow Check goes under gc-bench's churn (SQLite): the same paced writer and
 * compaction loop as `bench/gc-bench.ts`, and every check labelled by what ran just before it (a
 * compaction run, a write, neither). For each label: wall and CPU time, how many statements the
 * check ran, and the time of each statement (every statement prepared on any connection is timed,
 * by wrapping better-sqlite3's `prepare` before the store opens), and how many checks overlapped a
 * V8 garbage collection.
 *
 *   npx tsx bench/gc-probe.ts [--touches 20000]
 *     [--variant base|no-mmap|read-connection|thread|store-thread]
 *     [--reader-cache KiB]
 *
 * Variants, each an experiment on the cause (none is how the store runs): `no-mmap` turns off
 * mmap on the store's read connection (since issue 18 the store opens it so: the variant now
 * changes nothing); `read-connection` runs compaction on the read connection
 * itself (SQLite keeps a connection's page cache across its own commits, not across another
 * connection's); `thread` runs it in a worker thread on a connection of its own
 * (`bench/gc-probe-thread.ts`). `store-thread` is how a serving store now runs it: the store's own
 * background compaction (`background: true`), in its worker thread (store/sqlite/compaction-thread.ts);
 * `base` runs it in place, on the serving thread, as `latch gc` does.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { createEngine } from "../src/engine/index.js";
import type { CompactionOptions, CompactionReport, RelationshipUpdate, Store } from "../src/store/index.js";
import { createSqliteCompaction } from "../src/store/sqlite/compaction.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { arg, CHURN, CHURN_SCHEMA, churnCheck, churnUpdate } from "./churn.js";
import { timeStatements } from "./statement-timer.js";

const { keys: KEYS, batch: BATCH, rate: RATE, windowMs: WINDOW_MS } = CHURN;

const touches = Number(arg("touches", "20000"));
const variant = arg("variant", "base");
/** The read connection's page cache in KiB (the store opens it with 65,536). */
const readerCache = arg("reader-cache", "");
if (!["base", "no-mmap", "read-connection", "thread", "store-thread"].includes(variant)) {
  throw new Error(`--variant must be base, no-mmap, read-connection, thread or store-thread, got ${variant}`);
}

/** Microseconds spent in each statement (by its SQL's start) since the last reset. */
const statementUs = new Map<string, number>();
let statements = 0;

function countStatements(): void {
  timeStatements(48, (_db, sql, us) => {
    statements += 1;
    statementUs.set(sql, (statementUs.get(sql) ?? 0) + us);
  });
}

type Label = "first after a compaction" | "first after a write" | "other";

interface Figures {
  wallUs: number[];
  cpuUs: number[];
  statements: number[];
  byStatement: Map<string, number[]>;
  windows: [number, number][];
}

const figures = new Map<Label, Figures>();
for (const label of ["first after a compaction", "first after a write", "other"] as Label[]) {
  figures.set(label, { wallUs: [], cpuUs: [], statements: [], byStatement: new Map(), windows: [] });
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Compaction through the store, or one of the variants' (see the header). */
async function compactor(
  store: Store,
  path: string,
): Promise<{
  run(o: CompactionOptions): Promise<CompactionReport>;
  close(): Promise<void>;
}> {
  const inner = store as unknown as { snapshot: { db: Database.Database; release(): void } };
  if (variant === "no-mmap") inner.snapshot.db.pragma("mmap_size = 0");
  if (readerCache !== "") inner.snapshot.db.pragma(`cache_size = -${Number(readerCache)}`);
  if (variant === "read-connection") {
    const c = createSqliteCompaction(inner.snapshot.db, () => inner.snapshot.release());
    return { run: (o) => c.run(o), close: async () => {} };
  }
  if (variant === "store-thread") {
    return { run: (o) => store.compactHistory!({ ...o, background: true }), close: async () => {} };
  }
  if (variant !== "thread") return { run: (o) => store.compactHistory!(o), close: async () => {} };
  const url = new URL("./gc-probe-thread.ts", import.meta.url).href;
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); })`;
  const thread = new Worker(boot, { eval: true, workerData: { path } });
  return {
    run: (o) =>
      new Promise((resolve) => {
        thread.once("message", resolve);
        thread.postMessage(o);
      }),
    close: async () => void (await thread.terminate()),
  };
}

const update = (i: number): RelationshipUpdate => churnUpdate(i);

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  countStatements();
  const dir = mkdtempSync(join(tmpdir(), "latch-gc-probe-"));
  const path = join(dir, "gc.db");
  const store = await createSqliteStore({ path });
  await store.writeSchema(CHURN_SCHEMA);
  const compaction = await compactor(store, path);
  const gcs: [number, number][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.duration]);
  });
  observer.observe({ entryTypes: ["gc"] });
  const engine = createEngine({ store, quantizationMs: 0, cache: false });
  let next: Label = "other";
  let done = false;
  const checker = (async () => {
    for (let i = 0; !done; i++) {
      const k = (i * 7919) % KEYS;
      const label = next;
      next = "other";
      statementUs.clear();
      statements = 0;
      const cpu0 = process.cpuUsage();
      const p0 = performance.now();
      await engine.check(churnCheck(k));
      record(figures.get(label)!, p0, process.cpuUsage(cpu0));
      await turn();
    }
  })();
  const compacting = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      if (done) break;
      await compaction.run({ windowMs: WINDOW_MS, graceMs: WINDOW_MS, batchSize: 1_000 });
      next = "first after a compaction";
    }
  })();
  const writing = Date.now();
  for (let i = 0; i < touches; ) {
    const n = Math.min(BATCH, touches - i);
    await store.write(Array.from({ length: n }, (_, j) => update(i + j)));
    i += n;
    if (next === "other") next = "first after a write";
    const wait = writing + (i * 1000) / RATE - Date.now();
    await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
  }
  done = true;
  await Promise.all([checker, compacting]);
  await turn();
  observer.disconnect();
  report(gcs);
  await compaction.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

function record(f: Figures, p0: number, cpu: NodeJS.CpuUsage): void {
  const p1 = performance.now();
  f.wallUs.push((p1 - p0) * 1e3);
  f.cpuUs.push(cpu.user + cpu.system);
  f.statements.push(statements);
  f.windows.push([p0, p1]);
  for (const [sql, us] of statementUs) {
    const list = f.byStatement.get(sql) ?? [];
    if (list.length === 0) f.byStatement.set(sql, list);
    list.push(us);
  }
}

function report(gcs: readonly [number, number][]): void {
  const us = (v: number) => `${v.toFixed(0)} µs`;
  console.log(`gc-probe: variant ${variant}, ${touches} touches (a loaded machine's figures mean little)`);
  for (const [label, f] of figures) {
    const overlapped = f.windows.filter(([a, b]) => gcs.some(([g, d]) => g < b && g + d > a)).length;
    console.log(
      `${label}: ${f.wallUs.length} checks, wall p50 ${us(percentile(f.wallUs, 0.5))} p99 ${us(percentile(f.wallUs, 0.99))}, CPU p50 ${us(percentile(f.cpuUs, 0.5))}, statements per check p50 ${percentile(f.statements, 0.5)} max ${percentile(f.statements, 1)}, ${overlapped} overlapped a GC`,
    );
    const rows = [...f.byStatement].map(([sql, v]) => [sql, percentile(v, 0.5)] as const);
    for (const [sql, p50] of rows.sort((a, b) => b[1] - a[1]).slice(0, 4)) {
      console.log(`    ${us(p50).padStart(8)} p50  ${sql}`);
    }
  }
}

await main();
