/**
 * SpiceDB ReadRelationships and ExportBulkRelationships cursors pin the revision they were issued
 * at, whatever the request's consistency says. They carry the store's signed revision token and
 * are resolved as an `at_exact_snapshot` token is: an edited cursor or one of another store is
 * INVALID_ARGUMENT; one at a revision not reached yet waits for it; one behind the history horizon
 * is FAILED_PRECONDITION (revision/compacted), never an empty or short success.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { createEngine } from "../../../src/engine/index.js";
import { createLogger, createMetrics, startServer } from "../../../src/server/index.js";
import type { Store } from "../../../src/store/index.js";
import { createPostgresStore } from "../../../src/store/postgres/index.js";
import { createSqliteStore } from "../../../src/store/sqlite/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "../../store/fixtures/pg-setup.js";
import { TOKEN } from "../harness.js";
import { errorInfoOf, failure, spiceClient, v1 } from "./harness.js";

const SCHEMA = `definition user {}
definition document {
  relation viewer: user
}`;
const SCHEMA2 = `definition user {}
definition document {
  relation viewer: user
  relation owner: user
}`;
const touch = (t: string) => ({ operation: "touch" as const, relationship: parseRelationship(t) });
const full = () =>
  v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });
const viewers = () => v1.RelationshipFilter.create({ resourceType: "document", optionalRelation: "viewer" });

async function serve(store: Store) {
  const engine = createEngine({ store });
  const server = await startServer({
    store,
    engine,
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    metrics: createMetrics(() => engine.stats(), { defaultMetrics: false }),
    watchPollMs: 10,
  });
  const c = spiceClient(server.address);
  return {
    c,
    async close() {
      c.close();
      await server.shutdown(1000);
    },
  };
}

async function withStore(store: Store, work: (c: v1.ZedClientInterface) => Promise<void>): Promise<void> {
  const s = await serve(store);
  try {
    await store.writeSchema(SCHEMA);
    await store.write(["u1", "u2", "u3"].map((u) => touch(`document:a#viewer@user:${u}`)));
    await work(s.c);
  } finally {
    await s.close();
    await store.close();
  }
}

type CursorFields = { r: string; k: string[]; f: string; z?: string };
const decode = (token: string): CursorFields => JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
const encode = (v: CursorFields): string => Buffer.from(JSON.stringify(v), "utf8").toString("base64url");

/** The cursor after the first viewer of a read at full consistency. */
async function firstReadCursor(c: v1.ZedClientInterface): Promise<string> {
  const page = await c.promises.readRelationships(
    v1.ReadRelationshipsRequest.create({
      relationshipFilter: viewers(),
      consistency: full(),
      optionalLimit: 1,
    }),
  );
  return page[0]!.afterResultCursor!.token;
}

/** The rest of a read from `token`; `deadlineMs` bounds the call (the promise API takes none). */
const readFrom = (c: v1.ZedClientInterface, token: string, deadlineMs?: number) =>
  new Promise<v1.ReadRelationshipsResponse[]>((resolve, reject) => {
    const rows: v1.ReadRelationshipsResponse[] = [];
    const stream = c.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: viewers(),
        consistency: full(),
        optionalCursor: { token },
      }),
      new grpc.Metadata(),
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
    );
    stream.on("data", (row: v1.ReadRelationshipsResponse) => rows.push(row));
    stream.on("error", reject);
    stream.on("end", () => resolve(rows));
  });

async function refusal(promise: Promise<unknown>) {
  const e = await failure(promise);
  return { code: e.code, reason: errorInfoOf(e.metadata)?.info?.reason, details: e.details };
}

const INVALID_CURSOR = { code: 3, reason: "ERROR_REASON_INVALID_CURSOR" };

describe("SpiceDB read cursors are bound to their store and revision", () => {
  it("resume at the cursor's revision", async () => {
    await withStore(await createSqliteStore({ path: ":memory:" }), async (c) => {
      const cursor = await firstReadCursor(c);
      const rest = await readFrom(c, cursor);
      expect(rest.map((r) => r.relationship!.subject!.object!.objectId)).toEqual(["u2", "u3"]);
    });
  });

  it("refuse a cursor whose revision was edited (ahead of the store or not)", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    await withStore(store, async (c) => {
      const cursor = decode(await firstReadCursor(c));
      const current = await store.currentRevision();
      for (const r of [current + 1_000_000n, current - 1n]) {
        expect(await refusal(readFrom(c, encode({ ...cursor, r: String(r) })))).toMatchObject(INVALID_CURSOR);
      }
      // A token of this store but not the cursor's: the number and the token must agree.
      const other = store.encodeRevision(current - 1n);
      expect(await refusal(readFrom(c, encode({ ...cursor, z: other })))).toMatchObject(INVALID_CURSOR);
      // A cursor without the token (made by an earlier version, or by hand).
      const { z: _, ...bare } = cursor;
      expect(await refusal(readFrom(c, encode(bare)))).toMatchObject(INVALID_CURSOR);
    });
  });

  it("refuse a cursor of another store", async () => {
    const b = await createSqliteStore({ path: ":memory:" });
    let foreign = "";
    await withStore(b, async (c) => {
      foreign = await firstReadCursor(c);
    });
    await withStore(await createSqliteStore({ path: ":memory:" }), async (c) => {
      const outcome = await refusal(readFrom(c, foreign));
      expect(outcome).toMatchObject(INVALID_CURSOR);
      expect(outcome.details).toMatch(/another store/);
    });
  });

  it("wait for a revision the store has not reached, as an exact-snapshot token does", async () => {
    const store = await createSqliteStore({ path: ":memory:" });
    await withStore(store, async (c) => {
      const cursor = decode(await firstReadCursor(c));
      const ahead = (await store.currentRevision()) + 1n;
      const pinned = encode({ ...cursor, r: String(ahead), z: store.encodeRevision(ahead) });
      // Never reached within the call's deadline: refused, not read (and no token signed for it).
      expect([4, 9]).toContain((await refusal(readFrom(c, pinned, 300))).code);
      // Reached by a write: the same cursor reads at that revision.
      const rows = readFrom(c, pinned);
      await store.write([touch("document:a#viewer@user:u4")]);
      const read = await rows;
      expect(read.map((r) => r.relationship!.subject!.object!.objectId)).toEqual(["u2", "u3", "u4"]);
      expect(store.decodeRevision(read[0]!.readAt!.token)).toBe(ahead);
    });
  });

  it("ExportBulkRelationships refuses an edited or foreign cursor", async () => {
    const exportFrom = (c: v1.ZedClientInterface, cursor: string) =>
      c.promises.exportBulkRelationships(
        v1.ExportBulkRelationshipsRequest.create({ consistency: full(), optionalCursor: { token: cursor } }),
      );
    const firstExportCursor = async (c: v1.ZedClientInterface) =>
      (
        await c.promises.exportBulkRelationships(
          v1.ExportBulkRelationshipsRequest.create({ consistency: full(), optionalLimit: 1 }),
        )
      )[0]!.afterResultCursor!.token;
    const store = await createSqliteStore({ path: ":memory:" });
    let foreign = "";
    await withStore(await createSqliteStore({ path: ":memory:" }), async (c) => {
      foreign = await firstExportCursor(c);
    });
    await withStore(store, async (c) => {
      const position = JSON.parse(Buffer.from(await firstExportCursor(c), "base64url").toString("utf8"));
      const inner = decode(position.c);
      const edited = {
        ...position,
        c: encode({ ...inner, r: String((await store.currentRevision()) + 1_000n) }),
      };
      const token = Buffer.from(JSON.stringify(edited), "utf8").toString("base64url");
      expect(await refusal(exportFrom(c, token))).toMatchObject(INVALID_CURSOR);
      expect(await refusal(exportFrom(c, foreign))).toMatchObject(INVALID_CURSOR);
    });
  });
});

function compactedCases(open: () => Promise<Store>): void {
  /** A new schema and a write, then a horizon past every revision, applied at once. */
  const compactPast = async (store: Store) => {
    await store.writeSchema(SCHEMA2);
    await store.write([touch("document:b#owner@user:u9")]);
    const report = await store.compactHistory!({ windowMs: 0, graceMs: 0, now: Date.now() + 60_000 });
    expect(report.applied).toBe(await store.currentRevision());
  };

  it("ExportBulkRelationships resumed from a compacted cursor fails, never an empty success", async () => {
    const store = await open();
    await withStore(store, async (c) => {
      const first = await c.promises.exportBulkRelationships(
        v1.ExportBulkRelationshipsRequest.create({ consistency: full(), optionalLimit: 1 }),
      );
      const cursor = first[0]!.afterResultCursor!;
      await compactPast(store);
      const outcome = await refusal(
        c.promises.exportBulkRelationships(
          v1.ExportBulkRelationshipsRequest.create({ consistency: full(), optionalCursor: cursor }),
        ),
      );
      expect(outcome.code).toBe(9);
      expect(outcome.details).toMatch(/GC window/);
    });
  });

  it("ReadRelationships resumed from a compacted cursor fails as compacted", async () => {
    const store = await open();
    await withStore(store, async (c) => {
      const cursor = await firstReadCursor(c);
      await compactPast(store);
      const outcome = await refusal(readFrom(c, cursor));
      expect(outcome.code).toBe(9);
      expect(outcome.details).toMatch(/GC window/);
    });
  });
}

describe("SpiceDB cursors behind the history horizon (SQLite)", () => {
  compactedCases(() => createSqliteStore({ path: ":memory:" }));
});

if (PG_URL === undefined) {
  describe.skip(PG_SKIP_REASON, () => {
    it("SpiceDB cursors behind the history horizon (PostgreSQL)", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  describe("SpiceDB cursors behind the history horizon (PostgreSQL)", () => {
    compactedCases(() => createPostgresStore({ url, schema: schemas.next(), pool: { max: 4 } }));
  });
}
