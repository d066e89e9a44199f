/**
 * The server's cost per item of a CheckBulkPermissions (issue 22), counted rather than timed: a
 * server child on a small schema answers bulks of `size` cached items sent by a raw node:http2
 * client (hand-framed, pre-encoded requests, so this process adds nothing to the child's count).
 * Under callgrind only the child runs under valgrind, counting inside the measured window:
 *   BULK_CALLGRIND=1 npx tsx bench/bulk-instructions.ts [size] [bulks] [inFlight]
 * then read the main thread's `summary:` (Ir) in the callgrind.out.PID printed, divided by
 * size * bulks. Without BULK_CALLGRIND the child's CPU time (from /proc) per item is printed.
 * `BENCH_AUDIT=agents` puts the decision recorder on the seam, as `latch serve` does by default.
 * size 1 sends a plain CheckPermission instead, for the per-call figure beside.
 */
import "../src/cli/v8-flags.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { parseRelationship } from "../src/core/index.js";
import {
  CheckBulkPermissionsRequestSchema,
  CheckPermissionRequestSchema,
} from "../src/gen/latch/v1/permission_service_pb.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { cpuSeconds, framed, type RawTarget, rawClient, startChild } from "./grpc-bench.js";

const [size = 64, bulks = 2_000, inFlight = 4] = process.argv.slice(2).map(Number);
const TOKEN = "bench-token-0123456789";
const DOCS = 50;
const USERS = 20;
const callgrind = process.env.BULK_CALLGRIND === "1";

const itemOf = (i: number) => ({
  resource: { objectType: "document", objectId: `d${i % DOCS}` },
  permission: "view",
  subject: { object: { objectType: "user", objectId: `u${i % USERS}` } },
});

/** `count` distinct requests, each of `size` items (or one CheckPermission when size is 1). */
function targets(count: number): RawTarget[] {
  return Array.from({ length: count }, (_, r) => {
    if (size === 1)
      return {
        path: "/latch.v1.PermissionService/CheckPermission",
        body: framed(
          toBinary(CheckPermissionRequestSchema, create(CheckPermissionRequestSchema, itemOf(r * 7))),
        ),
        token: TOKEN,
      };
    const items = Array.from({ length: size }, (_, i) => itemOf(r * size + i));
    return {
      path: "/latch.v1.PermissionService/CheckBulkPermissions",
      body: framed(
        toBinary(CheckBulkPermissionsRequestSchema, create(CheckBulkPermissionsRequestSchema, { items })),
      ),
      token: TOKEN,
    };
  });
}

async function run(client: ReturnType<typeof rawClient>, requests: readonly RawTarget[], n: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await client.call(requests[next++ % requests.length]!);
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), "latch-bulk-instr-"));
try {
  const db = join(dir, "bench.db");
  const store = await createSqliteStore({ path: db });
  await store.writeSchema(
    "definition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer\n}",
  );
  await store.write(
    Array.from({ length: DOCS }, (_, i) => ({
      operation: "touch" as const,
      relationship: parseRelationship(`document:d${i}#viewer@user:u${i % 7}`),
    })),
  );
  await store.close();
  const server = await startChild(
    db,
    undefined,
    callgrind
      ? { wrapper: ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"] }
      : {},
  );
  const control = (on: boolean) => {
    if (callgrind) execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(server.pid)]);
  };
  try {
    const client = rawClient(server.address);
    const requests = targets(DOCS);
    // Every distinct check into the server's cache, then warm the server's code.
    await run(client, requests, DOCS);
    await run(client, requests, Math.max(DOCS, Math.ceil(bulks / 2)));
    control(true);
    const cpu0 = cpuSeconds(server.pid)!;
    await run(client, requests, bulks);
    const cpu = cpuSeconds(server.pid)! - cpu0;
    control(false);
    client.close();
    console.log(
      `${size === 1 ? "CheckPermission" : `CheckBulk of ${size}`}: ${bulks} calls, ${inFlight} in flight, server CPU ${((cpu * 1e6) / (bulks * size)).toFixed(2)} µs/item (/proc, ${callgrind ? "under valgrind" : "native"})` +
        (callgrind ? `; Ir per item = summary of callgrind.out.${server.pid}(-01) / ${bulks * size}` : ""),
    );
  } finally {
    server.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
