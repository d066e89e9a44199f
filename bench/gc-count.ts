/**
 * Counts, per Check, what a check costs the serving thread under gc-bench's churn (SQLite): the
 * same paced writer, compaction every 250 ms in a worker thread on its own connection (as the
 * store's background compactor runs it, in `bench/gc-count-thread.ts`, which also says when each
 * of its commits lands), and every check labelled by where the compaction was:
 *
 *   - `after a compaction commit`: the first check after a commit of the thread's;
 *   - `thread running`: a check started while a run was in progress (none of its commits since the
 *     last check);
 *   - `after a write`: the first check after one of the store's own writes;
 *   - `quiet`: the rest.
 *
 * For each: wall time, the serving thread's time on a CPU and waiting for one (Linux
 * `/proc/<pid>/task/<tid>/schedstat`: runnable but not running is the contention), its read
 * syscalls (`.../io` syscr: SQLite reads WAL frames with pread; database pages come through mmap)
 * and minor page faults (`.../stat`), and the statements the check ran, per connection.
 *
 *   npx tsx bench/gc-count.ts [--touches 20000] [--nice 0] [--pause-ms 0]
 *
 * `--nice N`: the thread's nice value; `--pause-ms`: a sleep in the thread before its deletes.
 */
import "../src/cli/v8-flags.js";
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { createEngine } from "../src/engine/index.js";
import type { CompactionReport, RelationshipUpdate } from "../src/store/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { arg, CHURN, CHURN_SCHEMA, churnCheck, churnUpdate } from "./churn.js";
import { timeStatements } from "./statement-timer.js";

const { keys: KEYS, batch: BATCH, rate: RATE, windowMs: WINDOW_MS } = CHURN;

const touches = Number(arg("touches", "20000"));
const nice = Number(arg("nice", "0"));
const pauseMs = Number(arg("pause-ms", "0"));
/** The read connection's mmap_size (the store leaves it at 0: see sqlite-store.ts); "" leaves it. */
const readerMmap = arg("reader-mmap", "");

/** Statements run since the last reset, per connection ("main" or "read") and SQL. */
const ran = new Map<string, number>();
/** Their microseconds. */
const ranUs = new Map<string, number>();
const names = new WeakMap<object, string>();

function countStatements(): void {
  timeStatements(40, (db, sql, us) => {
    const id = `${names.get(db) ?? "other"}: ${sql}`;
    ran.set(id, (ran.get(id) ?? 0) + 1);
    ranUs.set(id, (ranUs.get(id) ?? 0) + us);
  });
}

/** The serving thread's counters from /proc (Linux). */
function threadCounters(): () => {
  runNs: number;
  waitNs: number;
  syscr: number;
  minflt: number;
  vol: number;
  invol: number;
} {
  const base = `/proc/${process.pid}/task/${process.pid}`;
  const fds = ["schedstat", "io", "stat", "status"].map((f) => openSync(`${base}/${f}`, "r"));
  const buf = Buffer.alloc(4096);
  const read = (fd: number) => buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0));
  process.on("exit", () => {
    for (const fd of fds) closeSync(fd);
  });
  return () => {
    const [runNs, waitNs] = read(fds[0]!).split(" ").map(Number) as [number, number];
    const syscr = Number(/syscr: (\d+)/.exec(read(fds[1]!))?.[1]);
    const stat = read(fds[2]!);
    // Fields after the command's closing parenthesis; minflt is the 10th field of the line.
    const minflt = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
    const status = read(fds[3]!);
    const vol = Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
    const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1]);
    return { runNs, waitNs, syscr, minflt, vol, invol };
  };
}

type Label = "after a compaction commit" | "thread running" | "after a write" | "quiet";
interface Figures {
  wallUs: number[];
  runUs: number[];
  waitUs: number[];
  syscr: number[];
  minflt: number[];
  vol: number[];
  invol: number[];
  statements: Map<string, number>;
  statementUs: Map<string, number[]>;
}
const figures = new Map<Label, Figures>();
for (const label of ["after a compaction commit", "thread running", "after a write", "quiet"] as Label[]) {
  figures.set(label, {
    wallUs: [],
    runUs: [],
    waitUs: [],
    syscr: [],
    minflt: [],
    vol: [],
    invol: [],
    statements: new Map(),
    statementUs: new Map(),
  });
}

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
};
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

const update = (i: number): RelationshipUpdate => churnUpdate(i);

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  countStatements();
  const counters = threadCounters();
  const dir = mkdtempSync(join(tmpdir(), "latch-gc-count-"));
  const path = join(dir, "gc.db");
  const store = await createSqliteStore({ path });
  const inner = store as unknown as { db: Database.Database; snapshot: { db: Database.Database } };
  names.set(inner.db, "main");
  names.set(inner.snapshot.db, "read");
  if (readerMmap !== "") inner.snapshot.db.pragma(`mmap_size = ${Number(readerMmap)}`);
  await store.writeSchema(CHURN_SCHEMA);
  const shared = new SharedArrayBuffer(32);
  const flags = new Int32Array(shared, 0, 2);
  const times = new BigInt64Array(shared, 8, 3);
  /** The checks first after a commit: [ms since the commit, wall µs, the run still going]. */
  const sinceCommit: [number, number, boolean][] = [];

  const url = new URL("./gc-count-thread.ts", import.meta.url).href;
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); })`;
  const thread = new Worker(boot, { eval: true, workerData: { path, shared, nice, pauseMs } });
  let settle: ((r: CompactionReport) => void) | undefined;
  // As the store takes the horizon its own thread read (sqlite-store.ts, learnHorizon).
  const learn = (read: unknown) =>
    (store as unknown as { learnHorizon(r: unknown): void }).learnHorizon(read);
  thread.on("message", (m: { kind: string; report?: CompactionReport; read: unknown }) => {
    learn(m.read);
    if (m.kind === "report") settle?.(m.report!);
  });
  const engine = createEngine({ store, quantizationMs: 0, cache: false });
  let wrote = false;
  let done = false;
  let runs = 0;
  const checker = (async () => {
    let commits = Atomics.load(flags, 1);
    for (let i = 0; !done; i++) {
      const k = (i * 7919) % KEYS;
      const running = Atomics.load(flags, 0) === 1;
      const c = Atomics.load(flags, 1);
      const label: Label =
        c !== commits
          ? "after a compaction commit"
          : running
            ? "thread running"
            : wrote
              ? "after a write"
              : "quiet";
      commits = c;
      wrote = false;
      ran.clear();
      ranUs.clear();
      const before = counters();
      const p0 = performance.now();
      await engine.check(churnCheck(k));
      const wallUs = (performance.now() - p0) * 1e3;
      if (label === "after a compaction commit") {
        sinceCommit.push([
          Number(process.hrtime.bigint() - Atomics.load(times, 1)) / 1e6 - wallUs / 1e3,
          wallUs,
          Atomics.load(flags, 0) === 1,
        ]);
      }
      const after = counters();
      const f = figures.get(label)!;
      f.wallUs.push(wallUs);
      f.runUs.push((after.runNs - before.runNs) / 1e3);
      f.waitUs.push((after.waitNs - before.waitNs) / 1e3);
      // The counters' own reads between the two reads of `io`: 4.
      f.syscr.push(after.syscr - before.syscr - 4);
      f.minflt.push(after.minflt - before.minflt);
      f.vol.push(after.vol - before.vol);
      f.invol.push(after.invol - before.invol);
      for (const [sql, n] of ran) f.statements.set(sql, (f.statements.get(sql) ?? 0) + n);
      for (const [sql, t] of ranUs) {
        const list = f.statementUs.get(sql) ?? [];
        if (list.length === 0) f.statementUs.set(sql, list);
        list.push(t);
      }
      await turn();
    }
  })();
  const compacting = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      if (done) break;
      await new Promise<CompactionReport>((resolve) => {
        settle = resolve;
        thread.postMessage({ windowMs: WINDOW_MS, graceMs: WINDOW_MS, batchSize: 1_000 });
      });
      runs += 1;
    }
  })();
  const writing = Date.now();
  for (let i = 0; i < touches; ) {
    const n = Math.min(BATCH, touches - i);
    await store.write(Array.from({ length: n }, (_, j) => update(i + j)));
    wrote = true;
    i += n;
    const wait = writing + (i * 1000) / RATE - Date.now();
    await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
  }
  done = true;
  await Promise.all([checker, compacting]);
  await thread.terminate();
  console.log(
    `gc-count: ${touches} touches, ${runs} compaction runs, ${Atomics.load(flags, 1)} compaction commits, nice ${nice}, pause ${pauseMs} ms, reader mmap ${readerMmap || "as the store sets it"}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  const us = (v: number) => `${v.toFixed(0)}`;
  const slowRate = (f: Figures) => f.wallUs.filter((w) => w > 100).length / Math.max(1, f.wallUs.length);
  const quietRate = slowRate(figures.get("quiet")!);
  const excess = (["after a compaction commit", "thread running"] as Label[])
    .map((l) => figures.get(l)!)
    .reduce((sum, f) => sum + (slowRate(f) - quietRate) * f.wallUs.length, 0);
  console.log(
    `checks over 100 µs beyond the quiet checks' rate, while the thread runs or first after its commit: ${(excess / Math.max(1, runs)).toFixed(2)} a run`,
  );
  for (const [lo, hi] of [
    [0, 0.1],
    [0.1, 0.3],
    [0.3, 1],
    [1, 1e9],
  ] as const) {
    const inside = sinceCommit.filter(([ms]) => ms >= lo && ms < hi);
    console.log(
      `first check after a commit, started ${lo}-${hi} ms after it: ${inside.length}, over 100 µs ${inside.filter(([, w]) => w > 100).length}, run still going at its end ${inside.filter(([, , r]) => r).length}, wall p50 ${us(
        percentile(
          inside.map(([, w]) => w),
          0.5,
        ),
      )} µs`,
    );
  }
  for (const [label, f] of figures) {
    const n = f.wallUs.length;
    const slow = f.wallUs.map((w, j) => [w, j] as const).filter(([w]) => w > 100);
    const slowMean = (xs: number[]) => mean(slow.map(([, j]) => xs[j]!)).toFixed(1);
    console.log(
      `${label}: ${n} checks, wall p50 ${us(percentile(f.wallUs, 0.5))} p99 ${us(percentile(f.wallUs, 0.99))} µs; on CPU (tick-granular) mean ${mean(f.runUs).toFixed(1)} µs, waiting for a CPU mean ${mean(f.waitUs).toFixed(1)} µs; read syscalls mean ${mean(f.syscr).toFixed(2)}, minor faults mean ${mean(f.minflt).toFixed(2)}, blocked (voluntary switches) mean ${mean(f.vol).toFixed(3)}, preempted mean ${mean(f.invol).toFixed(3)}`,
    );
    console.log(
      `    over 100 µs: ${slow.length} (${((100 * slow.length) / Math.max(1, n)).toFixed(2)}%), their means: on CPU ${slowMean(f.runUs)} µs, waiting ${slowMean(f.waitUs)} µs, read syscalls ${slowMean(f.syscr)}, minor faults ${slowMean(f.minflt)}, blocked ${slowMean(f.vol)}, preempted ${slowMean(f.invol)}`,
    );
    const rows = [...f.statements].sort((a, b) => b[1] - a[1]).slice(0, 6);
    for (const [sql, c] of rows) {
      console.log(
        `    ${(c / Math.max(1, n)).toFixed(2)} a check, p50 ${percentile(f.statementUs.get(sql) ?? [], 0.5).toFixed(1)} µs, p90 ${percentile(f.statementUs.get(sql) ?? [], 0.9).toFixed(1)} µs: ${sql}`,
      );
    }
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
