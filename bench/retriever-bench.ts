/**
 * The LangChain retriever (`latch/langchain`) on the benchmark corpus with a synthetic vector
 * index of 100,000 chunks over the corpus's documents: k=10 for the typical and the heaviest
 * user, post-filter and pre-filter, and the bare store's search for comparison, through the
 * embedded client (in process, the in-memory copy on).
 * Run: `npx tsx bench/retriever-bench.ts [scale] [--chunks N] [--queries N]` (default m, 100000, 200).
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Document, type DocumentInterface } from "@langchain/core/documents";
import { createEmbedded } from "../src/client/index.js";
import { LatchRetriever, type RetrievalReport } from "../src/client/langchain/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { pickFixtures } from "./fixtures.js";
import { SyntheticVectorStore } from "./synthetic-vector-store.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--")) ?? "m") as Scale;
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at < 0 ? fallback : Number(args[at + 1]);
};
const CHUNKS = flag("--chunks", 100_000);
const QUERIES = flag("--queries", 200);
const WORDS = "plan budget launch risk memo quarter hiring design search index review forecast".split(" ");

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const ms = (x: number) => `${x.toFixed(2)} ms`;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-retriever-bench-"));
  try {
    const corpus = generateCorpus(scale);
    const store = await createSqliteStore({ path: join(dir, "bench.db") });
    await store.writeSchema(corpus.schema);
    await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
    const client = await createEmbedded({ database: "", store, audit: false });
    const fx = pickFixtures(corpus, 100);
    const random = createRandom(5);
    const vectors = new SyntheticVectorStore();
    const docs = fx.documentIds;
    const chunks: Document[] = [];
    for (let i = 0; i < CHUNKS; i++) {
      const words = Array.from({ length: 4 }, () => WORDS[Math.floor(random() * WORDS.length)]!);
      chunks.push(new Document({ pageContent: words.join(" "), metadata: { doc: docs[i % docs.length]! } }));
    }
    await vectors.addDocuments(chunks);
    const queries = Array.from({ length: QUERIES }, () =>
      Array.from({ length: 2 }, () => WORDS[Math.floor(random() * WORDS.length)]!).join(" "),
    );
    console.log(
      `corpus ${scale}: ${corpus.relationships.length} relationships, ${CHUNKS} chunks over ${docs.length} documents, ${QUERIES} queries, k=10`,
    );
    const time = async (name: string, run: (q: string) => Promise<unknown>) => {
      for (const q of queries.slice(0, 20)) await run(q);
      const out: number[] = [];
      for (const q of queries) {
        const t0 = performance.now();
        await run(q);
        out.push(performance.now() - t0);
      }
      out.sort((a, b) => a - b);
      console.log(
        `${name.padEnd(44)} p50 ${ms(pct(out, 0.5)).padStart(10)}  p99 ${ms(pct(out, 0.99)).padStart(10)}`,
      );
      return pct(out, 0.5);
    };
    const bare = await time("bare store search (k=10)", (q) => vectors.similaritySearch(q, 10));
    for (const [who, user] of [
      ["typical user", fx.typicalUser],
      ["heaviest user", fx.heaviestUser],
    ] as const) {
      for (const strategy of ["post-filter", "pre-filter", "auto"] as const) {
        const reports: RetrievalReport[] = [];
        const retriever = new LatchRetriever({
          client,
          source: vectors,
          subject: `user:${user}`,
          permission: "view",
          resourceType: "document",
          resourceId: (d: DocumentInterface) => d.metadata.doc as string,
          k: 10,
          strategy,
          preFilter: (ids) => (d: DocumentInterface) => ids.has(d.metadata.doc as string),
          preFilterMax: 5_000,
          onRetrieval: (r) => reports.push(r),
        });
        const p50 = await time(`${who} (${user}), ${strategy}`, (q) => retriever.invoke(q));
        const last = reports.at(-1)!;
        const mean = (f: (r: RetrievalReport) => number) =>
          (reports.reduce((a, r) => a + f(r), 0) / reports.length).toFixed(1);
        console.log(
          `  added over the bare search: ${ms(p50 - bare)}; ran ${last.strategy}; mean fetched ${mean((r) => r.fetched)}, dropped ${mean((r) => r.dropped)}, returned ${mean((r) => r.returned)}${last.authorizedResources === undefined ? "" : `; authorized set ${last.authorizedResources}`}`,
        );
      }
    }
    await client.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
