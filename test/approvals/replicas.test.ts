/**
 * Approvals across replicas: two `latch serve` instances on one PostgreSQL database (and two
 * openers of one SQLite file) see each other's requests and decisions. A request made on A is
 * watched on B; a decision made on B wakes an AwaitApproval on A; the poll clock is shared.
 *
 * The polling interval is ten minutes, so the await's fallback re-read can never be what ends it:
 * only the feed (NOTIFY, or polling the table on SQLite) can. A watch is joined before the request
 * is made: each store is wrapped so that the test knows when a replica's feed read its starting
 * cursor (anything committed after that is streamed).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError, parseRelationship } from "../../src/core/index.js";
import { ApprovalService, ApprovalState } from "../../src/gen/latch/v1/approval_service_pb.js";
import { createClient } from "../../src/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import { delegateStore, type Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import {
  PG_SKIP_REASON,
  PG_URL,
  SchemaTracker,
  terminateBackends,
  uniqueName,
} from "../store/fixtures/pg-setup.js";
import { RULES, SCHEMA } from "./fixtures.js";

const TOKEN = "replicas-test-token-0123456789";
const TEN_MINUTES = 600_000;
const WITNESS = ["database:prod-orders#operator@agent:cleanup"];

/** The store, and a promise for the next time a feed starts following it (reads its cursor). */
function observed(inner: Store): { store: Store; nextFeedStart: () => Promise<void> } {
  let started: (() => void) | undefined;
  const approvals = {
    ...inner.approvals,
    latestChange: async () => {
      const cursor = await inner.approvals.latestChange();
      const resolve = started;
      started = undefined;
      // After the feed has taken the cursor (its continuation runs first).
      if (resolve !== undefined) setImmediate(resolve);
      return cursor;
    },
  };
  return {
    store: { ...delegateStore(inner), approvals },
    nextFeedStart: () =>
      new Promise<void>((resolve) => {
        started = resolve;
      }),
  };
}

async function seed(latch: OpenedLatch): Promise<void> {
  await latch.store.write(
    [
      "database:prod-orders#operator@agent:cleanup",
      "database:prod-users#operator@agent:cleanup",
      "database:prod-orders#approver@user:olga",
      "database:prod-users#approver@user:olga",
    ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
  );
}

const action = { resource: "database:prod-orders", permission: "delete", subject: "agent:cleanup" };

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => (isLatchError(e) ? e.code : String(e)),
  );

const schemas = new SchemaTracker();
afterAll(() => schemas.dropAll());
if (PG_URL === undefined) console.info(PG_SKIP_REASON);

describe("approvals across two servers on one PostgreSQL database", () => {
  it.skipIf(PG_URL === undefined)(
    "a request made on A is watched on B; a decision on B wakes AwaitApproval on A; one poll clock",
    async () => {
      const schema = schemas.next();
      const replica = async (name: string) => {
        const pg = observed(
          await createPostgresStore({
            url: PG_URL as string,
            schema,
            pool: { applicationName: name },
            pollIntervalMs: 50,
          }),
        );
        const latch = await openLatch({
          store: pg.store,
          schema: SCHEMA,
          mirror: false,
          approvals: { rules: RULES, pollIntervalMs: TEN_MINUTES },
        });
        const server = await startServer({
          store: latch.store,
          engine: latch.engine,
          decider: latch.decider,
          approvals: latch.approvals!,
          tokens: [TOKEN],
          listen: "127.0.0.1:0",
          logger: createLogger("silent"),
        });
        return { latch, server, nextFeedStart: pg.nextFeedStart };
      };
      const a = await replica(uniqueName("approvals_a"));
      const nameB = uniqueName("approvals_b");
      const b = await replica(nameB);
      const clientA = createClient({ address: a.server.address, token: TOKEN });
      const clientB = createClient({ address: b.server.address, token: TOKEN });
      const watchB = watchClient(b.server);
      const stopWatch = new AbortController();
      try {
        await seed(a.latch);
        const bFollows = b.nextFeedStart();
        const stream = watchB.watchApprovals({}, { signal: stopWatch.signal })[Symbol.asyncIterator]();
        const firstEvent = stream.next();
        await bFollows;

        const ticket = await clientA.requestApproval({ ...action, message: "Delete prod-orders?" });
        const requested = await firstEvent;
        expect(requested.value).toMatchObject({
          kind: "requested",
          approval: { id: ticket.id, state: ApprovalState.PENDING, witness: WITNESS },
        });

        // One poll clock: a poll on A, then one on B at once, is too soon.
        expect((await clientA.getApproval(ticket.id)).witness).toEqual(WITNESS);
        expect(await codeOf(clientB.getApproval(ticket.id))).toBe("approval/slow-down");

        const aFollows = a.nextFeedStart();
        const awaiting = clientA.awaitApproval(ticket.id);
        await aFollows;
        await clientB.decideApproval({ id: ticket.id, approve: true, approver: "user:olga", reason: "ok" });
        expect(await awaiting).toMatchObject({ id: ticket.id, state: "approved", decidedBy: "user:olga" });
        expect((await stream.next()).value).toMatchObject({
          kind: "decided",
          approval: { id: ticket.id, state: ApprovalState.APPROVED, decidedBy: "user:olga" },
        });

        // A request made on B is watched on B too, once (its own NOTIFY adds no second event).
        const second = await clientB.requestApproval({
          ...action,
          resource: "database:prod-users",
          message: "Delete prod-users?",
        });
        expect((await stream.next()).value).toMatchObject({
          kind: "requested",
          approval: { id: second.id, resource: "database:prod-users" },
        });
        await clientA.decideApproval({ id: second.id, approve: false, approver: "user:olga", reason: "no" });
        expect((await stream.next()).value).toMatchObject({
          kind: "decided",
          approval: { id: second.id, state: ApprovalState.DENIED },
        });

        // B's LISTEN connection lost: B finds A's next request by polling (and listens again).
        expect(await terminateBackends(`${nameB}-listen-approvals`)).toBeGreaterThan(0);
        const third = await clientA.requestApproval({
          ...action,
          resource: "database:prod-users",
          message: "Delete prod-users, again?",
        });
        expect((await stream.next()).value).toMatchObject({
          kind: "requested",
          approval: { id: third.id, state: ApprovalState.PENDING },
        });
      } finally {
        stopWatch.abort();
        await clientA.close();
        await clientB.close();
        for (const r of [a, b]) {
          await r.server.shutdown(1000);
          await r.latch.close();
        }
      }
    },
  );
});

describe("approvals across two openers of one SQLite file", () => {
  it("a request made through one is watched through the other; a decision wakes the other's await", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-approvals-replicas-"));
    const { createSqliteStore } = await import("../../src/store/sqlite/index.js");
    const open = async () => {
      const file = observed(await createSqliteStore({ path: join(dir, "latch.db"), subscribePollMs: 20 }));
      const latch = await openLatch({
        store: file.store,
        schema: SCHEMA,
        mirror: false,
        approvals: { rules: RULES, pollIntervalMs: TEN_MINUTES },
      });
      return { latch, nextFeedStart: file.nextFeedStart };
    };
    const a = await open();
    const b = await open();
    const stop = new AbortController();
    try {
      await seed(a.latch);
      const bFollows = b.nextFeedStart();
      const events = b.latch.approvals!.watch(stop.signal)[Symbol.asyncIterator]();
      const firstEvent = events.next();
      await bFollows;
      const request = {
        resource: { type: "database", id: "prod-orders" },
        permission: "delete",
        subject: { type: "agent", id: "cleanup" },
        message: "Delete prod-orders?",
      };
      const ticket = await a.latch.approvals!.request(request);
      expect((await firstEvent).value).toMatchObject({
        kind: "requested",
        approval: { id: ticket.id, witness: WITNESS },
      });

      await a.latch.approvals!.get(ticket.id);
      expect(await codeOf(b.latch.approvals!.get(ticket.id))).toBe("approval/slow-down");

      const aFollows = a.nextFeedStart();
      const awaiting = a.latch.approvals!.await(ticket.id);
      await aFollows;
      await b.latch.approvals!.decide({
        id: ticket.id,
        approve: true,
        approver: { type: "user", id: "olga" },
      });
      expect(await awaiting).toMatchObject({ state: "approved", decidedBy: "user:olga" });
      expect((await events.next()).value).toMatchObject({ kind: "decided", approval: { id: ticket.id } });
    } finally {
      stop.abort();
      await a.latch.close();
      await b.latch.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function watchClient(server: RunningServer) {
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${TOKEN}`);
    return next(req);
  };
  return createConnectClient(
    ApprovalService,
    createGrpcTransport({ baseUrl: `http://${server.address}`, interceptors: [bearer] }),
  );
}

describe("approvals across two processes on one SQLite file", () => {
  it("another process watches a request made here and wakes on its decision", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-approvals-processes-"));
    const file = join(dir, "latch.db");
    const here = dirname(fileURLToPath(import.meta.url));
    const latch = await openLatch({
      database: file,
      schema: SCHEMA,
      mirror: false,
      approvals: { rules: RULES },
    });
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "fixtures/watcher.ts"), file], {
      cwd: resolve(here, "../.."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.on("exit", done));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const line = async () => {
      const next = await lines.next();
      if (next.done) throw new Error(`the watcher ended early: ${err}`);
      return next.value;
    };
    try {
      await seed(latch);
      expect(await line()).toBe("ready");
      const ticket = await latch.approvals!.request({
        resource: { type: "database", id: "prod-orders" },
        permission: "delete",
        subject: { type: "agent", id: "cleanup" },
        message: "Delete prod-orders?",
      });
      expect(await line()).toBe(`requested ${ticket.id}`);
      await latch.approvals!.decide({ id: ticket.id, approve: true, approver: { type: "user", id: "olga" } });
      expect(await line()).toBe("decided approved");
      expect(await exited).toBe(0);
    } finally {
      child.kill();
      await latch.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
