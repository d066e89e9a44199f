/**
 * `latch serve` with a read replica (LATCH_DATASTORE_READ_REPLICAS, the flag's environment form):
 * the replica's own health name and metrics follow it as it goes away and comes back, and every
 * check is answered meanwhile. The "replica" is the primary behind a TCP proxy the test cuts; the
 * hot standby itself is exercised in test/store/pg-standby.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type LatchClient } from "../../src/client/index.js";
import {
  admin,
  eventually,
  PG_URL,
  type Proxy as PgProxy,
  startProxy,
  uniqueName,
} from "../store/fixtures/pg-setup.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TOKEN = "read-replica-serve-token";
const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}
`;

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LATCH_")));
}

async function healthOf(address: string, service: string): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((done, fail) =>
      (health as unknown as Record<string, (...a: unknown[]) => void>).check!.call(
        health,
        { service },
        { deadline: Date.now() + 2_000 },
        (e: Error | null, r: { status: string }) => (e ? fail(e) : done(r.status)),
      ),
    );
  } finally {
    health.close();
  }
}

if (PG_URL === undefined) console.info("LATCH_TEST_POSTGRES_URL is not set: read replica serve test skipped");

describe.skipIf(PG_URL === undefined)("latch serve with a read replica", () => {
  const pgSchema = uniqueName("latch_rr");
  let proxy: PgProxy;
  let child: ChildProcess;
  let exited: Promise<void>;
  let address = "";
  let metrics = "";
  let client: LatchClient;
  let stderr = "";
  /** Everything the server wrote to stdout: its addresses, then its JSON log. */
  let out = "";

  beforeAll(async () => {
    proxy = await startProxy(PG_URL!);
    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "serve",
        "--datastore",
        PG_URL!,
        "--pg-schema",
        pgSchema,
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--health-probe-ms",
        "100",
        "--log-level",
        "warn",
        "--shutdown-grace-ms",
        "1000",
      ],
      {
        cwd: ROOT,
        env: { ...cleanEnv(), LATCH_DATASTORE_READ_REPLICAS: proxy.url },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    exited = new Promise<void>((done) => child.on("exit", () => done()));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`latch serve did not start: ${out}${stderr}`)), 60_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        address = /latch listening on (\S+)/.exec(out)?.[1] ?? "";
        metrics = /metrics on http:\/\/(\S+)\/metrics/.exec(out)?.[1] ?? "";
        if (address !== "" && metrics !== "") {
          clearTimeout(timer);
          ready();
        }
      });
      child.on("exit", (code) => fail(new Error(`latch serve exited with ${code}: ${out}${stderr}`)));
    });
    client = createClient({ address, token: TOKEN, timeoutMs: 10_000, maxAttempts: 1 });
    await client.writeSchema(SCHEMA);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    if (child?.exitCode === null) child.kill("SIGTERM");
    await exited;
    await proxy?.close();
    await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`));
  });

  it("shows the replica in health and metrics, losing it and getting it back, answering throughout", async () => {
    const name = `latch.datastore.ReadReplica/${new URL(proxy.url).host}/test`;
    const scrape = async () => (await fetch(`http://${metrics}/metrics`)).text();
    const up = async () =>
      /^latch_datastore_read_replica_up\{replica="[^"]+"\} (\d)/m.exec(await scrape())?.[1];
    const check = async (doc: string, token: string) =>
      (
        await client.check({
          resource: { type: "document", id: doc },
          permission: "view",
          subject: { type: "user", id: "u" },
          consistency: { kind: "at-least-as-fresh", token },
        })
      ).state;

    await eventually(
      async () => (await healthOf(address, name)) === "SERVING",
      "the replica's health SERVING",
    );
    expect(await up()).toBe("1");
    const { token } = await client.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:a#viewer@user:u" }],
    });
    expect(await check("a", token)).toBe("ALLOWED");

    await proxy.cut();
    for (let i = 0; i < 5; i++) expect(await check("a", token)).toBe("ALLOWED");
    await eventually(
      async () => (await healthOf(address, name)) === "NOT_SERVING",
      "the replica NOT_SERVING",
    );
    expect(await up()).toBe("0");
    // The server itself still serves: the primary answers every read.
    expect(await healthOf(address, "latch.v1.PermissionService")).toBe("SERVING");
    expect(out).toContain("read replica unreachable: its reads go to the primary");

    await proxy.restore();
    await eventually(async () => (await healthOf(address, name)) === "SERVING", "the replica SERVING again");
    expect(await check("a", token)).toBe("ALLOWED");
  });
});
