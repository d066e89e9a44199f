/**
 * PostgreSQL-only behaviour: several replicas on one database (shared identity, tokens, revisions,
 * change feed, migrations, sweep) and outages (terminated backends, a vanished or silent network).
 */

import { afterAll, describe, expect, it } from "vitest";
import { formatRelationship, isLatchError, parseRelationship } from "../../src/core/index.js";
import { latestReader } from "../../src/store/index.js";
import { createPostgresStore, migratePostgres, type PostgresStore } from "../../src/store/postgres/index.js";
import { MIGRATIONS } from "../../src/store/postgres/migrations.js";
import { approvalRequest } from "./conformance/approvals.js";
import {
  admin,
  eventually,
  PG_SKIP_REASON,
  PG_URL,
  SchemaTracker,
  startProxy,
  terminateBackends,
  uniqueName,
} from "./fixtures/pg-setup.js";

const SCHEMA = `use expiration
definition user {}
definition group {
  relation member: user | group#member
}
caveat tagged(tags list<string>, note string) {
  note in tags
}
definition document {
  relation viewer: user | group#member | user:* | user with expiration
  relation tagged: user with tagged
}
`;

const rel = parseRelationship;
const touch = (text: string) => ({ operation: "touch" as const, relationship: rel(text) });

if (PG_URL === undefined) console.info(PG_SKIP_REASON);

describe.skipIf(PG_URL === undefined)("PostgreSQL store: replicas and outages", () => {
  const url = PG_URL as string;
  const schemas = new SchemaTracker();
  const open: PostgresStore[] = [];

  async function replica(schema: string, extra: Partial<Parameters<typeof createPostgresStore>[0]> = {}) {
    const store = await createPostgresStore({ url, schema, pollIntervalMs: 50, ...extra });
    open.push(store);
    return store;
  }

  afterAll(async () => {
    for (const store of open) await store.close();
    await schemas.dropAll();
  });

  it("shares identity and tokens: a write through A is visible through B at A's token", async () => {
    const schema = schemas.next();
    const a = await replica(schema);
    const b = await replica(schema);
    expect(b.storeId).toBe(a.storeId);
    await a.writeSchema(SCHEMA);
    const revision = await a.write([
      touch("document:q3#viewer@user:alice"),
      touch("document:q3#viewer@group:eng#member"),
    ]);
    const token = a.encodeRevision(revision);
    const atToken = b.decodeRevision(token);
    expect(atToken).toBe(revision);
    const page = await b.at(atToken).readRelationships({ resourceType: "document", resourceId: "q3" });
    expect(page.relationships.map(formatRelationship).sort()).toEqual(
      ["document:q3#viewer@group:eng#member", "document:q3#viewer@user:alice"].sort(),
    );
    const forward = await b
      .at(atToken)
      .lookupForward({ resourceType: "document", resourceIds: ["q3"], relations: ["viewer"] });
    expect(forward).toHaveLength(2);
    expect(await b.currentRevision()).toBe(revision);
  });

  it("refuses a token of another PG schema (another store)", async () => {
    const a = await replica(schemas.next());
    const other = await replica(schemas.next());
    const token = other.encodeRevision(0n);
    expect(() => a.decodeRevision(token)).toThrow(
      expect.objectContaining({ code: "revision/foreign-token" }),
    );
  });

  it("delivers A's revisions to B's subscribers", async () => {
    const schema = schemas.next();
    const a = await replica(schema);
    const b = await replica(schema);
    await a.writeSchema(SCHEMA);
    const seen: bigint[] = [];
    const unsubscribe = b.subscribe((revision) => seen.push(revision));
    try {
      const written: bigint[] = [];
      for (const id of ["x", "y", "z"])
        written.push(await a.write([touch(`document:${id}#viewer@user:bob`)]));
      const last = written[written.length - 1] as bigint;
      await eventually(() => seen.includes(last), "B to hear A's last revision");
      expect([...seen].sort((p, q) => (p < q ? -1 : 1))).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);
      // What B is told about, B can read.
      const changes = await b.changesSince((written[0] as bigint) - 1n);
      expect(changes.changes.map((c) => c.revision)).toEqual(written);
    } finally {
      unsubscribe();
    }
  });

  it("keeps the feed going by polling while LISTEN is cut, then listens again", async () => {
    const schema = schemas.next();
    const app = uniqueName("latchfeed");
    const a = await replica(schema);
    const b = await replica(schema, { pool: { applicationName: app } });
    await a.writeSchema(SCHEMA);
    const seen: bigint[] = [];
    const unsubscribe = b.subscribe((revision) => seen.push(revision));
    try {
      const first = await a.write([touch("document:p1#viewer@user:carol")]);
      await eventually(() => seen.includes(first), "the first revision");
      expect(await terminateBackends(`${app}-listen`)).toBeGreaterThan(0);
      const second = await a.write([touch("document:p2#viewer@user:carol")]);
      await eventually(() => seen.includes(second), "a revision written while LISTEN was down");
      await eventually(
        async () =>
          (
            await admin((c) =>
              c.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [`${app}-listen`]),
            )
          ).rowCount === 1,
        "LISTEN to reconnect",
      );
    } finally {
      unsubscribe();
    }
  });

  it("replaces a LISTEN connection that went silent, and the feed resumes", async () => {
    const proxy = await startProxy(url);
    try {
      const schema = schemas.next();
      const a = await replica(schema);
      const app = uniqueName("latchsilent");
      const b = await replica(schema, {
        url: proxy.url,
        heartbeatMs: 100,
        pool: { connectionTimeoutMillis: 500, queryTimeoutMillis: 1_000, applicationName: app },
      });
      const listenPids = async () =>
        (
          await admin((c) =>
            c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1", [
              `${app}-listen`,
            ]),
          )
        ).rows.map((r) => r.pid);
      await a.writeSchema(SCHEMA);
      const seen: bigint[] = [];
      const unsubscribe = b.subscribe((revision) => seen.push(revision));
      try {
        const first = await a.write([touch("document:s1#viewer@user:frank")]);
        await eventually(() => seen.includes(first), "the first revision");
        const before = await listenPids();
        expect(before).toHaveLength(1);
        proxy.freeze();
        const second = await a.write([touch("document:s2#viewer@user:frank")]);
        await eventually(() => seen.includes(second), "a revision written while LISTEN was silent");
        // The heartbeat gave up on the silent connection and listens on a new one.
        await eventually(
          async () => (await listenPids()).some((pid) => !before.includes(pid)),
          "a replacement LISTEN connection",
        );
      } finally {
        unsubscribe();
      }
    } finally {
      await proxy.close();
    }
  });

  it("runs migrations from several replicas at once without error", async () => {
    const schema = schemas.next();
    const results = await Promise.all([
      migratePostgres(url, schema),
      migratePostgres(url, schema),
      createPostgresStore({ url, schema }),
      createPostgresStore({ url, schema }),
    ]);
    const [m1, m2, s1, s2] = results as [number[], number[], PostgresStore, PostgresStore];
    open.push(s1, s2);
    // Exactly one of the four applied each migration.
    const applied = [...m1, ...m2];
    expect(new Set(applied).size).toBe(applied.length);
    expect(applied.length).toBeLessThanOrEqual(MIGRATIONS.length);
    expect(s1.storeId).toBe(s2.storeId);
    const rows = await admin((c) => c.query(`SELECT version FROM "${schema}".latch_migrations`));
    expect(rows.rowCount).toBe(MIGRATIONS.length);
    expect(await migratePostgres(url, schema)).toEqual([]);
  });

  it("with migrate: false, refuses an unmigrated database and one migrated by a newer Latch", async () => {
    const schema = schemas.next();
    const fresh = await createPostgresStore({ url, schema, migrate: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(fresh).toMatchObject({ code: "store/not-migrated", kind: "failed-precondition" });
    await migratePostgres(url, schema);
    await admin((c) =>
      c.query(`INSERT INTO "${schema}".latch_migrations (version, name) VALUES (9999, 'future')`),
    );
    for (const migrate of [true, false]) {
      const newer = await createPostgresStore({ url, schema, migrate }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(newer).toMatchObject({ code: "store/newer-version" });
    }
  });

  it("imports caveat contexts with quotes, backslashes and unicode intact (batched array encoding)", async () => {
    const store = await replica(schemas.next());
    await store.writeSchema(SCHEMA);
    const notes = ['say "hi"', 'back\\slash \\"', "{curly,comma}", "NULL", "ünïcødé ✓", ""];
    const input = notes.map((note, i) => ({
      ...rel(`document:n${i}#tagged@user:u${i}`),
      caveat: { name: "tagged", context: { note, tags: [note, "x,y"] } },
    }));
    await store.importRelationships(input, { batchSize: 4 });
    const page = await (await latestReader(store)).readRelationships({
      resourceType: "document",
      relation: "tagged",
    });
    const byId = new Map(page.relationships.map((r) => [r.resource.id, r.caveat?.context]));
    for (const [i, note] of notes.entries()) expect(byId.get(`n${i}`)).toEqual({ note, tags: [note, "x,y"] });
  });

  it("gives concurrent writers on two replicas distinct, gap-free revisions in commit order", async () => {
    const schema = schemas.next();
    const a = await replica(schema);
    const b = await replica(schema);
    const base = await a.writeSchema(SCHEMA);
    const writes = Array.from({ length: 24 }, (_, i) =>
      (i % 2 === 0 ? a : b).write([touch(`document:c${i}#viewer@user:u${i}`)]),
    );
    const revisions = await Promise.all(writes);
    const sorted = [...revisions].sort((p, q) => (p < q ? -1 : 1));
    expect(sorted).toEqual(Array.from({ length: 24 }, (_, i) => base + 1n + BigInt(i)));
    // Each revision's read sees exactly the writes with smaller or equal revisions.
    for (const [i, revision] of revisions.entries()) {
      const seen = await b.at(revision).readRelationships({ resourceType: "document" });
      const expected = revisions.filter((r) => r <= revision).length;
      expect(seen.relationships).toHaveLength(expected);
      expect(seen.relationships.map(formatRelationship)).toContain(`document:c${i}#viewer@user:u${i}`);
    }
  });

  it("sweeps from two replicas at once without double counting", async () => {
    const schema = schemas.next();
    const a = await replica(schema);
    const b = await replica(schema);
    await a.writeSchema(SCHEMA);
    const past = new Date(Date.now() - 60_000);
    await a.importRelationships(
      Array.from({ length: 500 }, (_, i) => ({
        ...rel(`document:e${i}#viewer@user:u${i}`),
        expiration: past,
      })),
    );
    let swept = 0;
    for (;;) {
      const [x, y] = await Promise.all([a.sweepExpired(40), b.sweepExpired(40)]);
      swept += x + y;
      if (x + y === 0) break;
    }
    expect(swept).toBe(500);
  });

  it("survives terminated connections: fails as unavailable or succeeds, then recovers, losing nothing acknowledged", async () => {
    const schema = schemas.next();
    const app = uniqueName("latchout");
    const store = await replica(schema, { pool: { applicationName: app, max: 4 } });
    await store.writeSchema(SCHEMA);
    const acknowledged: string[] = [];
    for (let i = 0; i < 5; i++) {
      const text = `document:o${i}#viewer@user:dave`;
      await store.write([touch(text)]);
      acknowledged.push(text);
    }
    // Warm several pooled connections so the termination hits idle and busy ones alike.
    await Promise.all(Array.from({ length: 4 }, () => store.currentRevision()));
    expect(await terminateBackends(app)).toBeGreaterThan(0);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => {
        const text = `document:t${i}#viewer@user:dave`;
        return store.write([touch(text)]).then(() => text);
      }),
    );
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") acknowledged.push(outcome.value);
      else expect(outcome.reason).toMatchObject({ kind: "unavailable", code: "store/unavailable" });
    }
    // Recovered by itself: the next requests succeed.
    const after = await store.write([touch("document:after#viewer@user:dave")]);
    acknowledged.push("document:after#viewer@user:dave");
    const all = await store.at(after).readRelationships({ resourceType: "document" });
    const stored = all.relationships.map(formatRelationship);
    for (const text of acknowledged) expect(stored).toContain(text);
  });

  it("answers unavailable while the database is unreachable, without hanging, and recovers when it returns", async () => {
    const proxy = await startProxy(url);
    try {
      const schema = schemas.next();
      const store = await replica(schema, {
        url: proxy.url,
        pool: { connectionTimeoutMillis: 500, statementTimeoutMillis: 2_000, queryTimeoutMillis: 1_000 },
      });
      await store.writeSchema(SCHEMA);
      const ack = await store.write([touch("document:keep#viewer@user:erin")]);

      await proxy.cut();
      const refused = await store.currentRevision().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isLatchError(refused) && refused.kind).toBe("unavailable");
      const write = await store.write([touch("document:lost#viewer@user:erin")]).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(write).toMatchObject({ kind: "unavailable" });

      await proxy.restore();
      proxy.blackhole();
      const silent = await store
        .at(ack)
        .lookupForward({ resourceType: "document", resourceIds: ["keep"], relations: ["viewer"] })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(silent).toMatchObject({ kind: "unavailable" });

      await proxy.restore();
      await eventually(
        () =>
          store.currentRevision().then(
            () => true,
            () => false,
          ),
        "the store to recover",
      );
      const found = await (await latestReader(store)).lookupForward({
        resourceType: "document",
        resourceIds: ["keep", "lost"],
        relations: ["viewer"],
      });
      expect(found.map(formatRelationship)).toEqual(["document:keep#viewer@user:erin"]);
    } finally {
      await proxy.close();
    }
  });

  it("fails to open with unavailable when nothing listens", async () => {
    const proxy = await startProxy(url);
    const dead = proxy.url;
    await proxy.close();
    const error = await createPostgresStore({
      url: dead,
      schema: uniqueName("latch_test"),
      pool: { connectionTimeoutMillis: 500 },
    }).then(
      async (store) => {
        await store.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ kind: "unavailable", code: "store/unavailable" });
  });
});

describe.skipIf(PG_URL === undefined)("PostgreSQL store: approvals across replicas", () => {
  const schemas = new SchemaTracker();
  const open: PostgresStore[] = [];
  afterAll(async () => {
    for (const store of open) await store.close();
    await schemas.dropAll();
  });

  it("two replicas consuming one single-use approval at once: exactly one wins; both share one pending id", async () => {
    const schema = schemas.next();
    const a = await createPostgresStore({ url: PG_URL as string, schema });
    open.push(a);
    const b = await createPostgresStore({ url: PG_URL as string, schema });
    open.push(b);
    const now = Date.now();
    const request = approvalRequest("x1", { createdAt: now, expiresAt: now + 60_000 });
    const [ra, rb] = await Promise.all([
      a.approvals.create(request),
      b.approvals.create({ ...request, id: "x2" }),
    ]);
    expect(ra.approval.id).toBe(rb.approval.id);
    expect([ra.created, rb.created].filter(Boolean)).toHaveLength(1);
    const id = ra.approval.id;
    await a.approvals.decide({ id, approve: true, decidedBy: "user:olga", reason: "", now });
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all([a.approvals.consume(id, now), b.approvals.consume(id, now)]);
      expect(results.filter(Boolean)).toHaveLength(round === 0 ? 1 : 0);
    }
  });
});
