/**
 * PostgreSQL store benchmark on the standard corpus (scale m, about 412k relationships):
 *   LATCH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/postgres-bench.ts [--scale s|m|l]
 * Loads the corpus into a PG schema of its own (dropped at the end) and measures bulk import, the
 * engine's batched forward (100 ids) and reverse lookups, and single-relationship write latency.
 * The corpus is generated before any timer starts.
 */
import pg from "pg";
import { createPostgresStore } from "../src/store/postgres/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";

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

function summarize(label: string, samplesNs: number[], unit: "µs" | "ms"): void {
  samplesNs.sort((a, b) => a - b);
  const div = unit === "µs" ? 1e3 : 1e6;
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  const f = (ns: number) => `${(ns / div).toFixed(unit === "µs" ? 1 : 3)} ${unit}`;
  console.log(
    `${label.padEnd(40)} n=${samplesNs.length}  p50 ${f(percentile(samplesNs, 50))}  p99 ${f(percentile(samplesNs, 99))}  mean ${f(mean)}`,
  );
}

async function timed(samples: number[], work: () => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  await work();
  samples.push(Number(process.hrtime.bigint() - start));
}

const corpus = generateCorpus(scale);
const schema = `latch_bench_${process.pid}_${Date.now()}`;
const store = await createPostgresStore({ url, schema });
try {
  await store.writeSchema(corpus.schema);

  const t0 = process.hrtime.bigint();
  const imported = await store.importRelationships(corpus.relationships);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    `import (scale ${scale})`.padEnd(41) +
      `${imported.count} relationships in ${seconds.toFixed(2)} s = ${Math.round(imported.count / seconds).toLocaleString("en-US")} rel/s`,
  );

  const random = createRandom(99);
  const pick = (prefix: string, n: number, count: number) =>
    Array.from({ length: count }, () => `${prefix}${Math.floor(random() * n)}`);
  const docs = corpus.shape.documents;
  let revision = await store.currentRevision();

  // Warm connections, prepared statements and the buffer cache outside the timed loops.
  for (let i = 0; i < 300; i++) {
    await store.lookupForward(
      { resourceType: "document", resourceIds: pick("d", docs, 100), relations: ["viewer"] },
      revision,
    );
  }

  const forward: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const ids = pick("d", docs, 100);
    await timed(forward, () =>
      store.lookupForward(
        { resourceType: "document", resourceIds: ids, relations: ["viewer", "owner", "parent"] },
        revision,
      ),
    );
  }
  summarize("lookupForward 100 ids x 3 relations", forward, "µs");

  const single: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const ids = pick("d", docs, 1);
    await timed(single, () =>
      store.lookupForward({ resourceType: "document", resourceIds: ids, relations: ["viewer"] }, revision),
    );
  }
  summarize("lookupForward 1 id", single, "µs");

  const reverse: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    const users = pick("u", corpus.shape.users, 1);
    await timed(reverse, () =>
      store.lookupReverse(
        {
          resourceType: "group",
          relations: ["member"],
          subjectType: "user",
          subjectIds: users,
          subjectRelation: "",
        },
        revision,
      ),
    );
  }
  summarize("lookupReverse user -> groups", reverse, "µs");

  const writes: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const relationship = {
      resource: { type: "document", id: `bench${i}` },
      relation: "viewer",
      subject: { type: "user", id: `u${i % corpus.shape.users}` },
    };
    await timed(writes, () => store.write([{ operation: "touch", relationship }]));
  }
  summarize("write 1 relationship (transaction)", writes, "ms");

  revision = await store.currentRevision();
  const concurrent: number[] = [];
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 500; i++) {
        const ids = pick("d", docs, 100);
        await timed(concurrent, () =>
          store.lookupForward(
            { resourceType: "document", resourceIds: ids, relations: ["viewer"] },
            revision,
          ),
        );
      }
    }),
  );
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  summarize("lookupForward 100 ids, 8 concurrent", concurrent, "µs");
  console.log(
    `${"  throughput".padEnd(40)} ${Math.round(concurrent.length / wall).toLocaleString("en-US")} lookups/s`,
  );
} finally {
  await store.close();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
