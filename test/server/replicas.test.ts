/**
 * Several `latch serve` processes on one PostgreSQL database, as deployed: revision tokens from one
 * replica work on another, Watch on one sees the other's writes, caches never answer older than a
 * token asks, and a replica that loses its database says NOT_SERVING, fails calls with UNAVAILABLE
 * and recovers by itself, losing nothing that was acknowledged.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type LatchClient } from "../../src/client/index.js";
import { formatRelationship, isLatchError } from "../../src/core/index.js";
import {
  admin,
  eventually,
  PG_URL,
  type Proxy as PgProxy,
  startProxy,
  uniqueName,
} from "../store/fixtures/pg-setup.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TOKEN = "replica-test-token";
const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}
`;

interface Replica {
  readonly address: string;
  readonly metricsAddress: string;
  output(): string;
  stop(): Promise<void>;
}

/** Environment without the LATCH_* settings of whoever runs the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LATCH_")));
}

function runCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `latch migrate`, as run ahead of a deploy. */
async function migrate(datastore: string, pgSchema: string): Promise<string> {
  const child = runCli(["migrate", "--datastore", datastore, "--pg-schema", pgSchema]);
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  if (code !== 0) throw new Error(`latch migrate exited with ${code}: ${text}`);
  return text;
}

async function serve(datastore: string, pgSchema: string): Promise<Replica> {
  const child = runCli([
    "serve",
    "--datastore",
    datastore,
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
  ]);
  let text = "";
  child.stderr?.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  const addresses = await new Promise<{ address: string; metrics: string }>((ready, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`latch serve did not start: ${out}${text}`)), 60_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const address = /latch listening on (\S+)/.exec(out)?.[1];
      const metrics = /metrics on http:\/\/(\S+)\/metrics/.exec(out)?.[1];
      if (address !== undefined && metrics !== undefined) {
        clearTimeout(timer);
        ready({ address, metrics });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`latch serve exited with ${code}: ${out}${text}`));
    });
  });
  return {
    address: addresses.address,
    metricsAddress: addresses.metrics,
    output: () => text,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function client(replica: Replica): LatchClient {
  // One attempt: a retry would hide which replica answered and what it said.
  return createClient({ address: replica.address, token: TOKEN, timeoutMs: 5_000, maxAttempts: 1 });
}

async function healthOf(replica: Replica): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(replica.address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((done, fail) =>
      (health as unknown as Record<string, (...a: unknown[]) => void>).check!.call(
        health,
        { service: "latch.v1.PermissionService" },
        { deadline: Date.now() + 2_000 },
        (e: Error | null, r: { status: string }) => (e ? fail(e) : done(r.status)),
      ),
    );
  } finally {
    health.close();
  }
}

async function cacheHits(replica: Replica): Promise<number> {
  const text = await (await fetch(`http://${replica.metricsAddress}/metrics`)).text();
  const match = /^latch_engine_cache_hits (\d+)/m.exec(text);
  if (match === null) throw new Error("no latch_engine_cache_hits in /metrics");
  return Number(match[1]);
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

if (PG_URL === undefined) console.info("LATCH_TEST_POSTGRES_URL is not set: replica tests skipped");

describe.skipIf(PG_URL === undefined)("latch serve replicas on one PostgreSQL database", () => {
  const url = PG_URL as string;
  const pgSchema = uniqueName("latch_it");
  const replicas: Replica[] = [];
  const clients: LatchClient[] = [];
  let a: Replica;
  let b: Replica;
  let ca: LatchClient;
  let cb: LatchClient;
  let proxy: PgProxy | undefined;
  let c: Replica | undefined;

  beforeAll(async () => {
    expect(await migrate(url, pgSchema)).toContain("applied migration");
    // Started together: their own migrations (already done) and schema writes must not race.
    [a, b] = await Promise.all([serve(url, pgSchema), serve(url, pgSchema)]);
    replicas.push(a, b);
    ca = client(a);
    cb = client(b);
    clients.push(ca, cb);
    await ca.writeSchema(SCHEMA);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await Promise.all(replicas.map((r) => r.stop()));
    await proxy?.close();
    await admin((pg) => pg.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`));
  }, 60_000);

  it("a check on B at A's write token sees the write, even after B cached the older answer", async () => {
    const check = { resource: "document:plan", permission: "view", subject: "user:ana" } as const;
    const before = await cb.check({ ...check, consistency: { kind: "fully-consistent" } });
    expect(before.state).toBe("DENIED");
    // The same question at the same revision again: answered from B's cache.
    const hitsBefore = await cacheHits(b);
    const again = await cb.check({
      ...check,
      consistency: { kind: "at-exact-snapshot", token: before.token },
    });
    expect(again.state).toBe("DENIED");
    expect(await cacheHits(b)).toBeGreaterThan(hitsBefore);

    const { token } = await ca.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:plan#viewer@user:ana" }],
    });
    const after = await cb.check({ ...check, consistency: { kind: "at-least-as-fresh", token } });
    expect(after.state).toBe("ALLOWED");
    // And the older snapshot still answers as it did: tokens mean the same on every replica.
    const old = await cb.check({ ...check, consistency: { kind: "at-exact-snapshot", token: before.token } });
    expect(old.state).toBe("DENIED");
  });

  it("a Watch on B receives the writes made through A, in order", async () => {
    // A token of B's current revision (a schema read would give the schema's own, older one).
    const start = await cb.check({
      resource: "document:none",
      permission: "view",
      subject: "user:bo",
      consistency: { kind: "fully-consistent" },
    });
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const event of cb.watch({ after: start.token }, { signal: abort.signal })) {
        for (const u of event.updates) seen.push(`${u.operation} ${formatRelationship(u.relationship)}`);
        if (seen.length >= 3) break;
      }
    })().catch((error: unknown) => {
      if (!abort.signal.aborted) throw error;
    });
    const written = Date.now();
    await ca.writeRelationships({
      updates: [
        { operation: "touch", relationship: "document:w1#viewer@user:bo" },
        { operation: "touch", relationship: "document:w2#viewer@user:bo" },
      ],
    });
    await ca.writeRelationships({
      updates: [{ operation: "delete", relationship: "document:w1#viewer@user:bo" }],
    });
    try {
      await eventually(() => seen.length >= 3, "B's Watch to deliver A's writes", 15_000);
    } finally {
      abort.abort();
    }
    await watching;
    console.info(`Watch on B delivered A's writes ${Date.now() - written} ms after the first write began`);
    expect(seen.slice(0, 2).sort()).toEqual([
      "touch document:w1#viewer@user:bo",
      "touch document:w2#viewer@user:bo",
    ]);
    expect(seen[2]).toBe("delete document:w1#viewer@user:bo");
  });

  it("loses the database: NOT_SERVING and UNAVAILABLE, then recovers by itself with nothing lost", async () => {
    proxy = await startProxy(url);
    const replica = await serve(proxy.url, pgSchema);
    c = replica;
    replicas.push(replica);
    const cc = client(replica);
    clients.push(cc);
    const check = (resource: string, token?: string) =>
      cc.check(
        {
          resource,
          permission: "view",
          subject: "user:cy",
          consistency:
            token === undefined ? { kind: "fully-consistent" } : { kind: "at-least-as-fresh", token },
        },
        { timeoutMs: 3_000 },
      );
    const first = await cc.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:o1#viewer@user:cy" }],
    });
    expect((await check("document:o1", first.token)).state).toBe("ALLOWED");
    expect(await healthOf(replica)).toBe("SERVING");

    await proxy.cut();
    await eventually(async () => (await healthOf(replica)) === "NOT_SERVING", "C to report NOT_SERVING");
    // A deadline shorter than any driver timeout: the answer must be UNAVAILABLE, not a timeout.
    const failed = await failureOf(check("document:o1"));
    expect(isLatchError(failed) ? failed.kind : failed).toBe("unavailable");
    const refused = await failureOf(
      cc.writeRelationships(
        { updates: [{ operation: "touch", relationship: "document:o3#viewer@user:cy" }] },
        { timeoutMs: 3_000 },
      ),
    );
    expect(isLatchError(refused) ? refused.kind : refused).toBe("unavailable");
    // The other replicas keep the database: a write acknowledged by A during C's outage.
    const during = await ca.writeRelationships({
      updates: [{ operation: "touch", relationship: "document:o2#viewer@user:cy" }],
    });
    expect(await healthOf(a)).toBe("SERVING");

    await proxy.restore();
    await eventually(async () => (await healthOf(replica)) === "SERVING", "C to report SERVING again");
    expect((await check("document:o1", during.token)).state).toBe("ALLOWED");
    expect((await check("document:o2", during.token)).state).toBe("ALLOWED");
    const stored: string[] = [];
    for await (const item of cc.readRelationships({
      filter: { resourceType: "document", subject: { type: "user", id: "cy" } },
      consistency: { kind: "at-least-as-fresh", token: during.token },
    })) {
      stored.push(formatRelationship(item.relationship));
    }
    expect(stored.sort()).toEqual(["document:o1#viewer@user:cy", "document:o2#viewer@user:cy"]);
  }, 90_000);

  it("a silent network (nothing answers) also gives NOT_SERVING and UNAVAILABLE, not a timeout", async () => {
    if (proxy === undefined || c === undefined) throw new Error("needs the replica of the outage test");
    const replica = c;
    const cc = client(replica);
    clients.push(cc);
    const check = () =>
      cc.check(
        {
          resource: "document:o1",
          permission: "view",
          subject: "user:cy",
          consistency: { kind: "fully-consistent" },
        },
        { timeoutMs: 3_000 },
      );
    expect((await check()).state).toBe("ALLOWED");
    proxy.blackhole();
    await eventually(async () => (await healthOf(replica)) === "NOT_SERVING", "C to report NOT_SERVING");
    // The driver would wait 5 s to connect; the deadline is 3 s, the answer must still be UNAVAILABLE.
    const failed = await failureOf(check());
    expect(isLatchError(failed) ? failed.kind : failed).toBe("unavailable");
    await proxy.restore();
    await eventually(async () => (await healthOf(replica)) === "SERVING", "C to report SERVING again");
    expect((await check()).state).toBe("ALLOWED");
  }, 90_000);
});
