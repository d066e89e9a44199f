/**
 * gRPC latency and throughput over loopback on the benchmark corpus.
 * Run: `npx tsx bench/grpc-bench.ts [scale]` (s, m or l; default m).
 *
 * The server runs in a child process (as in production: client and server do not share an event
 * loop); the client is `createClient`, so the numbers include our conversion and auth. Cases:
 * sequential Check (p50/p99, cold then warm cache), Checks per second with 64 in flight, and
 * CheckBulk of 100 documents for one user.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { createClient, type LatchClient } from "../src/client/index.js";
import { createEngine } from "../src/engine/index.js";
import { createLogger, startServer } from "../src/server/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, pickFixtures } from "./fixtures.js";

const TOKEN = "bench-token";
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

function line(name: string, sorted: readonly number[]) {
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  console.log(
    `${name.padEnd(36)} n=${String(sorted.length).padStart(6)}  p50 ${us(pct(sorted, 0.5)).padStart(9)}  p99 ${us(pct(sorted, 0.99)).padStart(9)}  mean ${us(mean).padStart(9)}`,
  );
}

/** Child process: serve the database until stdin closes. */
async function serveChild(db: string) {
  const store = await createSqliteStore({ path: db });
  const engine = createEngine({ store });
  const running = await startServer({
    store,
    engine,
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("warn"),
  });
  process.stdout.write(`${running.address}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await running.shutdown(1000);
    await store.close();
    process.exit(0);
  });
}

async function startChild(db: string): Promise<{ address: string; stop(): void }> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--serve", db],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const address = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) resolve(text.slice(0, nl).trim());
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { address, stop: () => child.stdin.end() };
}

async function sequential(client: LatchClient, inputs: readonly CheckInput[]): Promise<number[]> {
  const out: number[] = [];
  for (const input of inputs) {
    const t0 = performance.now();
    await client.check(input);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function concurrent(client: LatchClient, inputs: readonly CheckInput[], inFlight: number) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < inputs.length) {
        const input = inputs[next++]!;
        await client.check(input);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return inputs.length / seconds;
}

async function main() {
  const scale = (process.argv[2] ?? "m") as Scale;
  const dir = mkdtempSync(join(tmpdir(), "latch-grpc-bench-"));
  const db = join(dir, "bench.db");
  try {
    const t0 = performance.now();
    const corpus = generateCorpus(scale);
    const store = await createSqliteStore({ path: db });
    await store.writeSchema(corpus.schema);
    await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
    await store.close();
    console.log(
      `corpus ${scale}: ${corpus.relationships.length} relationships loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const fx = pickFixtures(corpus, 2_000);
    const random = createRandom(11);
    const kinds = [
      fx.direct,
      fx.owner,
      fx.groupNested,
      fx.folderInherited,
      fx.folderAndGroup,
      fx.deniedRandom,
    ];
    const mix = Array.from({ length: 6_000 }, (_, i) => {
      const list = kinds[i % kinds.length]!;
      return list[Math.floor(random() * list.length)]!;
    });

    // The engine alone, in this process, on the same inputs: what the network and API add is the rest.
    {
      const local = await createSqliteStore({ path: db });
      const engine = createEngine({ store: local });
      const timeEngine = async (inputs: readonly CheckInput[]) => {
        const out: number[] = [];
        for (const input of inputs) {
          const t = performance.now();
          await engine.check(input);
          out.push(performance.now() - t);
        }
        return out.sort((a, b) => a - b);
      };
      await timeEngine(mix.slice(0, 300));
      line("engine only, first sight", await timeEngine(mix.slice(300)));
      line("engine only, warm cache", await timeEngine(mix));
      const bulkRandom = createRandom(5);
      const engineBulk: number[] = [];
      for (let r = 0; r < 120; r++) {
        const items = Array.from({ length: 100 }, () => ({
          resource: {
            type: "document",
            id: fx.documentIds[Math.floor(bulkRandom() * fx.documentIds.length)]!,
          },
          permission: "view",
          subject: { type: "user", id: fx.typicalUser },
        }));
        const t = performance.now();
        await engine.checkBulk({ items });
        if (r >= 20) engineBulk.push(performance.now() - t);
      }
      line(
        "engine only, checkBulk(100)",
        engineBulk.sort((a, b) => a - b),
      );
      await local.close();
    }

    const server = await startChild(db);
    const client = createClient({ address: server.address, token: TOKEN });
    try {
      // The floor: a health check is a gRPC round trip that does no work of ours.
      const Health = grpc.makeGenericClientConstructor(healthService, "Health");
      const health = new Health(server.address, grpc.credentials.createInsecure()) as unknown as {
        check(req: object, cb: (e: Error | null) => void): void;
        close(): void;
      };
      const ping = () =>
        new Promise<void>((res, rej) => health.check({ service: "" }, (e) => (e ? rej(e) : res())));
      const pings: number[] = [];
      for (let i = 0; i < 3300; i++) {
        const t = performance.now();
        await ping();
        if (i >= 300) pings.push(performance.now() - t);
      }
      line(
        "grpc floor: health check, sequential",
        pings.sort((a, b) => a - b),
      );
      let sent = 0;
      const tp = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (sent++ < 20_000) await ping();
        }),
      );
      console.log(
        `${"grpc floor: health checks/s, 64 in flight".padEnd(36)} ${(20_000 / ((performance.now() - tp) / 1000)).toFixed(0)} /s`,
      );
      health.close();

      await sequential(client, mix.slice(0, 300)); // connection and JIT warm-up
      line("check sequential, first sight", await sequential(client, mix.slice(300)));
      line("check sequential, warm cache", await sequential(client, mix));
      const many = Array.from({ length: 30_000 }, (_, i) => mix[i % mix.length]!);
      await concurrent(client, many.slice(0, 2_000), 64);
      const rate = await concurrent(client, many, 64);
      console.log(`${"checks/s, 64 in flight".padEnd(36)} ${rate.toFixed(0)} /s`);

      const docs = fx.documentIds;
      const bulk: number[] = [];
      for (let r = 0; r < 220; r++) {
        const items = Array.from({ length: 100 }, () => ({
          resource: { type: "document", id: docs[Math.floor(random() * docs.length)]! },
          permission: "view",
          subject: { type: "user", id: fx.typicalUser },
        }));
        const t = performance.now();
        await client.checkBulk({ items });
        if (r >= 20) bulk.push(performance.now() - t);
      }
      line(
        "checkBulk(100), random documents",
        bulk.sort((a, b) => a - b),
      );
    } finally {
      await client.close();
      server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--serve") await serveChild(process.argv[3]!);
else await main();
