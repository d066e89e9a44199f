/**
 * How long one posture report holds the event loop (the 50 ms rule, README "Limits and hostile
 * input"): the posture-bench setting (scale m corpus with agents, in-memory copy loaded as in a
 * server), the report run while a 1 ms interval measures the longest
 * gap between its ticks (monitorEventLoopDelay's max missed whole stalls here, so it is not used).
 *
 * Run: `npx tsx bench/stall-posture.ts [scale] [--agents N] [--no-probe]` (default m, 1,000 agents);
 * for CPU comparisons `node --expose-gc --import tsx bench/stall-posture.ts m --no-probe` (`--phases`
 * prints the report's own phase timings).
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine } from "../src/engine/index.js";
import { createPostureReport } from "../src/posture/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, POSTURE_BENCH_CONFIG } from "./fixtures.js";

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--") && !/^\d+$/.test(a)) ?? "m") as Scale;
const agentsAt = args.indexOf("--agents");
const agents = agentsAt < 0 ? 1_000 : Number(args[agentsAt + 1]);
const runs = 3;
/** Without the probes: for comparing CPU time (the probes run only when the report yields, so they cost the paced report alone). */
const probing = !args.includes("--no-probe");

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "latch-stall-posture-"));
  try {
    const corpus = generateCorpus(scale, { agents });
    const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
    await sqlite.writeSchema(corpus.schema);
    await sqlite.importRelationships(corpus.relationships, { batchSize: 20_000 });
    const store = await loadedMirror(sqlite);
    const engine = createEngine({ store });
    for (let i = 0; i < runs; i++) {
      let peak = process.memoryUsage().rss;
      const timer = setInterval(() => {
        if (!probing) return;
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      // The longest gap between two ticks of a 1 ms interval, by the wall clock and by the process's
      // CPU time: on a loaded machine a gap may be time the process was not running at all, and
      // the CPU time between ticks is the part that is this process's own work.
      let last = performance.now();
      let lastCpu = process.cpuUsage();
      let gap = 0;
      let cpuGap = 0;
      const probe = setInterval(() => {
        if (!probing) return;
        const t = performance.now();
        const c = process.cpuUsage(lastCpu);
        gap = Math.max(gap, t - last);
        cpuGap = Math.max(cpuGap, (c.user + c.system) / 1000);
        last = t;
        lastCpu = process.cpuUsage();
      }, 1);
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const { report, stats } = await createPostureReport({
        store,
        engine,
        config: POSTURE_BENCH_CONFIG,
        save: i === 0,
      });
      if (args.includes("--phases")) console.log(`phases (ms): ${JSON.stringify(stats.phases)}`);
      // With --expose-gc: collect inside the measured window, so that garbage a run leaves for
      // later (a report that never yields lets V8's GC tasks wait) is counted for every run alike.
      (globalThis as { gc?: () => void }).gc?.();
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - t0;
      // One more turn, so that a stall at the very end is sampled too.
      await new Promise((r) => setTimeout(r, 5));
      clearInterval(timer);
      clearInterval(probe);
      console.log(
        `posture report ${i + 1}/${runs}, scale ${scale}, ${report.summary.relationships} relationships, ${report.summary.identities} identities: ` +
          `wall ${ms.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, ` +
          (probing
            ? `longest tick gap ${gap.toFixed(1)} ms (CPU time in it ${cpuGap.toFixed(1)} ms), peak RSS ${(peak / 2 ** 20).toFixed(0)} MB`
            : "not probed"),
      );
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
