/**
 * Requests whose work grows with the stored data, against a real `latch serve` on the scale-m
 * corpus (with agents and owners): how long does one such request hold the server's event loop?
 * As bench/hostile-stall.ts: one connection sends the request while another sends a cheap check
 * every 2 ms; the longest latency a cheap check saw is the stall. Streams are read to their end
 * and their bytes counted, never decoded (the bench's own work must not count as a stall).
 *
 * Run: `npx tsx bench/stall-data.ts [scale] [--only name]` (default m). Target: every stall < 50 ms.
 * `BENCH_SERVER_NODE_ARGS` adds options to the server's node (a CPU profile of a stall).
 * The import cases add IMPORTED new `document#viewer` relationships each (latch.v1 then SpiceDB's
 * CREATE import, different documents; a third, SpiceDB's again, with a latch.v1 Watch receiving its
 * revision); the delete case runs last: it empties `document#viewer`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "../src/client/index.js";
import {
  ExportBulkRelationshipsRequestSchema,
  ImportBulkRelationshipsRequestSchema,
} from "../src/gen/authzed/api/v1/permission_service_pb.js";
import { CheckPermissionRequestSchema } from "../src/gen/latch/v1/permission_service_pb.js";
import { PostureServiceReportRequestSchema } from "../src/gen/latch/v1/posture_service_pb.js";
import {
  DeleteRelationshipsRequestSchema,
  ExportRelationshipsRequestSchema,
  ImportRelationshipsRequestSchema,
  ReadRelationshipsRequestSchema,
  WatchRequestSchema,
} from "../src/gen/latch/v1/relationship_service_pb.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";
import { generateCorpus, type Scale } from "./corpus.js";
import { POSTURE_BENCH_CONFIG } from "./fixtures.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TOKEN = "bench-token-0123456789";
const PORT = 50_000 + Math.floor(Math.random() * 10_000);
const ADDRESS = `127.0.0.1:${PORT}`;
const HTTP = `127.0.0.1:${PORT + 1}`;

const args = process.argv.slice(2);
const scale = (args.find((a) => !a.startsWith("--")) ?? "m") as Scale;
const onlyAt = args.indexOf("--only");
const only = onlyAt < 0 ? undefined : args[onlyAt + 1];

/** Each its own connection: the measured and the cheap requests must not share one. */
function connection(): grpc.Client {
  // A Watch message carries a whole revision: 200,000 changes are about 10 MB.
  return new grpc.Client(ADDRESS, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": -1,
  });
}

function metadata(): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set("authorization", `Bearer ${TOKEN}`);
  return m;
}

function encode(input: DescMessage, request: MessageInitShape<DescMessage>): Buffer {
  return Buffer.from(toBinary(input, create(input, request)));
}

interface Outcome {
  readonly code: string;
  readonly bytes: number;
}

const identity = (b: Buffer) => b;
const statusOf = (error: grpc.ServiceError | null) =>
  error === null
    ? "OK"
    : `${grpc.status[error.code]} ${error.metadata.get("latch-error-code")[0] ?? ""}`.trim();

function unary(c: grpc.Client, path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      path,
      identity,
      identity,
      bytes,
      metadata(),
      { deadline: Date.now() + 120_000 },
      (e, r) => resolve({ code: statusOf(e), bytes: r?.length ?? 0 }),
    );
  });
}

function stream(c: grpc.Client, path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    let n = 0;
    const call = c.makeServerStreamRequest(path, identity, identity, bytes, metadata(), {
      deadline: Date.now() + 120_000,
    });
    call.on("data", (b: Buffer) => {
      n += b.length;
    });
    call.on("error", (e: grpc.ServiceError) => resolve({ code: statusOf(e), bytes: n }));
    call.on("end", () => resolve({ code: "OK", bytes: n }));
  });
}

/**
 * SpiceDB's HTTP gateway: a server stream is one JSON object per line. Read by `curl` in a
 * process of its own: parsing ~90 MB of HTTP here would delay this process's cheap checks too.
 */
function gateway(path: string, body: string | { readonly file: string }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const curl = spawn("curl", [
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download}",
      "-X",
      "POST",
      "-H",
      `authorization: Bearer ${TOKEN}`,
      "-H",
      "content-type: application/json",
      ...(typeof body === "string" ? ["--data", body] : ["--data-binary", `@${body.file}`]),
      `http://${HTTP}${path}`,
    ]);
    let out = "";
    curl.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    curl.on("error", reject);
    curl.on("exit", () => {
      const [code, size] = out.trim().split(" ");
      resolve({ code: `HTTP ${code}`, bytes: Number(size) });
    });
  });
}

/** A client stream of pre-encoded messages (encoding them here would delay the cheap checks). */
function clientStream(c: grpc.Client, path: string, messages: readonly Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = c.makeClientStreamRequest(
      path,
      identity,
      identity,
      metadata(),
      { deadline: Date.now() + 120_000 },
      (e, r) => resolve({ code: statusOf(e), bytes: r?.length ?? 0 }),
    );
    // One message a turn, after the last has drained: writing them all in one turn held this
    // process (the prober's too) while grpc-js framed 12 MB, which then counted as a stall.
    (async () => {
      for (const m of messages) {
        if (!call.write(m)) await new Promise((r) => call.once("drain", r));
        await new Promise((r) => setImmediate(r));
      }
      call.end();
    })();
  });
}

/**
 * A latch.v1 Watch on `c` while SpiceDB's import of `messages` commits on a connection of its own:
 * until the revision's message (over 1 MB) has arrived. Both the import and the Watch's one
 * message for its revision are in the measured window.
 */
async function watchedImport(c: grpc.Client, messages: readonly Buffer[]): Promise<Outcome> {
  let n = 0;
  const call = c.makeServerStreamRequest(
    "/latch.v1.RelationshipService/Watch",
    identity,
    identity,
    encode(WatchRequestSchema, {}),
    metadata(),
    { deadline: Date.now() + 120_000 },
  );
  const arrived = new Promise<void>((resolve, reject) => {
    call.on("data", (b: Buffer) => {
      n += b.length;
      if (b.length > 1_000_000) resolve();
    });
    call.on("error", (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
  });
  // The Watch starts at the revision current when it is set up: give it a moment before writing.
  await new Promise((r) => setTimeout(r, 300));
  const importer = connection();
  try {
    const imported = await clientStream(
      importer,
      "/authzed.api.v1.PermissionsService/ImportBulkRelationships",
      messages,
    );
    if (imported.code !== "OK") return imported;
    await arrived;
    return { code: "OK", bytes: n };
  } finally {
    call.cancel();
    importer.close();
  }
}

/** New relationships per import case, in messages of 10,000 (latch.v1's limit per message). */
const IMPORTED = 200_000;

function importMessages(input: DescMessage, prefix: string): Buffer[] {
  const out: Buffer[] = [];
  for (let from = 0; from < IMPORTED; from += 10_000) {
    const relationships = [];
    for (let i = from; i < from + 10_000; i++) {
      relationships.push({
        resource: { objectType: "document", objectId: `${prefix}${i >> 1}` },
        relation: "viewer",
        subject: { object: { objectType: "user", objectId: `u${i % 10_000}` } },
      });
    }
    out.push(encode(input, { relationships }));
  }
  return out;
}

/** `before` runs ahead of the measured window (the import messages are encoded there). */
type Case = { name: string; run: (c: grpc.Client) => Promise<Outcome>; repeat: number; before?: () => void };

let latchImport: Buffer[] = [];
/** A file holding one JSON ImportBulkRelationships request of as many relationships as fit in 4 MiB. */
let gatewayImportFile = "";

function gatewayImportBody(): string {
  const relationships = [];
  for (let i = 0, size = 0; size < 4 * 1024 * 1024 - 1_000; i++) {
    const r = {
      resource: { objectType: "document", objectId: `gw-imported-${i}` },
      relation: "viewer",
      subject: { object: { objectType: "user", objectId: `u${i % 10_000}` } },
    };
    size += JSON.stringify(r).length + 1;
    relationships.push(r);
  }
  relationships.pop();
  return JSON.stringify({ relationships });
}
let authzedImport: Buffer[] = [];

const CASES: Case[] = [
  {
    name: "posture report (1,000 agents)",
    repeat: 3,
    run: (c) =>
      unary(
        c,
        "/latch.v1.PostureService/Report",
        encode(PostureServiceReportRequestSchema, { config: POSTURE_BENCH_CONFIG }),
      ),
  },
  {
    name: "latch.v1 ExportRelationships, everything",
    repeat: 2,
    run: (c) =>
      stream(
        c,
        "/latch.v1.RelationshipService/ExportRelationships",
        encode(ExportRelationshipsRequestSchema, {}),
      ),
  },
  {
    name: "authzed ExportBulkRelationships, everything",
    repeat: 2,
    run: (c) =>
      stream(
        c,
        "/authzed.api.v1.PermissionsService/ExportBulkRelationships",
        encode(ExportBulkRelationshipsRequestSchema, {}),
      ),
  },
  {
    name: "latch.v1 ReadRelationships, resource type document",
    repeat: 2,
    run: (c) =>
      stream(
        c,
        "/latch.v1.RelationshipService/ReadRelationships",
        encode(ReadRelationshipsRequestSchema, { relationshipFilter: { resourceType: "document" } }),
      ),
  },
  {
    name: "HTTP gateway exportbulk, everything",
    repeat: 2,
    run: () => gateway("/v1/relationships/exportbulk", "{}"),
  },
  {
    name: `latch.v1 ImportRelationships, ${IMPORTED} new`,
    repeat: 1,
    before: () => {
      latchImport = importMessages(ImportRelationshipsRequestSchema, "imported-");
    },
    run: (c) => clientStream(c, "/latch.v1.RelationshipService/ImportRelationships", latchImport),
  },
  {
    name: `authzed ImportBulkRelationships, ${IMPORTED} new`,
    repeat: 1,
    before: () => {
      authzedImport = importMessages(ImportBulkRelationshipsRequestSchema, "bulk-imported-");
    },
    run: (c) => clientStream(c, "/authzed.api.v1.PermissionsService/ImportBulkRelationships", authzedImport),
  },
  {
    name: `authzed ImportBulkRelationships, ${IMPORTED} new, a latch.v1 Watch receiving them`,
    repeat: 1,
    before: () => {
      authzedImport = importMessages(ImportBulkRelationshipsRequestSchema, "watched-");
    },
    run: (c) => watchedImport(c, authzedImport),
  },
  {
    name: "HTTP gateway importbulk, one body under 4 MiB",
    repeat: 1,
    before: () => {
      gatewayImportFile = join(tmpdir(), `latch-stall-gateway-import-${process.pid}.json`);
      writeFileSync(gatewayImportFile, gatewayImportBody());
    },
    run: () => gateway("/v1/relationships/importbulk", { file: gatewayImportFile }),
  },
  {
    name: "latch.v1 DeleteRelationships document#viewer (all of them)",
    repeat: 1,
    run: (c) =>
      unary(
        c,
        "/latch.v1.RelationshipService/DeleteRelationships",
        encode(DeleteRelationshipsRequestSchema, {
          relationshipFilter: { resourceType: "document", optionalRelation: "viewer" },
        }),
      ),
  },
];

async function prepare(dir: string): Promise<{ path: string; cheap: Buffer }> {
  const corpus = generateCorpus(scale, { agents: 1_000 });
  const path = join(dir, "latch.db");
  const store = await createSqliteStore({ path });
  await store.writeSchema(corpus.schema);
  await store.importRelationships(corpus.relationships, { batchSize: 20_000 });
  await store.close();
  // A cheap check the copy answers at once: a direct owner of a document.
  const owner = corpus.relationships.find((r) => r.resource.type === "document" && r.relation === "owner")!;
  const cheap = encode(CheckPermissionRequestSchema, {
    resource: { objectType: "document", objectId: owner.resource.id },
    permission: "edit",
    subject: { object: { objectType: owner.subject.type, objectId: owner.subject.id } },
  });
  return { path, cheap };
}

async function startServer(db: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      // e.g. `--cpu-prof --cpu-prof-dir=DIR` to see what a long stall was
      ...(process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
      "--import",
      "tsx",
      join(ROOT, "src/cli/main.ts"),
      "serve",
      "--db",
      db,
      "--listen",
      ADDRESS,
      "--http-listen",
      HTTP,
      "--token",
      TOKEN,
      "--log-level",
      "warn",
    ],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  const latch = createClient({ address: ADDRESS, token: TOKEN, timeoutMs: 5000 });
  for (let i = 0; ; i++) {
    try {
      await latch.readSchema();
      break;
    } catch (error) {
      if (i > 300) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await latch.close();
  return child;
}

const CHECK = "/latch.v1.PermissionService/CheckPermission";

async function measure(measured: grpc.Client, cheap: grpc.Client, cheapBytes: Buffer, c: Case) {
  const latencies: number[] = [];
  let longest = { ms: 0, at: 0 };
  let done = false;
  let callStart = 0;
  const prober = (async () => {
    while (!done) {
      const start = performance.now();
      await unary(cheap, CHECK, cheapBytes);
      const ms = performance.now() - start;
      latencies.push(ms);
      if (ms > longest.ms) longest = { ms, at: start - callStart };
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  const start = performance.now();
  callStart = start;
  const outcome = await c.run(measured);
  const ms = performance.now() - start;
  await new Promise((r) => setTimeout(r, 50));
  done = true;
  await prober;
  latencies.sort((a, b) => a - b);
  return {
    ...outcome,
    ms,
    checks: latencies.length,
    p50: latencies[latencies.length >> 1] ?? 0,
    max: latencies.at(-1) ?? 0,
    // When the longest stall began, from the call's start: where to look in a profile.
    maxAt: longest.at,
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "latch-stall-data-"));
  const { path, cheap: cheapBytes } = await prepare(dir);
  const server = await startServer(path);
  const measured = connection();
  const cheap = connection();
  try {
    // Until the in-memory copy has loaded, cheap checks are slow; wait for ten fast ones in a row.
    for (let fast = 0; fast < 10; ) {
      const t = performance.now();
      const r = await unary(cheap, CHECK, cheapBytes);
      if (r.code !== "OK") throw new Error(`cheap check: ${r.code}`);
      fast = performance.now() - t < 5 ? fast + 1 : 0;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.log(`\nstall-data, scale ${scale}, ${new Date().toISOString()}, node ${process.version}\n`);
    console.log(
      "| case | run | status | bytes | call ms | cheap checks | cheap p50 ms | longest stall ms | at ms |",
    );
    console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const c of CASES) {
      if (only !== undefined && !c.name.includes(only)) continue;
      c.before?.();
      for (let i = 0; i < c.repeat; i++) {
        const r = await measure(measured, cheap, cheapBytes, c);
        console.log(
          `| ${c.name} | ${i + 1} | ${r.code} | ${r.bytes} | ${r.ms.toFixed(0)} | ${r.checks} | ${r.p50.toFixed(2)} | ${r.max.toFixed(1)} | ${r.maxAt.toFixed(0)} |`,
        );
      }
    }
  } finally {
    measured.close();
    cheap.close();
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
    if (gatewayImportFile !== "") rmSync(gatewayImportFile, { force: true });
  }
}

await main();
