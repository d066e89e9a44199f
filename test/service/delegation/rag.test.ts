/**
 * schemas/rag.zed's scoped delegation, asked as on-behalf-of requests: alice's calendar agent may
 * read and summarize her documents for her, not export them, though alice may.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRelationship } from "../../../src/core/index.js";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";

describe("schemas/rag.zed with on-behalf-of requests", () => {
  let latch: OpenedLatch;
  beforeAll(async () => {
    latch = await openLatch({
      database: ":memory:",
      schema: readFileSync(new URL("../../../schemas/rag.zed", import.meta.url), "utf8"),
      delegation: { delegationPermission: { user: "delegate_to" } },
    });
    const texts = [
      "document:notes#owner@user:alice",
      "document:notes#sensitivity@user:*",
      "document:notes#sensitivity@agent:*",
      'user:alice#scoped_delegate@agent:alicecal[delegation_scope:{"allowed_permissions":["document#read","document#summarize"]}]',
    ];
    await latch.store.write(
      texts.map((t) => ({ operation: "touch" as const, relationship: parseRelationship(t) })),
    );
  });
  afterAll(() => latch.close());

  const ask = (permission: string, subject = { type: "agent", id: "alicecal" }) =>
    latch.decider
      .check({
        resource: { type: "document", id: "notes" },
        permission,
        subject,
        onBehalfOf: subject.type === "user" ? [] : [{ type: "user", id: "alice" }],
        subjectGrants: subject.type === "user" ? "required" : "not-required",
        consistency: { kind: "fully-consistent" },
      })
      .then((r) => r.state);

  it("reads and summarizes for alice, but does not export, which alice may", async () => {
    expect(await ask("read")).toBe("ALLOWED");
    expect(await ask("summarize")).toBe("ALLOWED");
    expect(await ask("export", { type: "user", id: "alice" })).toBe("ALLOWED");
    expect(await ask("export")).toBe("DENIED");
  });
});
