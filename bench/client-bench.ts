/**
 * The TypeScript client's own speed (issue 22): checks/s from one client process with 64 `check()`
 * calls in flight, with and without automatic batching; sequential warm-cache p50 beside a raw
 * client on the same server (h2load when on PATH, and always the minimal node:http2 client of
 * grpc-bench.ts); and the client's CPU per call (this process's user+system time over the calls:
 * the server runs in a child process).
 * Run: `npx tsx bench/client-bench.ts [s|m|l]` (default m). The server is the compiled child of
 * bench/grpc-bench.ts, as `latch serve` runs from dist/.
 */
import "../src/cli/v8-flags.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientOptions, createClient, type LatchClient } from "../src/client/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, checkMix, pickFixtures } from "./fixtures.js";
import { compileServer, h2load, onPath, rawClient, rawTargets, startChild } from "./grpc-bench.js";

const TOKEN = "bench-token-0123456789";
const IN_FLIGHT = 64;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function sequential(call: () => Promise<unknown>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

/** Checks/s and client CPU µs per check with `inFlight` callers each awaiting one check at a time. */
async function concurrent(client: LatchClient, inputs: readonly CheckInput[], inFlight: number) {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < inputs.length) await client.check(inputs[next++]!);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rate: inputs.length / seconds, cpuPerCall: (cpu.user + cpu.system) / inputs.length };
}

const CASES: Record<string, Partial<ClientOptions>> = {
  "grpc-js, no batching (before issue 22)": { transport: "grpc-js", batch: false },
  "node:http2, no batching": { transport: "http2", batch: false },
  "node:http2, batching": { transport: "http2" },
  "h2 framing, no batching": { batch: false },
  "h2 framing, batching (default)": {},
};

async function main() {
  const scale = (["s", "m", "l"].includes(process.argv[2] ?? "") ? process.argv[2] : "m") as Scale;
  const dir = mkdtempSync(join(tmpdir(), "latch-client-bench-"));
  const db = join(dir, "bench.db");
  try {
    const corpus = generateCorpus(scale);
    const store = await createSqliteStore({ path: db });
    await store.writeSchema(corpus.schema);
    await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
    await store.close();
    const fx = pickFixtures(corpus, 2_000);
    const mix = checkMix(fx, 6_000, createRandom(11));
    const many = Array.from({ length: 40_000 }, (_, i) => mix[i % mix.length]!);
    const server = await startChild(db, compileServer(dir));
    console.log(`corpus ${scale}, server pid ${server.pid} at ${server.address}`);
    try {
      // Warm the server's cache for every input first, so every case sees warm checks.
      const warm = createClient({ address: server.address, token: TOKEN });
      await concurrent(warm, mix, IN_FLIGHT);
      await warm.close();

      const one = fx.direct[0]!;
      const raw = rawClient(server.address);
      const { check } = rawTargets(one);
      await sequential(() => raw.call(check), 2_000);
      const rawTimes = await sequential(() => raw.call(check), 10_000);
      raw.close();
      console.log(
        `${"raw node:http2 client: one check, sequential".padEnd(52)} p50 ${us(pct(rawTimes, 0.5))}`,
      );
      if (onPath("h2load")) {
        const file = join(dir, "check.bin");
        writeFileSync(file, check.body);
        h2load("h2load: one check, sequential", server.address, check, file, 1, 20_000, server.pid);
      } else console.log("h2load not on PATH (nghttp2-client): its p50 is not measured");

      for (const [name, options] of Object.entries(CASES)) {
        const client = createClient({ address: server.address, token: TOKEN, ...options });
        try {
          await sequential(() => client.check(one), 2_000);
          const times = await sequential(() => client.check(one), 10_000);
          console.log(
            `${`${name}: one check, sequential`.padEnd(52)} p50 ${us(pct(times, 0.5))}  p99 ${us(pct(times, 0.99))}`,
          );
          await concurrent(client, many.slice(0, 4_000), IN_FLIGHT);
          const { rate, cpuPerCall } = await concurrent(client, many, IN_FLIGHT);
          console.log(
            `${`${name}: checks/s, ${IN_FLIGHT} in flight`.padEnd(52)} ${rate.toFixed(0).padStart(6)} /s  client CPU ${cpuPerCall.toFixed(1)} µs/check`,
          );
        } finally {
          await client.close();
        }
      }
    } finally {
      server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
