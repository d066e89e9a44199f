/**
 * The story of issue 17 (signals in): an agent acts for alice (schemas/rag.zed); alice's account
 * is disabled at the IdP (a test transmitter signs a RISC account-disabled SET, pushed to replica
 * A); the agent's next check on replica B, another store instance on the same datastore, is
 * DENIED and the audit trail says why; account-enabled restores it; set-attributes feeds a caveat
 * and the request cannot override it; a WatchPermissions subscriber on B hears REMOVED and then
 * ADDED for the agent's documents. On PostgreSQL (two replicas) and on SQLite (two openers of
 * one file).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import type { CheckRequest, Consistency } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import { createSsfReceiverServer, SET_CONTENT_TYPE } from "../../src/server/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import type { Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { admin, PG_SKIP_REASON, PG_URL, uniqueName } from "../store/fixtures/pg-setup.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA } from "./fixtures.js";

const agentForAlice: CheckRequest = {
  resource: { type: "document", id: "plan" },
  permission: "read",
  subject: { type: "agent", id: "bot" },
  onBehalfOf: [{ type: "user", id: "alice" }],
  subjectGrants: "not-required",
};

const vault: CheckRequest = {
  resource: { type: "vault", id: "v1" },
  permission: "read",
  subject: { type: "user", id: "alice" },
};

async function story(openStore: () => Promise<Store>): Promise<void> {
  const transmitter = await createTransmitter();
  const open = async (receiving: boolean) =>
    openLatch({
      store: await openStore(),
      schema: SCHEMA,
      delegation: { delegationPermission: { user: "delegate_to" } },
      audit: { policy: "all", mode: "sync" },
      approvals: false,
      signals: receiving
        ? { transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE }, rules: RULES }
        : {},
    });
  const a: OpenedLatch = await open(true);
  const b: OpenedLatch = await open(false);
  const ssf = createSsfReceiverServer(a.signals!.receiver);
  const url = `http://${await ssf.listen("127.0.0.1:0")}/`;
  try {
    await a.store.write(
      [
        "document:plan#viewer@user:alice",
        "document:plan#sensitivity@user:*",
        "user:alice#delegate@agent:bot",
        "vault:v1#reader@user:alice[risk_ok]",
        "document:plan#agent_access@agent:bot",
        "document:plan#sensitivity@agent:*",
      ].map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
    const fresh: Consistency = { kind: "fully-consistent" };
    expect((await b.decider.check({ ...agentForAlice, consistency: fresh })).state).toBe("ALLOWED");
    // A RAG cache on replica B keeps the agent's retrievable documents, acting for alice.
    const stopWatch = new AbortController();
    const watched = b.permissions
      .watch(
        {
          resourceType: "document",
          permission: "retrieve",
          subject: { type: "agent", id: "bot" },
          onBehalfOf: [{ type: "user", id: "alice" }],
        },
        { signal: stopWatch.signal },
      )
      [Symbol.asyncIterator]();
    const untilSynced = async () => {
      const changes: string[] = [];
      for (;;) {
        const { value, done } = await watched.next();
        if (done === true || value.kind === "SYNCED") return changes;
        changes.push(`${value.kind} ${value.resourceId}`);
      }
    };
    expect(await untilSynced()).toEqual(["ADDED plan"]);

    // The IdP disables alice's account and pushes the SET to replica A.
    const disabled = await transmitter.sign({ [EVENT_TYPES.accountDisabled]: {} }, { subId: alice });
    const pushed = await fetch(url, {
      method: "POST",
      headers: { "content-type": SET_CONTENT_TYPE },
      body: disabled,
    });
    expect(pushed.status).toBe(202);
    const deniedOnB = await b.decider.check({ ...agentForAlice, consistency: fresh });
    expect(deniedOnB).toMatchObject({
      state: "DENIED",
      reason: expect.stringContaining("user:alice is suspended"),
    });
    // Alice herself is DENIED too, whatever her relationships say.
    const aliceReads: CheckRequest = {
      ...agentForAlice,
      subject: { type: "user", id: "alice" },
      consistency: fresh,
    };
    delete (aliceReads as { onBehalfOf?: unknown }).onBehalfOf;
    delete (aliceReads as { subjectGrants?: unknown }).subjectGrants;
    expect((await b.decider.check(aliceReads)).state).toBe("DENIED");
    // The cache hears of it: everything the agent could retrieve for alice is REMOVED.
    expect(await untilSynced()).toEqual(["REMOVED plan"]);
    const records = await b.store.decisions.read({ subject: "agent:bot" });
    expect(records.at(-1)?.record).toMatchObject({
      answer: "DENIED",
      reason: expect.stringContaining(EVENT_TYPES.accountDisabled),
    });

    // account-enabled, sent through the API: at least as fresh as its revision, B allows again.
    const enabled = await a.signals!.receiver.receive(
      await transmitter.sign({ [EVENT_TYPES.accountEnabled]: {} }, { subId: alice }),
      "api",
    );
    const after: Consistency = { kind: "at-least-as-fresh", token: enabled.token };
    expect((await b.decider.check({ ...agentForAlice, consistency: after })).state).toBe("ALLOWED");
    expect(await untilSynced()).toEqual(["ADDED plan"]);
    stopWatch.abort();

    // Attributes feed the caveat and the request cannot override them.
    const level = await a.signals!.receiver.receive(
      await transmitter.sign({ [EVENT_TYPES.assuranceLevelChange]: { current_level: 2 } }, { subId: alice }),
      "api",
    );
    const risky = await a.signals!.receiver.receive(
      await transmitter.sign({ [EVENT_TYPES.tokenClaimsChange]: { claims: { risk: 5 } } }, { subId: alice }),
      "api",
    );
    expect(risky.revision > level.revision).toBe(true);
    const overriding = { ...vault, context: { risk: 0, assurance_level: 3 } };
    expect(
      (
        await b.decider.check({
          ...overriding,
          consistency: { kind: "at-least-as-fresh", token: risky.token },
        })
      ).state,
    ).toBe("DENIED");
    const calm = await a.signals!.receiver.receive(
      await transmitter.sign({ [EVENT_TYPES.tokenClaimsChange]: { claims: { risk: 1 } } }, { subId: alice }),
      "api",
    );
    expect(
      (await b.decider.check({ ...vault, consistency: { kind: "at-least-as-fresh", token: calm.token } }))
        .state,
    ).toBe("ALLOWED");
    // Pinned to the revision before the risk fell, the stored risk (5) still decides.
    expect(
      (await b.decider.check({ ...vault, consistency: { kind: "at-exact-snapshot", token: risky.token } }))
        .state,
    ).toBe("DENIED");

    const listed = await b.store.signals.list({});
    expect(listed.map((s) => s.events[0])).toEqual([
      EVENT_TYPES.tokenClaimsChange,
      EVENT_TYPES.tokenClaimsChange,
      EVENT_TYPES.assuranceLevelChange,
      EVENT_TYPES.accountEnabled,
      EVENT_TYPES.accountDisabled,
    ]);
  } finally {
    await ssf.close();
    await b.close();
    await a.close();
  }
}

describe("signals in: the story", () => {
  if (PG_URL === undefined) console.info(PG_SKIP_REASON);
  const schemas: string[] = [];
  afterAll(async () => {
    if (schemas.length === 0) return;
    await admin(async (client) => {
      for (const name of schemas) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    });
  });

  it.skipIf(PG_URL === undefined)("PostgreSQL, two replicas", async () => {
    const schema = uniqueName("latch_signals");
    schemas.push(schema);
    await story(() => createPostgresStore({ url: PG_URL as string, schema }));
  });

  it("SQLite, two openers of one file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "latch-signals-"));
    try {
      const { createSqliteStore } = await import("../../src/store/sqlite/index.js");
      await story(() => createSqliteStore({ path: join(dir, "latch.db") }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
