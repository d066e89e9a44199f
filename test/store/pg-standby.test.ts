/**
 * PostgreSQL read replicas, for real: a hot standby of the local PostgreSQL (scripts/pg-standby.sh:
 * pg_basebackup -R into a temporary folder, started on another port), one Latch store writing
 * through the primary and another reading through the standby. Read-after-write with
 * at-least-as-fresh holds, reads do reach the standby, and stopping it mid-load loses no answer.
 *
 * The standby needs root (or the postgres OS user) and PostgreSQL's binaries; without them the
 * standby part is skipped with a line saying so, except under LATCH_REQUIRE_STANDBY=1 (.ci/run),
 * where it fails instead.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine, type Engine } from "../../src/engine/index.js";
import { createPostgresStore, type PostgresStore } from "../../src/store/postgres/index.js";
import { eventually, PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

const run = promisify(execFile);
const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), "../../scripts/pg-standby.sh");
const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";
const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission view = viewer
}
`;

/** Why the standby cannot be started here, or undefined when it can. */
function standbySkipReason(): string | undefined {
  if (PG_URL === undefined) return PG_SKIP_REASON;
  if (process.getuid?.() !== 0) return "not running as root: the PostgreSQL hot standby test is skipped";
  if (!existsSync(join(PG_BIN, "pg_basebackup")))
    return `no PostgreSQL binaries in ${PG_BIN} (set PG_BIN): the hot standby test is skipped`;
  return undefined;
}

const skip = standbySkipReason();
const required = process.env.LATCH_REQUIRE_STANDBY === "1";
if (skip !== undefined && !required) console.info(skip);

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** The standby's URL for the database PG_URL names. */
function onStandby(port: number): string {
  const url = new URL(PG_URL!);
  url.port = String(port);
  return url.toString();
}

/** How long replay or a probe may take on a loaded machine (a bound for waiting, not a measure). */
const PATIENCE_MS = 30_000;

const touch = (text: string) => ({ operation: "touch" as const, relationship: parseRelationship(text) });
const del = (text: string) => ({ operation: "delete" as const, relationship: parseRelationship(text) });

function check(engine: Engine, doc: string, token: string) {
  return engine.check({
    resource: { type: "document", id: doc },
    permission: "view",
    subject: { type: "user", id: "u" },
    consistency: { kind: "at-least-as-fresh", token },
  });
}

describe.skipIf(skip !== undefined && !required)("PostgreSQL read replicas on a real hot standby", () => {
  const dir = join(tmpdir(), `latch-standby-${randomBytes(4).toString("hex")}`);
  const schemas = new SchemaTracker();
  const open: PostgresStore[] = [];
  let port = 0;
  let writer: PostgresStore;
  let reader: PostgresStore;
  let engine: Engine;

  beforeAll(async () => {
    if (skip !== undefined) throw new Error(`LATCH_REQUIRE_STANDBY=1, but ${skip}`);
    port = await freePort();
    await run("bash", [SCRIPT, "start", dir, String(port)], { timeout: 120_000 });
    const schema = schemas.next();
    writer = await createPostgresStore({ url: PG_URL!, schema });
    open.push(writer);
    await writer.writeSchema(SCHEMA);
    reader = await createPostgresStore({
      url: PG_URL!,
      schema,
      readReplicas: [onStandby(port)],
      readReplicaProbeMs: 50,
    });
    open.push(reader);
    engine = createEngine({ store: reader });
    // The schema reaches the standby by replay; until then the replica is down, its reads primary's.
    await eventually(
      () => reader.readReplicas?.()[0]?.state === "up",
      "the standby to hold the schema",
      PATIENCE_MS,
    );
  }, 180_000);

  afterAll(async () => {
    for (const store of open) await store.close();
    await run("bash", [SCRIPT, "stop", dir, "immediate"]).catch(() => undefined);
    await schemas.dropAll();
  });

  it("reads after writes at at-least-as-fresh, whichever copy answers, and the standby does answer", async () => {
    for (let i = 0; i < 40; i++) {
      const doc = `d${i}`;
      const added = writer.encodeRevision(await writer.write([touch(`document:${doc}#viewer@user:u`)]));
      expect((await check(engine, doc, added)).state).toBe("ALLOWED");
      if (i % 4 === 3) {
        const removed = writer.encodeRevision(await writer.write([del(`document:${doc}#viewer@user:u`)]));
        expect((await check(engine, doc, removed)).state).toBe("DENIED");
      }
    }
    // Once the standby has replayed the last write, reads at it are the standby's.
    const last = await writer.currentRevision();
    await eventually(
      () => (reader.readReplicas?.()[0]?.revision ?? 0n) >= last,
      "the standby to catch up",
      PATIENCE_MS,
    );
    const before = reader.readReplicas!()[0]!.reads;
    const token = writer.encodeRevision(last);
    expect((await check(engine, "d0", token)).state).toBe("ALLOWED");
    expect((await check(engine, "d3", token)).state).toBe("DENIED");
    const page = await reader.at(last).readRelationships({ resourceType: "document" });
    expect(page.relationships).toHaveLength(30);
    expect(reader.readReplicas!()[0]!.reads).toBeGreaterThan(before);
  }, 120_000);

  it("loses no answer when the standby stops mid-load, and shows it down", async () => {
    const docs = Array.from({ length: 20 }, (_, i) => `load${i}`);
    const token = writer.encodeRevision(
      await writer.write(docs.filter((_, i) => i % 2 === 0).map((d) => touch(`document:${d}#viewer@user:u`))),
    );
    await eventually(
      async () => (reader.readReplicas?.()[0]?.revision ?? 0n) >= reader.decodeRevision(token),
      "the standby to catch up",
      PATIENCE_MS,
    );
    const answers: string[] = [];
    let stopped: Promise<unknown> | undefined;
    const servedBefore = reader.readReplicas!()[0]!.reads;
    for (let round = 0; round < 30; round++) {
      // Fresh engines each round: no cache may hide a read from the datastore.
      const fresh = createEngine({ store: reader, cache: false });
      const results = await Promise.all(docs.map((d) => check(fresh, d, token)));
      answers.push(...results.map((r) => r.state));
      for (const [i, r] of results.entries()) expect(r.state).toBe(i % 2 === 0 ? "ALLOWED" : "DENIED");
      if (round === 5) {
        expect(reader.readReplicas!()[0]!.reads).toBeGreaterThan(servedBefore);
        // Not awaited: the load goes on while the standby goes away.
        stopped = run("bash", [SCRIPT, "stop", dir, "immediate"]);
      }
    }
    await stopped;
    expect(answers).toHaveLength(30 * docs.length);
    // After the stop every read still answers (from the primary), and the replica is shown down.
    const after = createEngine({ store: reader, cache: false });
    expect((await check(after, "load0", token)).state).toBe("ALLOWED");
    await eventually(
      () => reader.readReplicas?.()[0]?.state === "down",
      "the replica to be shown down",
      PATIENCE_MS,
    );
    expect(reader.readReplicas!()[0]!.error).toBeDefined();
  }, 120_000);
});

describe.skipIf(PG_URL === undefined)("PostgreSQL read replicas: configuration", () => {
  const schemas = new SchemaTracker();
  const open: PostgresStore[] = [];
  afterAll(async () => {
    for (const store of open) await store.close();
    await schemas.dropAll();
  });

  it("refuses a replica URL that is not a postgres:// URL", async () => {
    await expect(
      createPostgresStore({ url: PG_URL!, schema: schemas.next(), readReplicas: ["mysql://x@y/z"] }),
    ).rejects.toMatchObject({ code: "store/invalid-read-replica", kind: "invalid-argument" });
  });

  it("never reads from a database that is not a copy of this store, and says why", async () => {
    const schema = schemas.next();
    const store = await createPostgresStore({ url: PG_URL!, schema });
    open.push(store);
    await store.writeSchema(SCHEMA);
    // Another store of the same schema name in another database: a wrong URL, not a standby.
    const other = new URL(PG_URL!);
    other.pathname = "/postgres";
    const stranger = await createPostgresStore({ url: other.toString(), schema });
    await stranger.close();
    try {
      const reader = await createPostgresStore({ url: PG_URL!, schema, readReplicas: [other.toString()] });
      open.push(reader);
      const [status] = reader.readReplicas!();
      expect(status).toMatchObject({ state: "mismatched", name: "127.0.0.1:5432/postgres" });
      expect(status!.error).toContain(`not ${store.storeId}`);
      const revision = await store.write([touch("document:x#viewer@user:u")]);
      const page = await reader.at(revision).readRelationships({ resourceType: "document" });
      expect(page.relationships).toHaveLength(1);
      expect(reader.readReplicas!()[0]!.reads).toBe(0);
    } finally {
      const url = other.toString();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });

  it("sends reads to a replica that holds the revision (the primary standing in for a standby)", async () => {
    const schema = schemas.next();
    const store = await createPostgresStore({ url: PG_URL!, schema });
    open.push(store);
    await store.writeSchema(SCHEMA);
    const reader = await createPostgresStore({ url: PG_URL!, schema, readReplicas: [PG_URL!] });
    open.push(reader);
    const revision = await store.write([touch("document:y#viewer@user:u")]);
    await eventually(
      async () => {
        await reader.at(revision).readRelationships({ resourceType: "document" });
        return reader.readReplicas!()[0]!.reads > 0;
      },
      "a read served by the replica",
      PATIENCE_MS,
    );
    expect(reader.readReplicas!()[0]).toMatchObject({ state: "up", failures: 0 });
  });
});
