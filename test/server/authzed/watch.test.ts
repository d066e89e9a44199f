/**
 * authzed.api.v1 WatchService through the real @authzed/authzed-node client against a real Latch
 * server, on SQLite and (when LATCH_TEST_POSTGRES_URL is set) PostgreSQL, whose change feed is
 * pushed by LISTEN/NOTIFY: updates with their `changes_through`, resuming from a cursor, object
 * type and relationship filters, update kinds (schema updates, checkpoints) and bad requests.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Relationship } from "../../../src/core/index.js";
import type { Store } from "../../../src/store/index.js";
import { createPostgresStore } from "../../../src/store/postgres/index.js";
import { admin, PG_URL, uniqueName } from "../../store/fixtures/pg-setup.js";
import { type Harness, startHarness } from "../harness.js";
import { errorInfoOf, spiceClient, v1 } from "./harness.js";

const SCHEMA = `definition user {}
definition group {
  relation member: user
}
definition document {
  relation viewer: user | group#member
  relation owner: user
}
`;

function rel(resource: string, relation: string, subject: string): Relationship {
  const [rt, rid] = resource.split(":") as [string, string];
  const [st, rest] = subject.split(":") as [string, string];
  const [sid, srel] = rest.split("#") as [string, string | undefined];
  return {
    resource: { type: rt, id: rid },
    relation,
    subject: srel === undefined ? { type: st, id: sid } : { type: st, id: sid, relation: srel },
  };
}

const text = (u: v1.RelationshipUpdate) => {
  const r = u.relationship!;
  const subject = `${r.subject!.object!.objectType}:${r.subject!.object!.objectId}${r.subject!.optionalRelation ? `#${r.subject!.optionalRelation}` : ""}`;
  const op = u.operation === v1.RelationshipUpdate_Operation.DELETE ? "-" : "+";
  return `${op}${r.resource!.objectType}:${r.resource!.objectId}#${r.relation}@${subject}`;
};

interface Watching {
  /** Messages received so far. */
  readonly messages: v1.WatchResponse[];
  /** Resolves with the messages once `done` holds for them. */
  until(done: (messages: readonly v1.WatchResponse[]) => boolean): Promise<v1.WatchResponse[]>;
  /** Resolves with the error the stream ends with. */
  readonly ended: Promise<grpc.ServiceError>;
  cancel(): void;
}

function watch(client: v1.ZedClientInterface, request: Partial<v1.WatchRequest>): Watching {
  const stream = client.watch(v1.WatchRequest.create(request));
  const messages: v1.WatchResponse[] = [];
  const waiters: (() => void)[] = [];
  stream.on("data", (m: v1.WatchResponse) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
  return {
    messages,
    ended,
    cancel: () => stream.cancel(),
    until(done) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (done(messages)) resolve([...messages]);
          else waiters.push(check);
        };
        ended.then((e) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
        check();
      });
    },
  };
}

/** The updates of the relationship messages, in order. */
const updates = (messages: readonly v1.WatchResponse[]) =>
  messages.filter((m) => m.updates.length > 0).flatMap((m) => m.updates.map(text));

const backends: [string, (() => Promise<{ store: Store; close(): Promise<void> }>) | undefined][] = [
  ["SQLite", undefined],
  [
    "PostgreSQL",
    PG_URL === undefined
      ? undefined
      : async () => {
          const schema = uniqueName("latch_hss_watch");
          const store = await createPostgresStore({ url: PG_URL as string, schema });
          return {
            store,
            async close() {
              await store.close();
              await admin((pg) => pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
            },
          };
        },
  ],
];

if (PG_URL === undefined)
  console.info("LATCH_TEST_POSTGRES_URL is not set: the PostgreSQL Watch tests are skipped");

describe.each(backends)("Watch on %s", (name, open) => {
  let h: Harness;
  let store: Store;
  let closeStore: (() => Promise<void>) | undefined;
  let c: v1.ZedClientInterface;

  beforeAll(async () => {
    if (name === "PostgreSQL" && open === undefined) return;
    const opened = await open?.();
    closeStore = opened?.close;
    h = await startHarness(opened === undefined ? {} : { wrapStore: () => opened.store });
    store = opened?.store ?? h.store;
    await store.writeSchema(SCHEMA);
    c = spiceClient(h.server.address);
  }, 60_000);
  afterAll(async () => {
    c?.close();
    await h?.close();
    await closeStore?.();
  });

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "sends a revision of many changes as one message, encoded a piece at a time",
    async () => {
      const start = await store.currentRevision();
      const w = watch(c, { optionalStartCursor: v1.ZedToken.create({ token: store.encodeRevision(start) }) });
      const many = Array.from({ length: 300 }, (_, i) => rel(`document:many${i}`, "viewer", "user:ana"));
      const written = await store.write(
        many.map((relationship) => ({ operation: "touch" as const, relationship })),
      );
      const got = await w.until((m) => updates(m).length >= 300).finally(() => w.cancel());
      const carrying = got.filter((m) => m.updates.length > 0);
      expect(carrying).toHaveLength(1);
      expect(carrying[0]!.changesThrough?.token).toBe(store.encodeRevision(written));
      expect(updates(got).sort()).toEqual(
        many.map((r) => `+document:${r.resource.id}#viewer@user:ana`).sort(),
      );
    },
  );

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "streams each write with the token to resume after it, and resumes from a cursor",
    async () => {
      // From an explicit cursor: a stream "from now" could start after the write below.
      const start = await store.currentRevision();
      const w = watch(c, { optionalStartCursor: v1.ZedToken.create({ token: store.encodeRevision(start) }) });
      const first = await store.write([
        { operation: "touch", relationship: rel("document:a", "viewer", "user:ana") },
      ]);
      const got = await w.until((m) => updates(m).length >= 1).finally(() => w.cancel());
      expect(updates(got)).toEqual(["+document:a#viewer@user:ana"]);
      expect(got[0]!.changesThrough?.token).toBe(store.encodeRevision(first));
      expect(got.some((m) => m.isCheckpoint || m.schemaUpdated)).toBe(false);

      await store.write([
        { operation: "touch", relationship: rel("document:b", "viewer", "group:eng#member") },
        { operation: "delete", relationship: rel("document:a", "viewer", "user:ana") },
      ]);
      // Resuming after the first write: only what came after it.
      const resumed = watch(c, { optionalStartCursor: got[0]!.changesThrough! });
      const after = await resumed.until((m) => updates(m).length >= 2).finally(() => resumed.cancel());
      expect(updates(after).sort()).toEqual([
        "+document:b#viewer@group:eng#member",
        "-document:a#viewer@user:ana",
      ]);
      // From before both: both writes, in order.
      const all = watch(c, {
        optionalStartCursor: v1.ZedToken.create({ token: store.encodeRevision(start) }),
      });
      const both = await all.until((m) => updates(m).length >= 3).finally(() => all.cancel());
      expect(updates(both)[0]).toBe("+document:a#viewer@user:ana");
      expect(both.map((m) => m.changesThrough?.token)).toContain(store.encodeRevision(first));
    },
  );

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "gives each update the transaction metadata its write carried",
    async () => {
      const from = v1.ZedToken.create({ token: store.encodeRevision(await store.currentRevision()) });
      await c.promises.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [
            v1.RelationshipUpdate.create({
              operation: v1.RelationshipUpdate_Operation.TOUCH,
              relationship: v1.Relationship.create({
                resource: v1.ObjectReference.create({ objectType: "document", objectId: "meta" }),
                relation: "viewer",
                subject: v1.SubjectReference.create({
                  object: v1.ObjectReference.create({ objectType: "user", objectId: "mo" }),
                }),
              }),
            }),
          ],
          optionalTransactionMetadata: v1.createStructFromObject({ ticket: "SEC-7" }),
        }),
      );
      const w = watch(c, { optionalStartCursor: from });
      const got = await w.until((m) => updates(m).length >= 1).finally(() => w.cancel());
      expect(updates(got)).toEqual(["+document:meta#viewer@user:mo"]);
      expect(got[0]!.optionalTransactionMetadata?.fields.ticket?.kind).toEqual({
        oneofKind: "stringValue",
        stringValue: "SEC-7",
      });
    },
  );

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "filters by object type and by relationship filters",
    async () => {
      const from = v1.ZedToken.create({ token: store.encodeRevision(await store.currentRevision()) });
      const last = await store.write([
        { operation: "touch", relationship: rel("group:eng", "member", "user:bo") },
        { operation: "touch", relationship: rel("document:c", "owner", "user:bo") },
        { operation: "touch", relationship: rel("document:c", "viewer", "user:cy") },
      ]);
      const lastToken = store.encodeRevision(last);
      const byType = watch(c, { optionalStartCursor: from, optionalObjectTypes: ["group"] });
      const groups = await byType.until((m) => updates(m).length >= 1).finally(() => byType.cancel());
      expect(updates(groups)).toEqual(["+group:eng#member@user:bo"]);

      const byFilter = watch(c, {
        optionalStartCursor: from,
        optionalRelationshipFilters: [
          v1.RelationshipFilter.create({ resourceType: "document", optionalRelation: "viewer" }),
          v1.RelationshipFilter.create({
            resourceType: "group",
            optionalSubjectFilter: v1.SubjectFilter.create({
              subjectType: "user",
              optionalSubjectId: "nobody",
            }),
          }),
        ],
        optionalUpdateKinds: [v1.WatchKind.INCLUDE_RELATIONSHIP_UPDATES, v1.WatchKind.INCLUDE_CHECKPOINTS],
      });
      // A checkpoint at the last write's revision says everything up to it has been sent.
      const filtered = await byFilter
        .until((m) => m.some((x) => x.isCheckpoint && x.changesThrough?.token === lastToken))
        .finally(() => byFilter.cancel());
      expect(updates(filtered)).toEqual(["+document:c#viewer@user:cy"]);
    },
  );

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "sends schema updates and checkpoints only when asked, each in a message of its own",
    async () => {
      const w = watch(c, {
        optionalUpdateKinds: [v1.WatchKind.INCLUDE_SCHEMA_UPDATES, v1.WatchKind.INCLUDE_CHECKPOINTS],
      });
      // The first checkpoint says the stream is reading.
      await w.until((m) => m.some((x) => x.isCheckpoint));
      const written = await store.writeSchema(`${SCHEMA}definition folder {}\n`);
      await store.write([{ operation: "touch", relationship: rel("document:d", "viewer", "user:di") }]);
      const token = store.encodeRevision(written);
      const got = await w
        .until((m) => m.some((x) => x.schemaUpdated && x.changesThrough?.token === token))
        .finally(() => w.cancel());
      const schemaMessage = got.find((x) => x.schemaUpdated)!;
      expect([schemaMessage.updates.length, schemaMessage.isCheckpoint]).toEqual([0, false]);
      expect(got.filter((x) => x.isCheckpoint).every((x) => x.updates.length === 0 && !x.schemaUpdated)).toBe(
        true,
      );
      // Relationship updates were not asked for.
      expect(updates(got)).toEqual([]);
    },
  );

  it.skipIf(name === "PostgreSQL" && open === undefined)(
    "refuses what SpiceDB refuses, with its codes and reasons",
    async () => {
      const both = watch(c, {
        optionalObjectTypes: ["document"],
        optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: "document" })],
      });
      expect((await both.ended).code).toBe(grpc.status.INVALID_ARGUMENT);

      const unknown = watch(c, {
        optionalRelationshipFilters: [v1.RelationshipFilter.create({ resourceType: "nosuchtype" })],
      });
      const e = await unknown.ended;
      expect([e.code, errorInfoOf(e.metadata)?.info?.reason]).toEqual([
        grpc.status.FAILED_PRECONDITION,
        "ERROR_REASON_UNKNOWN_DEFINITION",
      ]);

      const badCursor = watch(c, { optionalStartCursor: v1.ZedToken.create({ token: "not-a-token" }) });
      expect((await badCursor.ended).code).toBe(grpc.status.INVALID_ARGUMENT);
    },
  );
});
