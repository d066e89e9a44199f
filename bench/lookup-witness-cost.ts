/**
 * `npx tsx bench/lookup-witness-cost.ts [s|m] [rounds]`: what witnesses add to a LookupResources
 * (issue 14), for the corpus's typical and heaviest user: the plain lookup, the same asking the
 * engine for witnesses (`witness: true`, as the audit trail does for a lookup it records), and the
 * lookup through a recorder with `--audit all` (async; every result recorded with its witness), and
 * the same recorder over an engine that drops the request for witnesses (`+audit-bare`: records as
 * before witnesses, so that the difference is what the witnesses add to the audited lookup).
 * The three alternate call by call, so a loaded machine slows them alike; each call's CPU time
 * (process.cpuUsage: this thread's and the writer thread's) is taken, and the medians and their
 * ratios to the plain lookup are printed. Reads go through the in-memory copy, as `latch serve` does.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditRecorder } from "../src/audit/index.js";
import { createEngine, type LookupResourcesRequest } from "../src/engine/index.js";
import type { Decider } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { loadedMirror, pickFixtures } from "./fixtures.js";

const scale = (process.argv[2] ?? "s") as Scale;
const ROUNDS = Number(process.argv[3] ?? 30);

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function cpuOf(run: () => Promise<number>): Promise<{ us: number; n: number }> {
  const before = process.cpuUsage();
  const n = await run();
  const used = process.cpuUsage(before);
  return { us: used.user + used.system, n };
}

async function drain(results: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of results) n++;
  return n;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-lookup-witness-"));
  try {
    const corpus = generateCorpus(scale);
    const fixtures = pickFixtures(corpus);
    const sqlite = await createSqliteStore({ path: join(dir, "bench.db") });
    await sqlite.writeSchema(corpus.schema);
    await sqlite.importRelationships(corpus.relationships);
    const mirror = await loadedMirror(sqlite);
    const engine = createEngine({ store: mirror, cache: false });
    // A queue that holds a whole round's records: none dropped, so every record's cost is counted.
    const recorder = createAuditRecorder({
      log: sqlite.decisions,
      policy: "all",
      mode: "async",
      queueLimit: 1_000_000,
    });
    const audited: Decider = recorder.decorator(engine);
    // What the recorder cost before lookup records had witnesses: the engine never asked for them.
    const bare: Decider = recorder.decorator({
      check: (r, o) => engine.check(r, o),
      checkBulk: (r, o) => engine.checkBulk(r, o),
      lookupResources: (r, o) => engine.lookupResources(r.witness === true ? { ...r, witness: false } : r, o),
    });
    for (const [who, user] of [
      ["typical", fixtures.typicalUser],
      ["heaviest", fixtures.heaviestUser],
    ] as const) {
      const request: LookupResourcesRequest = {
        resourceType: "document",
        permission: "view",
        subject: { type: "user", id: user },
      };
      const witnessed: LookupResourcesRequest = { ...request, witness: true };
      const variants = {
        plain: () => drain(engine.lookupResources(request)),
        witness: () => drain(engine.lookupResources(witnessed)),
        audit: async () => {
          const n = await drain(audited.lookupResources(request));
          // The records are appended by the writer thread: their cost is counted in this call.
          await recorder.flush();
          return n;
        },
        bare: async () => {
          const n = await drain(bare.lookupResources(request));
          await recorder.flush();
          return n;
        },
      };
      const names = ["plain", "witness", "audit", "bare"] as const;
      const times: Record<keyof typeof variants, number[]> = { plain: [], witness: [], audit: [], bare: [] };
      let results = 0;
      for (let round = 0; round < ROUNDS + 3; round++) {
        // Alternating which goes first; the first three rounds warm up and are not counted.
        const order = names.map((_, i) => names[(i + round) % names.length]!);
        for (const name of order) {
          const { us, n } = await cpuOf(variants[name]);
          if (round >= 3) times[name].push(us);
          results = n;
        }
      }
      const plain = median(times.plain);
      console.log(
        `${scale} ${who} user (${results} documents), median CPU µs per lookup over ${ROUNDS} rounds: ` +
          `plain ${plain.toFixed(0)}, +witness ${median(times.witness).toFixed(0)} (${(median(times.witness) / plain).toFixed(2)}x), ` +
          `+audit ${median(times.audit).toFixed(0)} (${(median(times.audit) / plain).toFixed(2)}x), ` +
          `+audit-bare ${median(times.bare).toFixed(0)} (${(median(times.bare) / plain).toFixed(2)}x); ` +
          `+audit / +audit-bare ${(median(times.audit) / median(times.bare)).toFixed(2)}x`,
      );
    }
    await recorder.close();
    console.log(`records written ${recorder.stats().written}, dropped ${recorder.stats().dropped}`);
    await mirror.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
