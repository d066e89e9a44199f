/**
 * The TypeScript client's sequential warm check beside h2load's on one server, in alternating rounds
 * (issue 22's target: p50 within 40 µs of h2load's). A loaded machine moves every figure, so each
 * round runs h2load and the client cases back to back and the report is the median of the rounds'
 * p50 differences, with the client's CPU per call (this process's user+system time) and the
 * server's (from /proc) beside them.
 * Run: `npx tsx bench/client-seq.ts [s|m|l] [rounds]` (default m, 5).
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientOptions, createClient } from "../src/client/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { pickFixtures } from "./fixtures.js";
import { compileServer, cpuSeconds, h2load, onPath, rawTargets, startChild } from "./grpc-bench.js";

const TOKEN = "bench-token-0123456789";
const CALLS = 5_000;
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const median = (xs: readonly number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

const CASES: Record<string, Partial<ClientOptions>> = {
  "h2 framing, no batching": { batch: false },
  "h2 framing, batching (default)": {},
};

/** p50 (µs), and client and server CPU per call (µs), of `n` sequential calls. */
async function sequential(call: () => Promise<unknown>, n: number, serverPid: number) {
  const times: number[] = [];
  const server0 = cpuSeconds(serverPid) ?? 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const server = ((cpuSeconds(serverPid) ?? 0) - server0) * 1e6;
  times.sort((a, b) => a - b);
  return { p50: pct(times, 0.5) * 1000, clientCpu: (cpu.user + cpu.system) / n, serverCpu: server / n };
}

async function main() {
  const scale = (["s", "m", "l"].includes(process.argv[2] ?? "") ? process.argv[2] : "m") as Scale;
  const rounds = Number(process.argv[3] ?? 5);
  if (!onPath("h2load")) throw new Error("h2load (nghttp2-client) is not on PATH");
  const dir = mkdtempSync(join(tmpdir(), "latch-client-seq-"));
  const db = join(dir, "bench.db");
  try {
    const corpus = generateCorpus(scale);
    const store = await createSqliteStore({ path: db });
    await store.writeSchema(corpus.schema);
    await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
    await store.close();
    const one = pickFixtures(corpus, 10).direct[0]!;
    const server = await startChild(db, compileServer(dir));
    console.log(`corpus ${scale}, server pid ${server.pid} at ${server.address}, ${CALLS} calls a case`);
    const { check } = rawTargets(one);
    const file = join(dir, "check.bin");
    writeFileSync(file, check.body);
    const clients = Object.entries(CASES).map(([name, options]) => ({
      name,
      client: createClient({ address: server.address, token: TOKEN, ...options }),
    }));
    const gaps = new Map<string, number[]>(clients.map((c) => [c.name, []]));
    try {
      for (const { client } of clients) for (let i = 0; i < 2_000; i++) await client.check(one);
      for (let r = 0; r < rounds; r++) {
        const base = h2load("h2load", server.address, check, file, 1, CALLS, server.pid);
        const h2p50 = base.p50Us ?? Number.NaN;
        for (const { name, client } of clients) {
          const s = await sequential(() => client.check(one), CALLS, server.pid);
          gaps.get(name)!.push(s.p50 - h2p50);
          console.log(
            `  ${name.padEnd(32)} p50 ${s.p50.toFixed(0).padStart(4)} µs (+${(s.p50 - h2p50).toFixed(0)})  client CPU ${s.clientCpu.toFixed(1)} µs/call  server CPU ${s.serverCpu.toFixed(0)} µs/call`,
          );
        }
      }
      for (const [name, list] of gaps)
        console.log(`${name}: median p50 over h2load's +${median(list).toFixed(0)} µs (loaded)`);
    } finally {
      for (const { client } of clients) await client.close();
      server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
