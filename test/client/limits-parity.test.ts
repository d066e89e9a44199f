/**
 * Limits and an empty actor token mean the same through the embedded client and the gRPC client.
 * On the wire a limit is a uint32 whose 0 means "no limit", and an empty string is no actor token
 * at all (proto3): the gRPC client must not send either meaning across. A limit of 0 returns
 * nothing (reads, lookups) or is refused (a delete, never "delete everything"); a limit that is
 * not a whole number from 0 is refused as invalid-argument; an empty actor token is refused as
 * unauthenticated, never answered for the chain the request claims.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { LatchClient } from "../../src/client/index.js";
import { isLatchError } from "../../src/core/index.js";
import { AGENT_SCHEMA, AUDIENCE, actorKey, ISSUER } from "../service/delegation/actor-fixtures.js";
import { embedded, grpcServerWith, type Transport, type TransportOptions } from "../service/transports.js";

const SCHEMA = AGENT_SCHEMA;
const RELATIONSHIPS = [
  "document:x#viewer@user:a",
  "document:x#viewer@user:b",
  "document:x#viewer@user:c",
  "document:y#viewer@user:a",
  "document:x#viewer@agent:bot",
  "user:a#delegate_to@agent:bot",
];
/** The documents' relationships: what a read or delete of `resourceType: "document"` matches. */
const DOCUMENTS = RELATIONSHIPS.filter((r) => r.startsWith("document:")).length;
const consistency = { kind: "fully-consistent" } as const;

const RUNS: readonly (readonly [string, Transport])[] = [
  ["embedded", embedded],
  ["gRPC (h2, batched checks)", grpcServerWith({})],
  ["gRPC (grpc-js, unbatched)", grpcServerWith({ transport: "grpc-js", batch: false })],
];
const REMOTES = RUNS.slice(1);

/** What a call came to: its results, or its error's kind and code (or a plain Error's message). */
function failed(e: unknown): string {
  return isLatchError(e) ? `${e.kind} ${e.code}` : `plain Error: ${(e as Error).message}`;
}

async function results<T>(items: AsyncIterable<T>, show: (item: T) => string): Promise<string> {
  const out: string[] = [];
  try {
    for await (const item of items) out.push(show(item));
  } catch (e) {
    return failed(e);
  }
  return out.length === 0 ? "(none)" : out.sort().join(",");
}

async function written(client: LatchClient): Promise<void> {
  await client.writeRelationships({
    updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch" as const, relationship })),
  });
}

async function stored(client: LatchClient): Promise<number> {
  let n = 0;
  for await (const _ of client.readRelationships({ filter: { resourceType: "document" }, consistency })) n++;
  return n;
}

/** Every limit case, one answer each. */
async function limitAnswers(client: LatchClient): Promise<Record<string, string>> {
  await written(client);
  const out: Record<string, string> = {};
  for (const limit of [0, 2, -1, 1.5, Number.NaN]) {
    out[`lookupSubjects ${limit}`] = await results(
      client.lookupSubjects({
        resource: "document:x",
        permission: "view",
        subjectType: "user",
        limit,
        consistency,
      }),
      (r) => r.subjectId,
    );
    out[`lookupResources ${limit}`] = await results(
      client.lookupResources({
        resourceType: "document",
        permission: "view",
        subject: "user:a",
        limit,
        consistency,
      }),
      (r) => r.resourceId,
    );
  }
  for (const limit of [0, 2, 1.5, -1, Number.NaN]) {
    out[`readRelationships ${limit}`] = await results(
      client.readRelationships({ filter: { resourceType: "document" }, limit, consistency }),
      (r) => `${r.relationship.resource.id}@${r.relationship.subject.id}`,
    );
  }
  for (const limit of [0, -1, 1.5]) {
    out[`deleteRelationships ${limit}`] = await client
      .deleteRelationships({ filter: { resourceType: "document" }, limit })
      .then((r) => `deleted ${r.deleted}`, failed);
    out[`stored after deleteRelationships ${limit}`] = String(await stored(client));
  }
  return out;
}

describe("limits: the embedded and the gRPC client agree", () => {
  let expected: Record<string, string>;
  beforeAll(async () => {
    await embedded({ schema: SCHEMA }, async (client) => {
      expected = await limitAnswers(client);
    });
  });

  it("embedded: 0 returns nothing or is refused (a delete); not a whole number from 0 is refused", () => {
    expect(expected).toMatchObject({
      "lookupSubjects 0": "(none)",
      "lookupSubjects 2": expect.stringMatching(/^\w,\w$/),
      "lookupSubjects -1": "invalid-argument lookup/invalid-limit",
      "lookupSubjects 1.5": "invalid-argument lookup/invalid-limit",
      "lookupSubjects NaN": "invalid-argument lookup/invalid-limit",
      "lookupResources 0": "(none)",
      "lookupResources -1": "invalid-argument lookup/invalid-limit",
      "readRelationships 0": "(none)",
      "readRelationships 1.5": "invalid-argument store/invalid-limit",
      "readRelationships -1": "invalid-argument store/invalid-limit",
      "readRelationships NaN": "invalid-argument store/invalid-limit",
      "deleteRelationships 0": "invalid-argument store/invalid-limit",
      "stored after deleteRelationships 0": String(DOCUMENTS),
      "deleteRelationships -1": "invalid-argument store/invalid-limit",
      "deleteRelationships 1.5": "invalid-argument store/invalid-limit",
      "stored after deleteRelationships 1.5": String(DOCUMENTS),
    });
  });

  it.each(REMOTES)("%s: the same answers", async (_name, run) => {
    await run({ schema: SCHEMA }, async (client) => {
      expect(await limitAnswers(client)).toEqual(expected);
    });
  });

  it.each(REMOTES)(
    "%s: a limit over the wire's uint32 is refused as invalid-argument",
    async (_name, run) => {
      await run({ schema: SCHEMA }, async (client) => {
        await written(client);
        const limit = 2 ** 32 + 1;
        expect(
          await results(
            client.lookupSubjects({ resource: "document:x", permission: "view", subjectType: "user", limit }),
            (r) => r.subjectId,
          ),
        ).toBe("invalid-argument lookup/invalid-limit");
        expect(
          await results(
            client.lookupResources({
              resourceType: "document",
              permission: "view",
              subject: "user:a",
              limit,
            }),
            (r) => r.resourceId,
          ),
        ).toBe("invalid-argument lookup/invalid-limit");
        expect(
          await results(client.readRelationships({ filter: { resourceType: "document" }, limit }), (r) =>
            String(r.token),
          ),
        ).toBe("invalid-argument store/invalid-limit");
        expect(
          await client
            .deleteRelationships({ filter: { resourceType: "document" }, limit })
            .then((r) => `deleted ${r.deleted}`, failed),
        ).toBe("invalid-argument store/invalid-limit");
        expect(await stored(client)).toBe(DOCUMENTS);
        // The largest the field holds still travels.
        expect(
          await client
            .deleteRelationships({ filter: { resourceType: "document" }, limit: 2 ** 32 - 1 })
            .then((r) => `deleted ${r.deleted}`, failed),
        ).toBe(`deleted ${DOCUMENTS}`);
      });
    },
  );
});

describe("an empty actor token: the embedded and the gRPC client agree", () => {
  let actorTokens: NonNullable<TransportOptions["actorTokens"]>;
  beforeAll(async () => {
    actorTokens = { jwks: (await actorKey("RS256", "k1")).jwks, issuer: ISSUER, audience: AUDIENCE };
  });

  async function tokenAnswers(client: LatchClient): Promise<Record<string, string>> {
    await written(client);
    const onBehalf = { subject: "agent:bot", onBehalfOf: ["user:a"], actorToken: "", consistency } as const;
    const out: Record<string, string> = {};
    out.check = await client
      .check({ resource: "document:x", permission: "view", ...onBehalf })
      .then((r) => r.state, failed);
    // Two at once: a batching client sends them as one CheckBulk.
    const both = await Promise.all(
      ["document:x", "document:y"].map((resource) =>
        client.check({ resource, permission: "view", ...onBehalf }).then((r) => r.state, failed),
      ),
    );
    out["two checks at once"] = both.join(" | ");
    out.checkBulk = await client
      .checkBulk({
        items: [{ resource: "document:x", permission: "view", subject: "agent:bot", onBehalfOf: ["user:a"] }],
        actorToken: "",
        consistency,
      })
      .then((r) => JSON.stringify(r.results), failed);
    out.lookupResources = await results(
      client.lookupResources({ resourceType: "document", permission: "view", ...onBehalf }),
      (r) => r.resourceId,
    );
    out["lookupResources limit 0"] = await results(
      client.lookupResources({ resourceType: "document", permission: "view", ...onBehalf, limit: 0 }),
      (r) => r.resourceId,
    );
    return out;
  }

  it.each(RUNS)(
    "%s: refused as unauthenticated, never answered for the claimed chain",
    async (_name, run) => {
      await run({ schema: SCHEMA, actorTokens }, async (client) => {
        const refused = "unauthenticated delegation/invalid-actor-token";
        expect(await tokenAnswers(client)).toEqual({
          check: refused,
          "two checks at once": `${refused} | ${refused}`,
          checkBulk: refused,
          lookupResources: refused,
          "lookupResources limit 0": refused,
        });
      });
    },
  );
});
