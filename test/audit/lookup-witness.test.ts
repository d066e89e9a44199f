/**
 * Witnesses on LookupResources records (issue 14): each resource a recorded lookup finds is
 * recorded with the relationships that prove it, as a Check record is: nested groups, arrows,
 * caveats (CONDITIONAL), delegated lookups (the delegation links included, as a delegated Check's
 * witness has them), `include` and `sample`; every witness is checked to be a proof (each of its
 * relationships stored, and they alone, as the only data, still give the recorded answer), on
 * fixed data and on random small data. The caller gets no witness it did not ask for, and the
 * sentence (`latch audit query`) and the OCSF export show a lookup's witness as a check's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type AuditOptions, decisionSentence, toOcsfEvent } from "../../src/audit/index.js";
import { auditCommand } from "../../src/cli/commands/audit.js";
import {
  formatRelationshipWithoutContext,
  parseRelationship,
  parseSubjectRef,
  type Relationship,
  type SubjectRef,
} from "../../src/core/index.js";
import type { LookupResourcesRequest } from "../../src/engine/index.js";
import { type OpenedLatch, openLatch } from "../../src/open/index.js";
import type { DecisionRecord } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";

const SCHEMA = `
caveat in_office(ip string) {
  ip == "10.0.0.1"
}

caveat not_secret(resource_id string) {
  resource_id != "secret"
}

definition user {
  relation delegate: agent | user | agent with in_office | agent with not_secret
}
definition agent {}

definition group {
  relation member: user | agent | group#member
}

definition folder {
  relation viewer: user | agent | group#member
  permission view = viewer
}

definition document {
  relation parent: folder
  relation viewer: user | agent | group#member | user with in_office
  relation banned: user
  permission read = viewer + parent->view
  permission view = read - banned
}
`;

const DATA = [
  "group:finance#member@user:alice",
  "group:all#member@group:finance#member",
  "document:q3#viewer@group:finance#member",
  "folder:reports#viewer@group:all#member",
  "document:q4#parent@folder:reports",
  "document:memo#viewer@user:alice[in_office]",
  "document:secret#viewer@user:alice",
  "document:secret#banned@user:alice",
  "user:alice#delegate@agent:bot",
  "folder:reports#viewer@agent:bot",
];

const dir = mkdtempSync(join(tmpdir(), "latch-lookup-witness-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const opened: OpenedLatch[] = [];
afterEach(async () => {
  for (const latch of opened.splice(0)) await latch.close();
});

async function open(
  relationships: readonly Relationship[],
  audit: Omit<AuditOptions, "log"> | undefined,
  path = ":memory:",
): Promise<OpenedLatch> {
  const store = await createSqliteStore({ path });
  const latch = await openLatch({ store, schema: SCHEMA, mirror: false, ...(audit ? { audit } : {}) });
  opened.push(latch);
  if (relationships.length > 0)
    await latch.store.write(
      relationships.map((relationship) => ({ operation: "touch" as const, relationship })),
    );
  return latch;
}

async function drain(results: AsyncIterable<{ readonly resourceId: string }>): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of results) ids.push(r.resourceId);
  return ids;
}

async function records(latch: OpenedLatch): Promise<DecisionRecord[]> {
  return (await latch.store.decisions.read()).map((d) => d.record);
}

const alice: SubjectRef = { type: "user", id: "alice" };
const bot: SubjectRef = { type: "agent", id: "bot" };

/**
 * Whether `record`'s witness proves it: each relationship is one of `stored` (as the audit trail
 * writes them, without caveat context), and those alone, in a store of their own, still give the
 * recorded answer to the same question (ALLOWED stays ALLOWED, CONDITIONAL still grants), asked
 * through delegation when the record has a chain.
 */
async function expectProof(
  record: DecisionRecord,
  stored: readonly Relationship[],
  context: Readonly<Record<string, unknown>> | undefined,
): Promise<void> {
  const label = decisionSentence(record);
  expect(record.operation, label).toBe("lookup-resources");
  expect(record.witness, label).toBeDefined();
  const byText = new Map(stored.map((r) => [formatRelationshipWithoutContext(r), r]));
  const alone = record.witness!.map((text) => {
    const r = byText.get(text);
    expect(r, `${label}: ${text} is not stored`).toBeDefined();
    return r!;
  });
  const only = await open(alone, undefined);
  const [type, id] = record.resource.split(":") as [string, string];
  const answer = await only.decider.check({
    resource: { type, id },
    permission: record.permission,
    subject: parseSubjectRef(record.subject),
    ...(record.onBehalfOf === undefined ? {} : { onBehalfOf: record.onBehalfOf.map(parseSubjectRef) }),
    ...(record.subjectGrants === undefined ? {} : { subjectGrants: record.subjectGrants as "not-required" }),
    ...(context === undefined ? {} : { context }),
  });
  if (record.answer === "ALLOWED") expect(answer.state, label).toBe("ALLOWED");
  else expect(answer.state, label).not.toBe("DENIED");
}

const data = DATA.map(parseRelationship);
const lookup = (permission: string, subject: SubjectRef, extra: Partial<LookupResourcesRequest> = {}) => ({
  resourceType: "document",
  permission,
  subject,
  ...extra,
});

describe("LookupResources records carry witnesses", () => {
  it("every result found under --audit all: nested groups, arrows, caveats; the caller gets none", async () => {
    const latch = await open(data, { policy: "all", mode: "sync" });
    const results = [];
    for await (const r of latch.decider.lookupResources(lookup("read", alice))) results.push(r);
    expect(results.map((r) => [r.resourceId, r.state])).toEqual([
      ["memo", "CONDITIONAL"],
      ["secret", "ALLOWED"],
      ["q3", "ALLOWED"],
      ["q4", "ALLOWED"],
    ]);
    expect(results.every((r) => !("witness" in r))).toBe(true);
    // `view` excludes: every result is checked, its witness from the check.
    expect(await drain(latch.decider.lookupResources(lookup("view", alice)))).toEqual(["memo", "q3", "q4"]);
    const got = await records(latch);
    expect(got.map((r) => [r.permission, r.resource, r.answer, r.witness])).toEqual([
      ["read", "document:memo", "CONDITIONAL", ["document:memo#viewer@user:alice[in_office]"]],
      ["read", "document:secret", "ALLOWED", ["document:secret#viewer@user:alice"]],
      [
        "read",
        "document:q3",
        "ALLOWED",
        ["document:q3#viewer@group:finance#member", "group:finance#member@user:alice"],
      ],
      [
        "read",
        "document:q4",
        "ALLOWED",
        [
          "document:q4#parent@folder:reports",
          "folder:reports#viewer@group:all#member",
          "group:all#member@group:finance#member",
          "group:finance#member@user:alice",
        ],
      ],
      ["view", "document:memo", "CONDITIONAL", ["document:memo#viewer@user:alice[in_office]"]],
      [
        "view",
        "document:q3",
        "ALLOWED",
        ["document:q3#viewer@group:finance#member", "group:finance#member@user:alice"],
      ],
      [
        "view",
        "document:q4",
        "ALLOWED",
        [
          "document:q4#parent@folder:reports",
          "folder:reports#viewer@group:all#member",
          "group:all#member@group:finance#member",
          "group:finance#member@user:alice",
        ],
      ],
    ]);
    for (const record of got) await expectProof(record, data, undefined);
    expect(await latch.store.decisions.verify()).toMatchObject({ ok: true, records: 7 });
    // A caller that asks for witnesses gets them, as recorded.
    const asked = [];
    for await (const r of latch.decider.lookupResources(lookup("read", alice, { witness: true })))
      asked.push(r);
    expect(asked.map((r) => r.witness?.length)).toEqual([1, 1, 2, 4]);
  });

  it("a delegated lookup's witnesses hold each part's proof and the delegation link, as a delegated check's", async () => {
    const latch = await open(data, { mode: "sync" });
    const chain = { onBehalfOf: [alice] };
    // The agent's own grants count (the default): it reaches q4 through the folder.
    expect(await drain(latch.decider.lookupResources(lookup("read", bot, chain)))).toEqual(["q4"]);
    // Not required: alice's grants and the delegation decide.
    const delegated = { ...chain, subjectGrants: "not-required" as const };
    expect(await drain(latch.decider.lookupResources(lookup("read", bot, delegated)))).toEqual([
      "memo",
      "secret",
      "q3",
      "q4",
    ]);
    const lookups = await records(latch);
    expect(lookups.map((r) => [r.resource, r.witness])).toEqual([
      [
        "document:q4",
        [
          "document:q4#parent@folder:reports",
          "folder:reports#viewer@agent:bot",
          "folder:reports#viewer@group:all#member",
          "group:all#member@group:finance#member",
          "group:finance#member@user:alice",
          "user:alice#delegate@agent:bot",
        ],
      ],
      ["document:memo", ["document:memo#viewer@user:alice[in_office]", "user:alice#delegate@agent:bot"]],
      ["document:secret", ["document:secret#viewer@user:alice", "user:alice#delegate@agent:bot"]],
      [
        "document:q3",
        [
          "document:q3#viewer@group:finance#member",
          "group:finance#member@user:alice",
          "user:alice#delegate@agent:bot",
        ],
      ],
      [
        "document:q4",
        [
          "document:q4#parent@folder:reports",
          "folder:reports#viewer@group:all#member",
          "group:all#member@group:finance#member",
          "group:finance#member@user:alice",
          "user:alice#delegate@agent:bot",
        ],
      ],
    ]);
    for (const record of lookups) await expectProof(record, data, undefined);
    // The same questions as delegated Checks are recorded with the same witnesses.
    for (const r of lookups) {
      const id = r.resource.split(":")[1]!;
      await latch.decider.check({
        resource: { type: "document", id },
        permission: "read",
        subject: bot,
        onBehalfOf: [alice],
        ...(r.subjectGrants === undefined ? {} : { subjectGrants: "not-required" as const }),
      });
    }
    const checks = (await records(latch)).slice(lookups.length);
    expect(checks.map((r) => [r.operation, r.resource, r.witness])).toEqual(
      lookups.map((r) => ["check", r.resource, r.witness]),
    );
  });

  it("a delegation link left CONDITIONAL on resource_id is asked per resource, and its witness is recorded", async () => {
    const caveated = [
      ...data.filter((r) => formatRelationshipWithoutContext(r) !== "user:alice#delegate@agent:bot"),
      parseRelationship("user:alice#delegate@agent:bot[not_secret]"),
    ];
    const latch = await open(caveated, { mode: "sync" });
    const request = lookup("read", bot, { onBehalfOf: [alice], subjectGrants: "not-required" });
    const found = [];
    for await (const r of latch.decider.lookupResources({ ...request, context: { ip: "10.0.0.1" } }))
      found.push([r.resourceId, r.state]);
    expect(found).toEqual([
      ["memo", "ALLOWED"],
      ["q3", "ALLOWED"],
      ["q4", "ALLOWED"],
    ]);
    const got = await records(latch);
    expect(got.map((r) => r.witness?.at(-1))).toEqual(
      Array(3).fill("user:alice#delegate@agent:bot[not_secret]"),
    );
    for (const record of got) await expectProof(record, caveated, { ip: "10.0.0.1" });
  });

  it("include and sample: included lookups' results and sampled results carry their witness", async () => {
    const included = await open(data, { mode: "sync", include: ["document#read"] });
    await drain(included.decider.lookupResources(lookup("read", alice)));
    await drain(included.decider.lookupResources(lookup("view", alice)));
    const kept = await records(included);
    expect(kept.map((r) => [r.permission, r.resource])).toEqual([
      ["read", "document:memo"],
      ["read", "document:secret"],
      ["read", "document:q3"],
      ["read", "document:q4"],
    ]);
    for (const record of kept) await expectProof(record, data, undefined);

    // Draws per result: memo (0.9: not), secret (0.1: kept), q3 (0.8: not), q4 (0.2: kept).
    const queue = [0.9, 0.1, 0.8, 0.2];
    const sampled = await open(data, { mode: "sync", sample: 0.5, random: () => queue.shift() ?? 1 });
    const results = [];
    for await (const r of sampled.decider.lookupResources(lookup("read", alice))) results.push(r);
    expect(results.every((r) => !("witness" in r))).toBe(true);
    const drawn = await records(sampled);
    expect(drawn.map((r) => [r.resource, r.sampled, r.witness?.length])).toEqual([
      ["document:secret", true, 1],
      ["document:q4", true, 4],
    ]);
    for (const record of drawn) await expectProof(record, data, undefined);
  });

  it("the sentence (`latch audit query`) and the OCSF export show a lookup's witness as a check's", async () => {
    const path = join(dir, `lookup-${files++}.db`);
    const latch = await open(data, { policy: "all", mode: "sync" }, path);
    await drain(latch.decider.lookupResources(lookup("read", alice)));
    const stored = await latch.store.decisions.read();
    await latch.close();
    opened.splice(opened.indexOf(latch), 1);
    const q3 = stored.find((d) => d.record.resource === "document:q3")!;
    const via = "via document:q3#viewer@group:finance#member, group:finance#member@user:alice";
    expect(decisionSentence(q3.record)).toContain(`user:alice: read on document:q3 ALLOWED ${via}`);
    expect(toOcsfEvent(q3)).toMatchObject({
      api: { operation: "LookupResources" },
      actor: {
        authorizations: [
          {
            decision: "allowed",
            policy: {
              desc: "granted via document:q3#viewer@group:finance#member, group:finance#member@user:alice",
            },
          },
        ],
      },
    });
    const query = await runCommand(auditCommand(), ["query", "--db", path, "--subject", "user:alice"]);
    expect(query.exitCode).toBe(0);
    const lines = query.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(`: read on document:q3 ALLOWED ${via}`);
    expect(lines[1]).toContain(": read on document:secret ALLOWED via document:secret#viewer@user:alice");
  });
});

// ---- random small data ------------------------------------------------------------------------

const USERS = ["alice", "bob"] as const;
const GROUPS = ["g1", "g2"] as const;
const FOLDERS = ["f1", "f2"] as const;
const DOCS = ["d1", "d2", "d3"] as const;

const relationshipArb: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...GROUPS),
      fc.constantFrom(...USERS.map((u) => `user:${u}`), "agent:bot", "group:g1#member", "group:g2#member"),
    )
    .map(([g, s]) => `group:${g}#member@${s}`),
  fc
    .tuple(
      fc.constantFrom(...FOLDERS),
      fc.constantFrom("user:alice", "user:bob", "agent:bot", "group:g1#member", "group:g2#member"),
    )
    .map(([f, s]) => `folder:${f}#viewer@${s}`),
  fc
    .tuple(fc.constantFrom(...DOCS), fc.constantFrom(...FOLDERS))
    .map(([d, f]) => `document:${d}#parent@folder:${f}`),
  fc
    .tuple(
      fc.constantFrom(...DOCS),
      fc.constantFrom(
        "user:alice",
        "user:bob",
        "agent:bot",
        "group:g1#member",
        "user:alice[in_office]",
        "user:bob[in_office]",
      ),
    )
    .map(([d, s]) => `document:${d}#viewer@${s}`),
  fc
    .tuple(fc.constantFrom(...DOCS), fc.constantFrom(...USERS))
    .map(([d, u]) => `document:${d}#banned@user:${u}`),
  fc.constantFrom(
    "user:alice#delegate@agent:bot",
    "user:bob#delegate@agent:bot",
    "user:bob#delegate@user:alice",
  ),
);

describe("LookupResources witnesses on random small data", () => {
  it("every recorded result's witness is a proof of it", async () => {
    let proved = 0;
    await fc.assert(
      fc.asyncProperty(
        // One relationship once, caveated or not (the store keeps one of them); at least six, so
        // that most runs have results to prove (over 9 runs of the whole property: 97 to 160).
        fc.uniqueArray(relationshipArb, {
          minLength: 6,
          maxLength: 14,
          selector: (t) => t.replace(/\[.*\]$/, ""),
        }),
        fc.constantFrom(undefined, { ip: "10.0.0.1" }),
        async (texts, context) => {
          const relationships = texts.map(parseRelationship);
          const latch = await open(relationships, { policy: "all", mode: "sync" });
          const asks: [SubjectRef, Partial<LookupResourcesRequest>][] = [
            [alice, {}],
            [{ type: "user", id: "bob" }, {}],
            [bot, { onBehalfOf: [alice] }],
            [bot, { onBehalfOf: [alice], subjectGrants: "not-required" }],
            [alice, { onBehalfOf: [{ type: "user", id: "bob" }], subjectGrants: "not-required" }],
          ];
          for (const [subject, extra] of asks)
            for (const permission of ["read", "view"]) {
              const request = lookup(permission, subject, { ...extra, ...(context ? { context } : {}) });
              await drain(latch.decider.lookupResources(request));
            }
          for (const record of await records(latch)) {
            await expectProof(record, relationships, context);
            proved++;
          }
          for (const latchOpened of opened.splice(0)) await latchOpened.close();
        },
      ),
      { numRuns: 25 },
    );
    // The generator must give lookups with results, or the property proves little.
    expect(proved).toBeGreaterThan(50);
  });
});
