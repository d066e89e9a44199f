/**
 * gRPC load over loopback: `npm run bench:load -- [--scale s] [--concurrency 64] [--duration 10]`.
 * Starts `latch serve` on a temporary database loaded with the corpus (SQLite, or PostgreSQL with
 * `--datastore postgres://...`, in a schema of its own dropped after; or targets `--address`),
 * keeps N calls in flight for a fixed time with a realistic mix, and reports throughput and
 * p50/p95/p99/max per method, plus the server's RSS. Checks go through a lean HTTP/2 client
 * (`--client grpc-js` for the Latch client); the other calls through the Latch client.
 */
// First: V8 settings shared with the server (see the module).
import "../src/cli/v8-flags.js";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { openDatastore } from "../src/cli/datastore.js";
import { type LoadOperation, runLoad as runOperations } from "../src/cli/load/index.js";
import { createClient, type LatchClient } from "../src/client/index.js";
import { createRandom, generateCorpus, type Scale } from "./corpus.js";
import { type CheckInput, pickFixtures } from "./fixtures.js";
import { createHttp2CheckClient, encodeCheck } from "./http2-check-client.js";
import { machine, markdownTable, writeResults } from "./report.js";

export interface LoadOptions {
  readonly address?: string;
  readonly token?: string;
  readonly scale: Scale;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Only checks (for the checks-per-second figure) instead of the mix. */
  readonly checksOnly?: boolean;
  readonly datastore?: string;
  /**
   * Which client sends the checks: `http2`, the lean one in http2-check-client.ts (default), or
   * `grpc-js`, the Latch client, whose own CPU cost bounds the figure on a small machine.
   */
  readonly client?: "http2" | "grpc-js";
}

async function waitForServer(client: LatchClient, deadline: number) {
  for (;;) {
    try {
      await client.readSchema({ timeoutMs: 1000 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}

export async function runLoad(options: LoadOptions) {
  const corpus = generateCorpus(options.scale);
  const fixtures = pickFixtures(corpus);
  const dir = mkdtempSync(join(tmpdir(), "latch-load-"));
  let server: ChildProcess | undefined;
  /** Settles when the server logs that its in-memory copy is loaded (or that it has none). */
  let loaded: Promise<void> = Promise.resolve();
  const token = options.token ?? "bench-token-0123456789";
  let address = options.address;
  let cleanup: (() => Promise<void>) | undefined;
  try {
    if (address === undefined) {
      // A fresh database: a temporary SQLite file, or a PostgreSQL schema of its own dropped after.
      const db = join(dir, "load.db");
      const pgSchema = `latch_load_${process.pid}`;
      const target =
        options.datastore === undefined
          ? ["--db", db]
          : ["--datastore", options.datastore, "--pg-schema", pgSchema];
      console.error(`loading ${corpus.relationships.length.toLocaleString("en-US")} relationships ...`);
      const store = await openDatastore({
        db,
        ...(options.datastore === undefined ? {} : { datastore: options.datastore, pgSchema }),
      });
      await store.writeSchema(corpus.schema);
      await store.importRelationships(corpus.relationships);
      await store.close();
      if (options.datastore !== undefined) {
        const url = options.datastore;
        cleanup = async () => {
          const admin = new pg.Client({ connectionString: url });
          await admin.connect();
          await admin.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
          await admin.end();
        };
      }
      address = "127.0.0.1:50199";
      const cli = join(import.meta.dirname, "..", "src", "cli", "main.ts");
      server = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          cli,
          "serve",
          ...target,
          "--listen",
          address,
          "--token",
          token,
          "--log-level",
          "info",
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const out = server.stdout!;
      loaded = new Promise((resolve) => {
        let tail = "";
        out.on("data", (chunk: Buffer) => {
          // Drained whatever it says; only the copy's first word matters here.
          tail = (tail + chunk.toString("utf8")).slice(-4096);
          if (/relationships loaded into memory|mirror-max-relationships/.test(tail)) resolve();
        });
        out.on("close", () => resolve());
      });
    }
    const client = createClient({ address, token });
    await waitForServer(client, Date.now() + 30_000);
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 60_000))]);
    const loadedRss = rssMiB(server?.pid);

    const random = createRandom(3);
    const checks: CheckInput[] = [
      ...fixtures.direct,
      ...fixtures.groupNested,
      ...fixtures.folderInherited,
      ...fixtures.deniedRandom,
    ];
    const at = (i: number) => checks[i % checks.length]!;
    const lean = options.client === "grpc-js" ? undefined : createHttp2CheckClient(address, token);
    const framed = lean === undefined ? [] : checks.map(encodeCheck);
    const check =
      lean === undefined
        ? (i: number) => client.check(at(i))
        : (i: number) => lean.check(framed[i % framed.length]!);
    const operations: LoadOperation[] = [
      { name: "grpc/check", weight: 85, run: check },
      {
        name: "grpc/checkBulk-100",
        weight: options.checksOnly ? 0 : 8,
        run: (i) => client.checkBulk({ items: checks.slice(i % 1000, (i % 1000) + 100) }),
      },
      {
        name: "grpc/lookupResources",
        weight: options.checksOnly ? 0 : 2,
        run: async () => {
          for await (const _ of client.lookupResources({
            resourceType: "document",
            permission: "view",
            subject: { type: "user", id: fixtures.typicalUser },
          })) {
            // Drain: the whole answer is the unit of work.
          }
        },
      },
      {
        name: "grpc/write",
        weight: options.checksOnly ? 0 : 5,
        run: (i) =>
          client.writeRelationships({
            updates: [{ operation: "touch", relationship: `document:d${i % 1000}#viewer@user:load${i}` }],
          }),
      },
    ];

    // Warm up connections and the server's JIT before measuring.
    await Promise.all(checks.slice(0, 200).map((_, i) => check(i)));
    const { results, errors, elapsedMs } = await runOperations(operations, {
      concurrency: options.concurrency,
      durationMs: options.durationMs,
      random,
    });
    const serverRss = rssMiB(server?.pid);
    lean?.close();
    await client.close();
    return { results, errors, serverRssMiB: serverRss, loadedRssMiB: loadedRss, elapsedMs };
  } finally {
    server?.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      scale: { type: "string", default: "s" },
      concurrency: { type: "string", default: "64" },
      duration: { type: "string", default: "10" },
      address: { type: "string" },
      token: { type: "string" },
      datastore: { type: "string" },
      "checks-only": { type: "boolean", default: false },
      client: { type: "string", default: "http2" },
      out: { type: "string", default: "bench/results" },
    },
  });
  if (values.client !== "http2" && values.client !== "grpc-js") {
    throw new Error(`--client must be http2 or grpc-js, not ${values.client}`);
  }
  const outcome = await runLoad({
    scale: values.scale as Scale,
    concurrency: Number(values.concurrency),
    durationMs: Number(values.duration) * 1000,
    checksOnly: values["checks-only"] ?? false,
    client: values.client === "grpc-js" ? "grpc-js" : "http2",
    ...(values.address === undefined ? {} : { address: values.address }),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(values.datastore === undefined ? {} : { datastore: values.datastore }),
  });
  const m = machine();
  console.log(
    `\n## Latch gRPC load, scale ${values.scale}, ${values.concurrency} in flight, checks sent by the ${values.client} client (${m.cpu}, ${m.cores} cores, Node ${m.node}, commit ${m.commit})\n`,
  );
  console.log(markdownTable(outcome.results));
  if (outcome.loadedRssMiB !== undefined)
    console.log(`\nserver RSS once loaded, before the load: ${outcome.loadedRssMiB} MiB`);
  if (outcome.serverRssMiB !== undefined) console.log(`server RSS at the end: ${outcome.serverRssMiB} MiB`);
  if (Object.keys(outcome.errors).length > 0) console.log("\nerrors:", outcome.errors);
  const files = writeResults(values.out ?? "bench/results", `grpc-${values.scale}`, {
    machine: m,
    ...outcome,
  });
  console.log(`\nwrote ${files.json} and ${files.svg}`);
}
