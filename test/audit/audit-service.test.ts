/**
 * The audit API (AuditService over gRPC, and the same calls in embedded mode): records written by
 * the recorder are queried with filters and pages, watched as they are appended, and verified.
 */
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createAuditRecorder } from "../../src/audit/index.js";
import { createClient, createEmbedded, type LatchClient, RemoteError } from "../../src/client/index.js";
import { parseRelationship } from "../../src/core/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const TOKEN = "audit-token-0123456789";

const SCHEMA = `
definition user {
  relation delegate: agent
}
definition agent {}
definition room {
  relation booker: user | agent
  permission reserve = booker
}
definition document {
  relation viewer: user | agent
  permission read = viewer
}
`;

const RELATIONSHIPS = [
  "room:401#booker@user:alice",
  "room:401#booker@agent:bot",
  "user:alice#delegate@agent:bot",
  "document:q3#viewer@user:alice",
];

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function recordingStore() {
  const store = await createSqliteStore({ path: ":memory:" });
  const recorder = createAuditRecorder({ log: store.decisions, policy: "all", mode: "sync" });
  return { store, decorators: [recorder.decorator] };
}

async function remote(): Promise<LatchClient> {
  const { store, decorators } = await recordingStore();
  const latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators });
  const server = await startServer({
    store: latch.store,
    engine: latch.engine,
    decider: latch.decider,
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    watchPollMs: 10,
  });
  const client = createClient({ address: server.address, token: TOKEN });
  cleanup.push(async () => {
    await client.close();
    await server.shutdown(1000);
    await latch.close();
  });
  return client;
}

async function embedded(): Promise<LatchClient> {
  const client = await createEmbedded({
    database: ":memory:",
    schema: SCHEMA,
    mirror: false,
    audit: { policy: "all", mode: "sync" },
    watchPollMs: 10,
  });
  cleanup.push(() => client.close());
  return client;
}

/** Six decisions, one record each (policy `all`). */
async function decide(client: LatchClient): Promise<void> {
  await client.writeRelationships({
    updates: RELATIONSHIPS.map((r) => ({ operation: "touch" as const, relationship: parseRelationship(r) })),
  });
  await client.check({ resource: "room:401", permission: "reserve", subject: "user:alice" });
  await client.check({ resource: "room:401", permission: "reserve", subject: "user:carol" });
  await client.check({
    resource: "room:401",
    permission: "reserve",
    subject: "agent:bot",
    onBehalfOf: ["user:alice"],
  });
  await client.check({ resource: "document:q3", permission: "read", subject: "user:alice" });
  await client.check({ resource: "document:q3", permission: "read", subject: "agent:bot" });
  await client.check({ resource: "document:q4", permission: "read", subject: "user:bob" });
}

const MODES = [
  ["gRPC", remote],
  ["embedded", embedded],
] as const;

describe.each(MODES)("audit API (%s)", (_mode, make) => {
  it("queries what the recorder wrote, with filters", async () => {
    const client = await make();
    await decide(client);
    const all = await client.queryDecisions();
    expect(all.cursor).toBeUndefined();
    expect(all.decisions.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.decisions[2]).toMatchObject({
      seq: 3,
      record: {
        operation: "check",
        subject: "agent:bot",
        onBehalfOf: ["user:alice"],
        resource: "room:401",
        permission: "reserve",
        answer: "ALLOWED",
        // The relationships that proved it: the bot's own grant, alice's, and her delegation.
        witness: ["room:401#booker@agent:bot", "room:401#booker@user:alice", "user:alice#delegate@agent:bot"],
      },
    });
    expect(all.decisions[0]!.record.witness).toEqual(["room:401#booker@user:alice"]);
    expect(all.decisions[1]!.record.witness).toBeUndefined();
    expect(all.decisions[2]!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(all.decisions[2]!.prevHash).toBe(all.decisions[1]!.hash);
    expect(typeof all.decisions[0]!.record.revision).toBe("string");

    const seqs = async (params: Parameters<LatchClient["queryDecisions"]>[0]) =>
      (await client.queryDecisions(params)).decisions.map((d) => d.seq);
    // The subject, or anyone in the chain.
    expect(await seqs({ subject: "user:alice" })).toEqual([1, 3, 4]);
    expect(await seqs({ resourceType: "document" })).toEqual([4, 5, 6]);
    expect(await seqs({ answer: "DENIED" })).toEqual([2, 5, 6]);
    expect(await seqs({ subject: "user:alice", answer: "ALLOWED", resourceType: "room" })).toEqual([1, 3]);
    const third = new Date(all.decisions[2]!.record.time);
    expect(await seqs({ until: new Date(0) })).toEqual([]);
    expect(await seqs({ since: new Date(Date.now() + 60_000) })).toEqual([]);
    // Decisions may share a millisecond: since keeps every record at or after the instant.
    const since = await client.queryDecisions({ since: third });
    expect(since.decisions.every((d) => Date.parse(d.record.time) >= third.getTime())).toBe(true);
    expect(since.decisions.map((d) => d.seq)).toEqual(expect.arrayContaining([3, 4, 5, 6]));
    const until = await client.queryDecisions({ until: third });
    expect(until.decisions.every((d) => Date.parse(d.record.time) < third.getTime())).toBe(true);
  });

  it("pages with an opaque cursor, and refuses a bad page size or cursor", async () => {
    const client = await make();
    await decide(client);
    const got: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.queryDecisions({ pageSize: 4, ...(cursor === undefined ? {} : { cursor }) });
      got.push(...page.decisions.map((d) => d.seq));
      cursor = page.cursor;
      pages += 1;
    } while (cursor !== undefined);
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pages).toBe(2);
    const filtered = await client.queryDecisions({ answer: "DENIED", pageSize: 2 });
    expect(filtered.decisions.map((d) => d.seq)).toEqual([2, 5]);
    const rest = await client.queryDecisions({ answer: "DENIED", pageSize: 2, cursor: filtered.cursor! });
    expect(rest.decisions.map((d) => d.seq)).toEqual([6]);

    await expect(client.queryDecisions({ pageSize: 1_001 })).rejects.toMatchObject({
      kind: "invalid-argument",
    });
    await expect(client.queryDecisions({ cursor: "not a cursor" })).rejects.toMatchObject({
      kind: "invalid-argument",
    });
  });

  it("watches records appended after its start, and verifies the chain", async () => {
    const client = await make();
    await decide(client);
    // Start after record 5, so the first record seen (6) shows the watch is running.
    const start = (await client.queryDecisions({ pageSize: 5 })).cursor!;
    const stop = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const { decision, cursor } of client.watchDecisions(
        { after: start, subject: "user:dave" },
        { signal: stop.signal },
      )) {
        seen.push(decision.seq);
        expect(cursor).not.toBe("");
        if (seen.length === 2) break;
      }
    })();
    const dave = client.watchDecisions({ after: start }, { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await dave.next()).value?.decision.seq).toBe(6);
    await client.check({ resource: "room:401", permission: "reserve", subject: "user:erin" });
    await client.check({ resource: "room:401", permission: "reserve", subject: "user:dave" });
    expect((await dave.next()).value?.decision.record.subject).toBe("user:erin");
    await client.check({ resource: "document:q3", permission: "read", subject: "user:dave" });
    await watching;
    stop.abort();
    await dave.return?.(undefined);
    // The filtered watch saw only dave's records, appended after it started.
    expect(seen).toEqual([8, 9]);

    const report = await client.verifyDecisions();
    expect(report).toMatchObject({ ok: true, records: 9, firstSeq: 1, lastSeq: 9, head: { seq: 9 } });
  });
});

describe("audit API over gRPC", () => {
  it("refuses calls without the token", async () => {
    const { store, decorators } = await recordingStore();
    const latch = await openLatch({ store, schema: SCHEMA, mirror: false, decorators });
    const server = await startServer({
      store: latch.store,
      engine: latch.engine,
      tokens: [TOKEN],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    const anonymous = createClient({ address: server.address });
    const wrong = createClient({ address: server.address, token: "wrong-token-0123456789" });
    cleanup.push(async () => {
      await anonymous.close();
      await wrong.close();
      await server.shutdown(1000);
      await latch.close();
    });
    for (const client of [anonymous, wrong]) {
      const refused = (promise: Promise<unknown>) =>
        promise.then(
          () => expect.unreachable("answered"),
          (error: unknown) => {
            expect(error).toBeInstanceOf(RemoteError);
            expect((error as RemoteError).status).toBe(status.UNAUTHENTICATED);
          },
        );
      await refused(client.queryDecisions());
      await refused(client.verifyDecisions());
      await refused(
        (async () => {
          for await (const _ of client.watchDecisions()) break;
        })(),
      );
    }
  });
});
