/**
 * PostgreSQL store benchmark on the standard corpus (scale m, about 412k relationships):
 *   LATCH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/postgres-bench.ts [--scale s|m|l]
 * Loads the corpus into a PG schema of its own (dropped at the end) and measures bulk import, the
 * engine's batched forward (100 ids) and reverse lookups, and single-relationship write latency.
 * The corpus is generated before any timer starts.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import pg from "pg";
import { createEngine } from "../src/engine/index.js";
import { createPostgresStore } from "../src/store/postgres/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { checkMix, loadedMirror, pickFixtures } from "./fixtures.js";

const url = process.env.LATCH_TEST_POSTGRES_URL;
if (url === undefined) {
  console.error("set LATCH_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)");
  process.exit(2);
}
const scaleArg = process.argv.indexOf("--scale");
const scale = (scaleArg >= 0 ? process.argv[scaleArg + 1] : "m") as Scale;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

let cpuNote = "";

function summarize(label: string, samplesNs: number[], unit: "µs" | "ms"): void {
  samplesNs.sort((a, b) => a - b);
  const div = unit === "µs" ? 1e3 : 1e6;
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  const f = (ns: number) => `${(ns / div).toFixed(unit === "µs" ? 1 : 3)} ${unit}`;
  console.log(
    `${label.padEnd(40)} n=${samplesNs.length}  p50 ${f(percentile(samplesNs, 50))}  p99 ${f(percentile(samplesNs, 99))}  mean ${f(mean)}${cpuNote}`,
  );
  cpuNote = "";
}

/** CPU per operation, node and PostgreSQL together. */
function perOp(cpu: number, n: number): string {
  return `  cpu/op ${((cpu / n) * 1e6).toFixed(0)} µs`;
}

async function timed(samples: number[], work: () => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  await work();
  samples.push(Number(process.hrtime.bigint() - start));
}

/**
 * CPU seconds spent by this process and by its PostgreSQL backends (read from /proc: the database
 * runs on this machine). Rates per CPU second stay meaningful when other work shares the cores.
 */
async function cpuSeconds(admin: pg.Client, app: string): Promise<number> {
  const own = process.cpuUsage();
  let total = (own.user + own.system) / 1e6;
  const pids = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [app],
  );
  for (const { pid } of pids.rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // Not on this machine, or gone: count what we can see.
    }
  }
  return total;
}

console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} on this machine while measuring`,
);
const corpus = generateCorpus(scale);
const schema = `latch_bench_${process.pid}_${Date.now()}`;
const app = `latch-bench-${process.pid}`;
const admin = new pg.Client({ connectionString: url });
await admin.connect();
// One connection: the import runs its transactions one at a time anyway, and its backend's CPU
// time is then all in one place.
const store = await createPostgresStore({ url, schema, pool: { max: 1, applicationName: app } });
try {
  await store.writeSchema(corpus.schema);

  const cpu0 = await cpuSeconds(admin, app);
  const t0 = process.hrtime.bigint();
  const imported = await store.importRelationships(corpus.relationships);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (await cpuSeconds(admin, app)) - cpu0;
  console.log(
    `import (scale ${scale})`.padEnd(41) +
      `${imported.count} relationships in ${seconds.toFixed(2)} s = ${Math.round(imported.count / seconds).toLocaleString("en-US")} rel/s` +
      ` (cpu ${cpu.toFixed(2)} s node+postgres = ${Math.round(imported.count / cpu).toLocaleString("en-US")} rel/cpu-s)`,
  );

  const random = createRandom(99);
  const pick = (prefix: string, n: number, count: number) =>
    Array.from({ length: count }, () => `${prefix}${Math.floor(random() * n)}`);
  const docs = corpus.shape.documents;
  let revision = await store.currentRevision();

  // Warm connections, prepared statements and the buffer cache outside the timed loops.
  for (let i = 0; i < 300; i++) {
    await store
      .at(revision)
      .lookupForward({ resourceType: "document", resourceIds: pick("d", docs, 100), relations: ["viewer"] });
  }

  const forward: number[] = [];
  const forwardCpu = await cpuSeconds(admin, app);
  for (let i = 0; i < 2_000; i++) {
    const ids = pick("d", docs, 100);
    await timed(forward, () =>
      store.at(revision).lookupForward({
        resourceType: "document",
        resourceIds: ids,
        relations: ["viewer", "owner", "parent"],
      }),
    );
  }
  cpuNote = perOp((await cpuSeconds(admin, app)) - forwardCpu, forward.length);
  summarize("lookupForward 100 ids x 3 relations", forward, "µs");

  const single: number[] = [];
  const singleCpu = await cpuSeconds(admin, app);
  for (let i = 0; i < 2_000; i++) {
    const ids = pick("d", docs, 1);
    await timed(single, () =>
      store.at(revision).lookupForward({ resourceType: "document", resourceIds: ids, relations: ["viewer"] }),
    );
  }
  cpuNote = perOp((await cpuSeconds(admin, app)) - singleCpu, single.length);
  summarize("lookupForward 1 id", single, "µs");

  const reverse: number[] = [];
  const reverseCpu = await cpuSeconds(admin, app);
  for (let i = 0; i < 2_000; i++) {
    const users = pick("u", corpus.shape.users, 1);
    await timed(reverse, () =>
      store.at(revision).lookupReverse({
        resourceType: "group",
        relations: ["member"],
        subjectType: "user",
        subjectIds: users,
        subjectRelation: "",
      }),
    );
  }
  cpuNote = perOp((await cpuSeconds(admin, app)) - reverseCpu, reverse.length);
  summarize("lookupReverse user -> groups", reverse, "µs");

  // The engine over PostgreSQL, no cache: every Check pays its store round trips.
  const fx = pickFixtures(corpus, 1_000);
  const mix = checkMix(fx, 3_000, random);
  const engine = createEngine({ store, cache: false });
  for (const input of mix.slice(0, 300)) await engine.check(input);
  const checks: number[] = [];
  const checksCpu = await cpuSeconds(admin, app);
  for (const input of mix) await timed(checks, () => engine.check(input));
  cpuNote = perOp((await cpuSeconds(admin, app)) - checksCpu, checks.length);
  summarize("check uncached (mix), in-process", checks, "µs");

  // The same through the in-memory copy, as `latch serve` runs: PostgreSQL answers only the
  // current revision (once per 100 ms window) and the changes feed.
  const loading = performance.now();
  const mirror = await loadedMirror(store);
  console.log(
    `in-memory copy loaded from PostgreSQL in ${((performance.now() - loading) / 1000).toFixed(1)} s`,
  );
  const mirrored = createEngine({ store: mirror, cache: false });
  for (const input of mix.slice(0, 300)) await mirrored.check(input);
  const mirroredChecks: number[] = [];
  const mirroredCpu = await cpuSeconds(admin, app);
  for (const input of mix) await timed(mirroredChecks, () => mirrored.check(input));
  cpuNote = perOp((await cpuSeconds(admin, app)) - mirroredCpu, mirroredChecks.length);
  summarize("check uncached (mix), in-memory copy", mirroredChecks, "µs");

  const writes: number[] = [];
  const writesCpu = await cpuSeconds(admin, app);
  for (let i = 0; i < 1_000; i++) {
    const relationship = {
      resource: { type: "document", id: `bench${i}` },
      relation: "viewer",
      subject: { type: "user", id: `u${i % corpus.shape.users}` },
    };
    await timed(writes, () => store.write([{ operation: "touch", relationship }]));
  }
  cpuNote = perOp((await cpuSeconds(admin, app)) - writesCpu, writes.length);
  summarize("write 1 relationship (transaction)", writes, "ms");

  revision = await store.currentRevision();
  const replica = await createPostgresStore({ url, schema, pool: { max: 8 } });
  const concurrent: number[] = [];
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 500; i++) {
        const ids = pick("d", docs, 100);
        await timed(concurrent, () =>
          replica
            .at(revision)
            .lookupForward({ resourceType: "document", resourceIds: ids, relations: ["viewer"] }),
        );
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  await replica.close();
  summarize("lookupForward 100 ids, 8 concurrent", concurrent, "µs");
  console.log(
    `${"  throughput".padEnd(40)} ${Math.round(concurrent.length / wall).toLocaleString("en-US")} lookups/s`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} at the end`,
  );
} finally {
  await store.close();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
