/**
 * The client's cost per check, counted rather than timed (issue 22): a server child on a small
 * schema, then this process (the client alone) warms up and makes `count` checks in a window that
 * is timed with process.cpuUsage and, under callgrind, counted: run as
 *   CLIENT_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
 *     node --import tsx bench/client-instructions.ts MODE [count]
 * and read the main thread's `summary:` (Ir) in callgrind.out.PID-01 / count. The server child runs
 * outside valgrind (no --trace-children). MODE: `seq` (one check at a time, no batching), `par`
 * (64 in flight, no batching), `batched` (64 in flight, batching), `batched-seq` (one at a time,
 * batching: what a lone check costs through the batcher), each on the default transport
 * (our own HTTP/2 framing, "h2"); `http2-seq` / `http2-par` / `http2-batched` on node:http2;
 * `grpc-js-seq` / `grpc-js-par` on grpc-js.
 */
import "../src/cli/v8-flags.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientOptions, createClient, type LatchClient } from "../src/client/index.js";
import { parseRelationship } from "../src/core/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { startChild } from "./grpc-bench.js";

const [mode = "seq", countText = "2000"] = process.argv.slice(2);
const count = Number(countText);
const MODES: Record<string, { options: Partial<ClientOptions>; inFlight: number }> = {
  seq: { options: { batch: false }, inFlight: 1 },
  "batched-seq": { options: {}, inFlight: 1 },
  par: { options: { batch: false }, inFlight: 64 },
  batched: { options: {}, inFlight: 64 },
  "http2-seq": { options: { transport: "http2", batch: false }, inFlight: 1 },
  "http2-par": { options: { transport: "http2", batch: false }, inFlight: 64 },
  "http2-batched": { options: { transport: "http2" }, inFlight: 64 },
  "grpc-js-seq": { options: { transport: "grpc-js", batch: false }, inFlight: 1 },
  "grpc-js-par": { options: { transport: "grpc-js", batch: false }, inFlight: 64 },
};
const chosen = MODES[mode];
if (chosen === undefined) throw new Error(`unknown mode ${mode}: one of ${Object.keys(MODES).join(", ")}`);

const callgrind = (on: boolean) => {
  if (process.env.CLIENT_CALLGRIND === "1")
    execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(process.pid)]);
};

async function run(client: LatchClient, n: number, inFlight: number, users: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        await client.check({
          resource: { type: "document", id: `d${i % 50}` },
          permission: "view",
          subject: { type: "user", id: `u${i % users}` },
        });
      }
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), "latch-client-instr-"));
try {
  const db = join(dir, "bench.db");
  const store = await createSqliteStore({ path: db });
  await store.writeSchema(
    "definition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer\n}",
  );
  await store.write(
    Array.from({ length: 50 }, (_, i) => ({
      operation: "touch" as const,
      relationship: parseRelationship(`document:d${i}#viewer@user:u${i % 7}`),
    })),
  );
  await store.close();
  const server = await startChild(db, undefined);
  try {
    const client = createClient({
      address: server.address,
      token: "bench-token-0123456789",
      // Under callgrind the client runs ~50 times slower: no keepalive drop, no deadline.
      keepaliveMs: 2 ** 31 - 1,
      timeoutMs: 600_000,
      ...chosen.options,
    });
    try {
      // Every distinct check once (the server's cache), then the client's own warm-up.
      await run(client, 50 * 20, 64, 20);
      await run(client, count, chosen.inFlight, 20);
      callgrind(true);
      const cpu0 = process.cpuUsage();
      await run(client, count, chosen.inFlight, 20);
      const cpu = process.cpuUsage(cpu0);
      callgrind(false);
      console.log(
        `${mode}: ${count} checks, client CPU ${((cpu.user + cpu.system) / count).toFixed(1)} µs/check (process.cpuUsage)`,
      );
    } finally {
      await client.close();
    }
  } finally {
    server.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
