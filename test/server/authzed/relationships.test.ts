/**
 * PermissionsService's relationship calls through the real @authzed/authzed-node client against a
 * real server: on SQLite always, on PostgreSQL when LATCH_TEST_POSTGRES_URL is set. Every error is
 * checked for its status code and ErrorInfo reason, and for having written nothing.
 */
import { protobuf } from "@authzed/authzed-node";
import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatRelationship, parseRelationship, type Relationship } from "../../../src/core/index.js";
import { createEngine } from "../../../src/engine/index.js";
import { AuthzedError, relationshipToSpice } from "../../../src/server/authzed/index.js";
import { importBulk } from "../../../src/server/authzed/permissions-relationships.js";
import { createLogger, createMetrics, type RunningServer, startServer } from "../../../src/server/index.js";
import { watchChanges } from "../../../src/service/index.js";
import type { Store } from "../../../src/store/index.js";
import { createPostgresStore } from "../../../src/store/postgres/index.js";
import { createSqliteStore } from "../../../src/store/sqlite/index.js";
import { PG_URL, SchemaTracker } from "../../store/fixtures/pg-setup.js";
import { TOKEN } from "../harness.js";
import { errorInfoOf, failure, spiceClient, v1 } from "./harness.js";

const SCHEMA = `
use expiration
caveat only_on(day string) { day == "tuesday" }
definition user {}
definition group { relation member: user | group#member }
definition folder { relation viewer: user }
definition document {
  relation viewer: user | group#member | user:* | user with only_on
  relation owner: user | user with expiration
  relation parent: folder
  permission view = viewer + owner + parent->viewer
}
`;

type Client = v1.ZedClientInterface;

/** A subject filter of the client library (its type wants every field). */
function subjects(subjectType: string, optionalSubjectId = "", relation?: string): v1.SubjectFilter {
  return v1.SubjectFilter.create({
    subjectType,
    optionalSubjectId,
    ...(relation === undefined ? {} : { optionalRelation: { relation } }),
  });
}

/** `document:a#viewer@user:u1[only_on:{"day":"monday"}]` as the client library's message. */
function rel(text: string): v1.Relationship {
  const r = parseRelationship(text);
  return v1.Relationship.create({
    resource: { objectType: r.resource.type, objectId: r.resource.id },
    relation: r.relation,
    subject: {
      object: { objectType: r.subject.type, objectId: r.subject.id },
      optionalRelation: r.subject.relation ?? "",
    },
    ...(r.caveat === undefined
      ? {}
      : {
          optionalCaveat: {
            caveatName: r.caveat.name,
            ...(r.caveat.context === undefined
              ? {}
              : { context: v1.createStructFromObject(r.caveat.context as never) }),
          },
        }),
    ...(r.expiration === undefined ? {} : { optionalExpiresAt: protobuf.Timestamp.fromDate(r.expiration) }),
  });
}

/** The message back as Latch's relationship string, for comparisons. */
function text(m: v1.Relationship | undefined): string {
  if (m === undefined) throw new Error("no relationship");
  const r: Relationship = {
    resource: { type: m.resource!.objectType, id: m.resource!.objectId },
    relation: m.relation,
    subject: {
      type: m.subject!.object!.objectType,
      id: m.subject!.object!.objectId,
      ...(m.subject!.optionalRelation === "" ? {} : { relation: m.subject!.optionalRelation }),
    },
    ...(m.optionalCaveat === undefined
      ? {}
      : {
          caveat: {
            name: m.optionalCaveat.caveatName,
            ...(m.optionalCaveat.context === undefined
              ? {}
              : { context: protobuf.Struct.toJson(m.optionalCaveat.context) as Record<string, unknown> }),
          },
        }),
    ...(m.optionalExpiresAt === undefined
      ? {}
      : { expiration: protobuf.Timestamp.toDate(m.optionalExpiresAt) }),
  };
  return formatRelationship(r);
}

const OP = v1.RelationshipUpdate_Operation;
const update = (operation: v1.RelationshipUpdate_Operation, t: string) =>
  v1.RelationshipUpdate.create({ operation, relationship: rel(t) });
const full = () =>
  v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });
const freshAs = (token: v1.ZedToken | undefined) =>
  v1.Consistency.create({ requirement: { oneofKind: "atLeastAsFresh", atLeastAsFresh: token! } });

async function write(c: Client, ops: [v1.RelationshipUpdate_Operation, string][], extra = {}) {
  return c.promises.writeRelationships(
    v1.WriteRelationshipsRequest.create({ updates: ops.map(([o, t]) => update(o, t)), ...extra }),
  );
}

async function read(
  c: Client,
  filter: Partial<v1.RelationshipFilter>,
  extra: Partial<v1.ReadRelationshipsRequest> = {},
) {
  return c.promises.readRelationships(
    v1.ReadRelationshipsRequest.create({
      relationshipFilter: v1.RelationshipFilter.create(filter),
      consistency: full(),
      ...extra,
    }),
  );
}

function importAll(c: Client, batches: string[][]): Promise<v1.ImportBulkRelationshipsResponse> {
  return new Promise((resolve, reject) => {
    const stream = c.importBulkRelationships(
      (error: grpc.ServiceError | null, answer?: v1.ImportBulkRelationshipsResponse) =>
        error === null ? resolve(answer!) : reject(error),
    );
    for (const batch of batches)
      stream.write(v1.ImportBulkRelationshipsRequest.create({ relationships: batch.map(rel) }));
    stream.end();
  });
}

async function exportAll(c: Client, extra: Partial<v1.ExportBulkRelationshipsRequest> = {}) {
  return c.promises.exportBulkRelationships(
    v1.ExportBulkRelationshipsRequest.create({ consistency: full(), ...extra }),
  );
}

/** The code and the ErrorInfo (reason, domain, metadata) of a failed call. */
async function spiceFailure(promise: Promise<unknown>) {
  const error = await failure(promise);
  const details = errorInfoOf(error.metadata);
  return { code: error.code, message: error.details, info: details?.info };
}

function suite(name: string, makeStore: () => Promise<Store>, limits = { maxUpdates: 8 }) {
  describe(`PermissionsService relationships (${name})`, () => {
    let store: Store;
    let server: RunningServer;
    let c: Client;

    beforeEach(async () => {
      store = await makeStore();
      await store.writeSchema(SCHEMA);
      const engine = createEngine({ store });
      server = await startServer({
        store,
        engine,
        tokens: [TOKEN],
        listen: "127.0.0.1:0",
        logger: createLogger("silent"),
        metrics: createMetrics(() => engine.stats(), { defaultMetrics: false }),
        watchPollMs: 10,
        limits,
      });
      c = spiceClient(server.address);
    });
    afterEach(async () => {
      c.close();
      await server.shutdown(1000);
      await store.close();
    });

    /** Everything stored, as strings in store order. */
    async function all(): Promise<string[]> {
      return (await exportAll(c)).flatMap((m) => m.relationships.map(text));
    }

    describe("WriteRelationships and ReadRelationships", () => {
      it("creates, touches and deletes, and a read at written_at sees it (read after write)", async () => {
        const first = await write(c, [
          [OP.CREATE, "document:a#viewer@user:u1"],
          [OP.CREATE, 'document:a#viewer@user:u2[only_on:{"day":"monday"}]'],
          [OP.TOUCH, "document:a#owner@user:u1[expiration:2999-01-01T00:00:00Z]"],
        ]);
        expect(first.writtenAt?.token).toMatch(/.+/);
        const seen = await read(c, { resourceType: "document" }, { consistency: freshAs(first.writtenAt) });
        expect(seen.map((r) => text(r.relationship))).toEqual([
          "document:a#owner@user:u1[expiration:2999-01-01T00:00:00Z]",
          "document:a#viewer@user:u1",
          'document:a#viewer@user:u2[only_on:{"day":"monday"}]',
        ]);
        expect(new Set(seen.map((r) => r.readAt?.token))).toEqual(new Set([first.writtenAt?.token]));
        const second = await write(c, [
          [OP.TOUCH, 'document:a#viewer@user:u2[only_on:{"day":"tuesday"}]'],
          [OP.DELETE, "document:a#viewer@user:u1"],
          [OP.DELETE, "document:a#viewer@user:never-written"],
        ]);
        const after = await read(
          c,
          { resourceType: "document", optionalRelation: "viewer" },
          {
            consistency: freshAs(second.writtenAt),
          },
        );
        expect(after.map((r) => text(r.relationship))).toEqual([
          'document:a#viewer@user:u2[only_on:{"day":"tuesday"}]',
        ]);
      });

      it("filters without a resource type, by id prefix and by subject relation", async () => {
        await write(c, [
          [OP.CREATE, "document:a1#viewer@user:u1"],
          [OP.CREATE, "document:a2#viewer@group:eng#member"],
          [OP.CREATE, "document:b1#owner@user:u1"],
          [OP.CREATE, "folder:a1#viewer@user:u1"],
          [OP.CREATE, "group:eng#member@user:u1"],
        ]);
        const ids = async (filter: Partial<v1.RelationshipFilter>) =>
          (await read(c, filter)).map((r) => text(r.relationship));
        expect(await ids({ optionalSubjectFilter: subjects("user", "u1") })).toEqual([
          "document:a1#viewer@user:u1",
          "document:b1#owner@user:u1",
          "folder:a1#viewer@user:u1",
          "group:eng#member@user:u1",
        ]);
        expect(await ids({ optionalResourceIdPrefix: "a" })).toEqual([
          "document:a1#viewer@user:u1",
          "document:a2#viewer@group:eng#member",
          "folder:a1#viewer@user:u1",
        ]);
        expect(
          await ids({
            resourceType: "document",
            optionalSubjectFilter: subjects("group", "", "member"),
          }),
        ).toEqual(["document:a2#viewer@group:eng#member"]);
        // An empty relation filter: subjects without a relation only.
        expect(
          await ids({
            resourceType: "document",
            optionalSubjectFilter: subjects("group", "", ""),
          }),
        ).toEqual([]);
        expect(await ids({ optionalRelation: "viewer", optionalResourceId: "a1" })).toEqual([
          "document:a1#viewer@user:u1",
          "folder:a1#viewer@user:u1",
        ]);
      });

      it("puts a cursor on every result; each resumes exactly after it, at the cursor's revision", async () => {
        const written = Array.from({ length: 7 }, (_, i) => `document:d${i}#viewer@user:u${i}`);
        await write(
          c,
          written.map((t) => [OP.CREATE, t]),
        );
        const filter = { optionalSubjectFilter: subjects("user") };
        const whole = await read(c, filter);
        expect(whole.map((r) => text(r.relationship))).toEqual(written);
        // Written after the first read: resumed reads must not see it (the cursor pins the revision).
        await write(c, [[OP.CREATE, "document:d9#viewer@user:late"]]);
        for (const [i, r] of whole.entries()) {
          expect(r.afterResultCursor?.token).toMatch(/.+/);
          const rest = await read(c, filter, { optionalCursor: r.afterResultCursor! });
          expect(rest.map((x) => text(x.relationship))).toEqual(written.slice(i + 1));
        }
        const limited = await read(c, filter, { optionalLimit: 3 });
        expect(limited.map((r) => text(r.relationship))).toEqual(written.slice(0, 3));
        const next = await read(c, filter, {
          optionalLimit: 3,
          optionalCursor: limited[2]!.afterResultCursor!,
        });
        expect(next.map((r) => text(r.relationship))).toEqual(written.slice(3, 6));
      });

      it("refuses bad reads with SpiceDB's codes and reasons", async () => {
        await write(c, [[OP.CREATE, "document:a#viewer@user:u1"]]);
        const cases: [Partial<v1.ReadRelationshipsRequest>, number, string][] = [
          [{ optionalLimit: 1001 }, status.INVALID_ARGUMENT, "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT"],
          [
            { relationshipFilter: v1.RelationshipFilter.create({}) },
            status.INVALID_ARGUMENT,
            "ERROR_REASON_INVALID_FILTER",
          ],
          [
            { relationshipFilter: v1.RelationshipFilter.create({ resourceType: "nothing" }) },
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_DEFINITION",
          ],
          [
            {
              relationshipFilter: v1.RelationshipFilter.create({
                resourceType: "document",
                optionalRelation: "nope",
              }),
            },
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
          ],
          [
            {
              relationshipFilter: v1.RelationshipFilter.create({
                optionalSubjectFilter: subjects("robot"),
              }),
            },
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_DEFINITION",
          ],
        ];
        for (const [req, code, reason] of cases) {
          const got = await spiceFailure(
            read(c, { resourceType: "document" }, req as Partial<v1.ReadRelationshipsRequest>),
          );
          expect({ code: got.code, reason: got.info?.reason, domain: got.info?.domain }).toEqual({
            code,
            reason,
            domain: "authzed.com",
          });
        }
        const both = await spiceFailure(
          read(c, { resourceType: "document", optionalResourceId: "a", optionalResourceIdPrefix: "a" }),
        );
        expect(both.code).toBe(status.INVALID_ARGUMENT);
        // A cursor is bound to the filter it was issued for.
        const [first] = await read(c, { resourceType: "document" });
        const other = await spiceFailure(
          read(
            c,
            { resourceType: "document", optionalRelation: "viewer" },
            { optionalCursor: first!.afterResultCursor! },
          ),
        );
        expect({ code: other.code, reason: other.info?.reason }).toEqual({
          code: status.FAILED_PRECONDITION,
          reason: "ERROR_REASON_INVALID_CURSOR",
        });
      });

      it("reads an exact snapshot, accepts an empty write, and refuses a malformed cursor", async () => {
        const first = await write(c, [[OP.CREATE, "document:a#viewer@user:u1"]]);
        await write(c, [[OP.DELETE, "document:a#viewer@user:u1"]]);
        const exact = v1.Consistency.create({
          requirement: { oneofKind: "atExactSnapshot", atExactSnapshot: first.writtenAt! },
        });
        const then = await read(c, { resourceType: "document" }, { consistency: exact });
        expect(then.map((r) => text(r.relationship))).toEqual(["document:a#viewer@user:u1"]);
        expect(await read(c, { resourceType: "document" })).toEqual([]);
        // SpiceDB accepts a write without updates and answers a token.
        const empty = await c.promises.writeRelationships(v1.WriteRelationshipsRequest.create({}));
        expect(empty.writtenAt?.token).toMatch(/.+/);
        const bad = await spiceFailure(
          read(c, { resourceType: "document" }, { optionalCursor: v1.Cursor.create({ token: "garbage" }) }),
        );
        expect({ code: bad.code, reason: bad.info?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_INVALID_CURSOR",
        });
        // A precondition without a filter.
        const noFilter = await spiceFailure(
          write(c, [[OP.CREATE, "document:b#viewer@user:u1"]], {
            optionalPreconditions: [
              v1.Precondition.create({ operation: v1.Precondition_Operation.MUST_MATCH }),
            ],
          }),
        );
        expect(noFilter.code).toBe(status.INVALID_ARGUMENT);
        expect(await all()).toEqual([]);
      });

      it("serves the client's INSECURE_LOCALHOST_ALLOWED mode too", async () => {
        const local = spiceClient(server.address, { mode: "localhost" });
        try {
          const written = await local.promises.writeRelationships(
            v1.WriteRelationshipsRequest.create({ updates: [update(OP.TOUCH, "folder:f#viewer@user:u1")] }),
          );
          const seen = await local.promises.readRelationships(
            v1.ReadRelationshipsRequest.create({
              relationshipFilter: v1.RelationshipFilter.create({ resourceType: "folder" }),
              consistency: freshAs(written.writtenAt),
            }),
          );
          expect(seen.map((r) => text(r.relationship))).toEqual(["folder:f#viewer@user:u1"]);
        } finally {
          local.close();
        }
      });

      it("refuses bad writes with SpiceDB's codes, reasons and metadata, writing nothing", async () => {
        const base = await write(c, [[OP.CREATE, "document:a#viewer@user:u1"]]);
        const before = await all();
        const cases: [v1.RelationshipUpdate[], number, string][] = [
          [
            [update(OP.CREATE, "document:b#viewer@user:u2"), update(OP.CREATE, "document:a#viewer@user:u1")],
            status.ALREADY_EXISTS,
            "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
          ],
          [
            [update(OP.CREATE, "document:b#viewer@user:u2"), update(OP.TOUCH, "document:b#viewer@user:u2")],
            status.INVALID_ARGUMENT,
            "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP",
          ],
          [
            Array.from({ length: 9 }, (_, i) => update(OP.TOUCH, `document:m${i}#viewer@user:u1`)),
            status.INVALID_ARGUMENT,
            "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST",
          ],
          [
            [update(OP.TOUCH, "robot:r#viewer@user:u1")],
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_DEFINITION",
          ],
          [
            [update(OP.TOUCH, "document:b#nope@user:u1")],
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
          ],
          [
            [update(OP.TOUCH, "document:b#view@user:u1")],
            status.INVALID_ARGUMENT,
            "ERROR_REASON_CANNOT_UPDATE_PERMISSION",
          ],
          // SpiceDB checks that the subject's names exist before whether the relation allows it.
          [
            [update(OP.TOUCH, "document:b#viewer@robot:r")],
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_DEFINITION",
          ],
          [
            [update(OP.TOUCH, "document:b#viewer@group:eng#nope")],
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION",
          ],
          [
            [update(OP.TOUCH, "document:b#owner@group:eng")],
            status.INVALID_ARGUMENT,
            "ERROR_REASON_INVALID_SUBJECT_TYPE",
          ],
          [
            [update(OP.TOUCH, "document:b#owner@user:u1[nocaveat]")],
            status.INVALID_ARGUMENT,
            "ERROR_REASON_INVALID_SUBJECT_TYPE",
          ],
          [
            [update(OP.TOUCH, 'document:b#viewer@user:u3[only_on:{"day":42}]')],
            status.INVALID_ARGUMENT,
            "ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR",
          ],
        ];
        for (const [updates, code, reason] of cases) {
          const got = await spiceFailure(
            c.promises.writeRelationships(v1.WriteRelationshipsRequest.create({ updates })),
          );
          expect({ code: got.code, reason: got.info?.reason }, got.message).toEqual({ code, reason });
        }
        const recreate = await spiceFailure(write(c, [[OP.CREATE, "document:a#viewer@user:u1"]]));
        expect(recreate.info?.metadata).toMatchObject({
          relationship: "document:a#viewer@user:u1",
          resource_type: "document",
          resource_object_id: "a",
          resource_relation: "viewer",
          subject_type: "user",
          subject_object_id: "u1",
        });
        expect(await all()).toEqual(before);
        const now = await read(c, { resourceType: "document" });
        expect(now[0]?.readAt?.token).toBe(base.writtenAt?.token);
      });

      it("checks preconditions in the write's transaction and names the failed one", async () => {
        await write(c, [[OP.CREATE, "document:a#owner@user:u1"]]);
        const mustMatch = (filter: Partial<v1.RelationshipFilter>) =>
          v1.Precondition.create({ operation: v1.Precondition_Operation.MUST_MATCH, filter });
        const mustNot = (filter: Partial<v1.RelationshipFilter>) =>
          v1.Precondition.create({ operation: v1.Precondition_Operation.MUST_NOT_MATCH, filter });
        await write(c, [[OP.CREATE, "document:a#viewer@user:u2"]], {
          optionalPreconditions: [
            mustMatch({ resourceType: "document", optionalRelation: "owner" }),
            mustNot({ optionalSubjectFilter: subjects("user", "u9") }),
          ],
        });
        const before = await all();
        const failed = await spiceFailure(
          write(c, [[OP.CREATE, "document:b#viewer@user:u2"]], {
            optionalPreconditions: [
              mustMatch({ resourceType: "document" }),
              mustNot({ resourceType: "document", optionalResourceId: "a", optionalRelation: "viewer" }),
            ],
          }),
        );
        expect(failed.code).toBe(status.FAILED_PRECONDITION);
        expect(failed.info?.reason).toBe("ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE");
        expect(failed.info?.metadata).toEqual({
          precondition_operation: "OPERATION_MUST_NOT_MATCH",
          precondition_resource_type: "document",
          precondition_resource_id: "a",
          precondition_relation: "viewer",
        });
        const unknown = await spiceFailure(
          write(c, [[OP.CREATE, "document:b#viewer@user:u2"]], {
            optionalPreconditions: [mustMatch({ resourceType: "robot" })],
          }),
        );
        expect({ code: unknown.code, reason: unknown.info?.reason }).toEqual({
          code: status.FAILED_PRECONDITION,
          reason: "ERROR_REASON_UNKNOWN_DEFINITION",
        });
        expect(await all()).toEqual(before);
      });

      it("keeps optional_transaction_metadata with the revision for Watch, and refuses it over 65,000 bytes", async () => {
        const start = await store.currentRevision();
        const ok = await write(c, [[OP.CREATE, "document:a#viewer@user:u1"]], {
          optionalTransactionMetadata: v1.createStructFromObject({ reason: "onboarding", ticket: 42 }),
        });
        const revision = store.decodeRevision(ok.writtenAt!.token);
        const feed = watchChanges(store, { after: start, pollMs: 10 });
        const batch = (await feed.next()).value;
        await feed.return(undefined);
        expect(batch).toMatchObject({ revision, metadata: { reason: "onboarding", ticket: 42 } });
        const big = await spiceFailure(
          write(c, [[OP.CREATE, "document:b#viewer@user:u1"]], {
            optionalTransactionMetadata: v1.createStructFromObject({ blob: "x".repeat(70_000) }),
          }),
        );
        expect({ code: big.code, reason: big.info?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_TRANSACTION_METADATA_TOO_LARGE",
        });
        expect(await all()).toEqual(["document:a#viewer@user:u1"]);
      });
    });

    describe("DeleteRelationships", () => {
      const del = (
        filter: Partial<v1.RelationshipFilter>,
        extra: Partial<v1.DeleteRelationshipsRequest> = {},
      ) =>
        c.promises.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({
            relationshipFilter: v1.RelationshipFilter.create(filter),
            ...extra,
          }),
        );
      const P = v1.DeleteRelationshipsResponse_DeletionProgress;

      beforeEach(async () => {
        await write(c, [
          [OP.CREATE, "document:a#viewer@user:u1"],
          [OP.CREATE, "document:b#viewer@user:u1"],
          [OP.CREATE, "document:c#viewer@user:u1"],
          [OP.CREATE, "folder:f#viewer@user:u1"],
          [OP.CREATE, "document:a#owner@user:u2"],
        ]);
      });

      it("deletes everything matching, across types without a resource type, COMPLETE", async () => {
        const done = await del({ optionalSubjectFilter: subjects("user", "u1") });
        expect(done.deletionProgress).toBe(P.COMPLETE);
        expect(done.relationshipsDeletedCount).toBe("4");
        const seen = await read(c, { resourceType: "document" }, { consistency: freshAs(done.deletedAt) });
        expect(seen.map((r) => text(r.relationship))).toEqual(["document:a#owner@user:u2"]);
      });

      it("refuses a transactional delete over its limit, deleting nothing; within it, deletes", async () => {
        const before = await all();
        const over = await spiceFailure(
          del({ resourceType: "document", optionalRelation: "viewer" }, { optionalLimit: 2 }),
        );
        expect({ code: over.code, reason: over.info?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE",
        });
        expect(over.info?.metadata).toMatchObject({
          limit: "2",
          filter_resource_type: "document",
          filter_relation: "viewer",
        });
        expect(await all()).toEqual(before);
        const within = await del(
          { resourceType: "document", optionalRelation: "viewer" },
          { optionalLimit: 5 },
        );
        expect(within.deletionProgress).toBe(P.COMPLETE);
        expect(within.relationshipsDeletedCount).toBe("3");
      });

      it("with partial deletions allowed, deletes up to the limit: PARTIAL until done", async () => {
        const progress: [number, string][] = [];
        for (;;) {
          const step = await del(
            { resourceType: "document", optionalRelation: "viewer" },
            { optionalLimit: 2, optionalAllowPartialDeletions: true },
          );
          progress.push([step.deletionProgress, step.relationshipsDeletedCount]);
          if (step.deletionProgress === P.COMPLETE) break;
        }
        expect(progress).toEqual([
          [P.PARTIAL, "2"],
          [P.COMPLETE, "1"],
        ]);
        expect(await all()).toEqual(["document:a#owner@user:u2", "folder:f#viewer@user:u1"]);
      });

      it("refuses a limit over 1,000, a failed precondition and an unknown type, deleting nothing", async () => {
        const before = await all();
        const limit = await spiceFailure(del({ resourceType: "document" }, { optionalLimit: 1001 }));
        expect(limit.info?.reason).toBe("ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT");
        const pre = await spiceFailure(
          del(
            { resourceType: "document" },
            {
              optionalPreconditions: [
                v1.Precondition.create({
                  operation: v1.Precondition_Operation.MUST_MATCH,
                  filter: { resourceType: "folder", optionalResourceId: "nothing" },
                }),
              ],
            },
          ),
        );
        expect({ code: pre.code, reason: pre.info?.reason }).toEqual({
          code: status.FAILED_PRECONDITION,
          reason: "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE",
        });
        const unknown = await spiceFailure(del({ resourceType: "robot" }));
        expect({ code: unknown.code, reason: unknown.info?.reason }).toEqual({
          code: status.FAILED_PRECONDITION,
          reason: "ERROR_REASON_UNKNOWN_DEFINITION",
        });
        expect(await all()).toEqual(before);
      });
    });

    describe("ImportBulkRelationships", () => {
      it("loads a stream of batches in one transaction", async () => {
        const batches = [
          ["document:a#viewer@user:u1", 'document:a#viewer@user:u2[only_on:{"day":"tuesday"}]'],
          [],
          ["folder:f#viewer@user:u1", "group:eng#member@group:ops#member"],
        ];
        const loaded = await importAll(c, batches);
        expect(loaded.numLoaded).toBe("4");
        expect(await all()).toEqual([...batches.flat()].sort());
      });

      it("fails on an existing or repeated relationship, or an invalid one, writing nothing", async () => {
        await write(c, [[OP.CREATE, "document:a#viewer@user:u1"]]);
        const before = await all();
        const cases: [string[][], number, string][] = [
          [
            [["document:b#viewer@user:u1"], ["document:a#viewer@user:u1"]],
            status.ALREADY_EXISTS,
            "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
          ],
          [
            [["document:b#viewer@user:u1"], ["document:b#viewer@user:u1"]],
            status.ALREADY_EXISTS,
            "ERROR_REASON_ATTEMPT_TO_RECREATE_RELATIONSHIP",
          ],
          [
            [["document:b#viewer@user:u1"], ["robot:r#viewer@user:u1"]],
            status.FAILED_PRECONDITION,
            "ERROR_REASON_UNKNOWN_DEFINITION",
          ],
          [[["document:b#viewer@robot:r"]], status.FAILED_PRECONDITION, "ERROR_REASON_UNKNOWN_DEFINITION"],
        ];
        for (const [batches, code, reason] of cases) {
          const got = await spiceFailure(importAll(c, batches));
          expect({ code: got.code, reason: got.info?.reason }, got.message).toEqual({ code, reason });
        }
        expect(await all()).toEqual(before);
      });
    });

    describe("ImportBulkRelationships' bound", () => {
      it("refuses a stream over the most it holds in memory, writing nothing", async () => {
        async function* stream() {
          // The server's own messages (protobuf-es), as the handler receives them.
          const spice = (t: string) => relationshipToSpice(parseRelationship(t));
          yield { relationships: [spice("document:a#viewer@user:u1"), spice("document:b#viewer@user:u1")] };
          yield { relationships: [spice("document:c#viewer@user:u1")] };
        }
        const error = await importBulk(store, stream(), 2).then(
          () => undefined,
          (e: unknown) => e as AuthzedError,
        );
        expect(error).toBeInstanceOf(AuthzedError);
        expect({ code: error?.code, reason: error?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
        });
        expect(await all()).toEqual([]);
      });
    });

    describe("ExportBulkRelationships", () => {
      const written = [
        "document:a#viewer@user:u1",
        "document:b#owner@user:u2",
        "document:c#viewer@user:u1",
        "folder:f#viewer@user:u1",
        "folder:g#viewer@user:u2",
        "group:eng#member@user:u1",
      ];
      beforeEach(async () => {
        await write(
          c,
          written.map((t) => [OP.CREATE, t]),
        );
      });

      it("exports everything in batches of optional_limit, each resumable from its cursor", async () => {
        const batches = await exportAll(c, { optionalLimit: 2 });
        expect(batches.map((b) => b.relationships.length)).toEqual([2, 1, 2, 1]);
        expect(batches.flatMap((b) => b.relationships.map(text))).toEqual(written);
        // Written after: a resumed export reads at the cursor's revision and does not see it.
        await write(c, [[OP.CREATE, "document:z#viewer@user:late"]]);
        let seen = 0;
        for (const batch of batches) {
          seen += batch.relationships.length;
          expect(batch.afterResultCursor?.token).toMatch(/.+/);
          const rest = await exportAll(c, { optionalLimit: 2, optionalCursor: batch.afterResultCursor! });
          expect(rest.flatMap((b) => b.relationships.map(text))).toEqual(written.slice(seen));
        }
      });

      it("exports what a filter matches, with or without a resource type", async () => {
        const only = async (filter: Partial<v1.RelationshipFilter>) =>
          (await exportAll(c, { optionalRelationshipFilter: v1.RelationshipFilter.create(filter) })).flatMap(
            (b) => b.relationships.map(text),
          );
        expect(await only({ resourceType: "folder" })).toEqual([
          "folder:f#viewer@user:u1",
          "folder:g#viewer@user:u2",
        ]);
        expect(await only({ optionalSubjectFilter: subjects("user", "u2") })).toEqual([
          "document:b#owner@user:u2",
          "folder:g#viewer@user:u2",
        ]);
        expect(await only({ resourceType: "nothing" })).toEqual([]);
      });

      it("refuses a batch over 100,000 and a cursor that is not an export cursor", async () => {
        const big = await spiceFailure(exportAll(c, { optionalLimit: 100_001 }));
        expect({ code: big.code, reason: big.info?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT",
        });
        const bad = await spiceFailure(
          exportAll(c, { optionalCursor: v1.Cursor.create({ token: "not-a-cursor" }) }),
        );
        expect({ code: bad.code, reason: bad.info?.reason }).toEqual({
          code: status.INVALID_ARGUMENT,
          reason: "ERROR_REASON_INVALID_CURSOR",
        });
      });
    });
  });
}

suite("sqlite", () => createSqliteStore({ path: ":memory:" }));

if (PG_URL !== undefined) {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  suite("postgres", () => createPostgresStore({ url, schema: schemas.next(), pool: { max: 4 } }));
}
