/**
 * A full posture report (src/posture) on the benchmark corpus plus agents with owners, delegations
 * and grants (`generateCorpus(scale, { agents })`), in a temporary SQLite store, with a decision
 * history whose witnesses use some of the grants. Prints the report's time and the process's peak
 * RSS (sampled every 50 ms) against the targets (20 s, 1 GB).
 *
 * Run: `npx tsx bench/posture-bench.ts [scale] [--agents N] [--no-mirror]` (default m, 1,000 agents).
 * Numbers from a shared, loaded machine are indicative only; the result line says so.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatRelationshipWithoutContext } from "../src/core/index.js";
import { createEngine } from "../src/engine/index.js";
import { createPostureReport } from "../src/posture/index.js";
import type { DecisionRecord } from "../src/store/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, POSTURE_BENCH_CONFIG } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--") && !/^\d+$/.test(a)) ?? "m") as Scale;
const agentsAt = args.indexOf("--agents");
const agents = agentsAt < 0 ? 1_000 : Number(args[agentsAt + 1]);
const mirrored = !args.includes("--no-mirror");

let peak = 0;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "latch-posture-bench-"));
  try {
    const corpus = generateCorpus(scale, { agents });
    const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
    await sqlite.writeSchema(corpus.schema);
    await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
    // Every other agent grant proved an ALLOWED decision in the last week.
    const now = Date.now();
    const grants = corpus.relationships.filter((r) => r.subject.type === "agent" && r.relation === "viewer");
    const history: DecisionRecord[] = grants
      .filter((_, i) => i % 2 === 0)
      .map((g) => ({
        time: new Date(now - 86_400_000).toISOString(),
        operation: "check",
        subject: `agent:${g.subject.id}`,
        resource: `${g.resource.type}:${g.resource.id}`,
        permission: "view",
        answer: "ALLOWED",
        witness: [formatRelationshipWithoutContext(g)],
      }));
    for (let i = 0; i < history.length; i += 1_000)
      await sqlite.decisions.append(history.slice(i, i + 1_000));
    // As in a server, the in-memory copy is loaded before the report runs.
    const store = mirrored ? await loadedMirror(sqlite) : sqlite;
    const engine = createEngine({ store });
    const timer = setInterval(sample, 50);
    sample();
    const t0 = performance.now();
    const { report, stats } = await createPostureReport({
      store,
      engine,
      config: POSTURE_BENCH_CONFIG,
      save: true,
    });
    const seconds = (performance.now() - t0) / 1000;
    sample();
    clearInterval(timer);
    const mb = peak / 1024 / 1024;
    console.log(
      `posture/full-report scale ${scale}, ${report.summary.relationships} relationships, ${report.summary.identities} identities (${agents} agents asked), ${mirrored ? "in-memory copy" : "SQLite reads"}`,
    );
    console.log(`  phases (ms): ${JSON.stringify(stats.phases)}`);
    console.log(
      `  ${stats.walks} reverse walks (one per reach permission) over ${stats.classes} identity classes, ${stats.checks} candidates checked; ${report.summary.findings} findings (high ${report.summary.bySeverity.high}, medium ${report.summary.bySeverity.medium}, low ${report.summary.bySeverity.low})`,
    );
    console.log(
      `  report ${seconds.toFixed(2)} s (target < 20 s), peak RSS ${mb.toFixed(0)} MB (target < 1024 MB) -- measured on a loaded, shared machine: indicative only`,
    );
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
