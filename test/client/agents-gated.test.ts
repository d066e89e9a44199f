/**
 * Agents meet the approval gate as Check does: the retriever's pre-filter (which lists through
 * LookupResources, ungated) returns no chunk Check gates, and an MCP call's approval holds for the
 * arguments (the context) its approver was shown, not for others.
 */
import { Document, type DocumentInterface } from "@langchain/core/documents";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createEmbedded, type LatchClient } from "../../src/client/index.js";
import { LatchRetriever } from "../../src/client/langchain/index.js";
import { createToolGuard } from "../../src/client/mcp/index.js";

const SCHEMA = `definition agent {}
definition user {
  relation delegate: agent
}
caveat limit(amount int, max int) { amount <= max }
definition document {
  relation viewer: user | agent
  relation approver: user
  permission read = viewer
  permission approve = approver
}
definition account {
  relation payer: agent with limit
  relation approver: user
  permission pay = payer
  permission approve = approver
}`;

const RULES = `rules:
  - id: secret-read
    resource: document
    permission: read
    subjects: [agent]
    approvers: approve
  - id: big-payment
    resource: account
    permission: pay
    subjects: [agent]
    approvers: approve
    when: { parameter: amount, above: 100 }
`;

/**
 * A retriever over `docs` (a chunk each, ranked in that order) for agent:bot reading documents,
 * k = 4, with the given strategy and context.
 */
function retriever(
  client: LatchClient,
  docs: readonly string[],
  strategy: "post-filter" | "pre-filter",
  context?: Record<string, unknown>,
): LatchRetriever<(d: DocumentInterface) => boolean> {
  const chunks = docs.map((doc) => new Document({ pageContent: doc, metadata: { doc } }));
  const source = async (_q: string, n: number, filter?: (d: DocumentInterface) => boolean) =>
    chunks.filter((d) => filter === undefined || filter(d)).slice(0, n);
  return new LatchRetriever({
    client,
    source,
    subject: "agent:bot",
    permission: "read",
    resourceType: "document",
    resourceId: (d) => d.metadata.doc as string,
    ...(context === undefined ? {} : { context }),
    k: 4,
    strategy,
    preFilter: (ids) => (d: DocumentInterface) => ids.has(d.metadata.doc as string),
  });
}

describe("agents and the approval gate", () => {
  it("pre-filter returns no chunk whose read Check answers APPROVAL_REQUIRED, as post-filter", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: false });
    try {
      await client.writeApprovalRules(RULES);
      await client.writeRelationships({
        updates: ["document:secret#viewer@agent:bot", "document:secret#approver@user:olga"].map(
          (relationship) => ({ operation: "touch" as const, relationship }),
        ),
      });
      const check = await client.check({
        resource: "document:secret",
        permission: "read",
        subject: "agent:bot",
      });
      expect(check.state).toBe("APPROVAL_REQUIRED");
      const post = await retriever(client, ["secret"], "post-filter").invoke("secret");
      expect(post).toHaveLength(0);
      const pre = await retriever(client, ["secret"], "pre-filter").invoke("secret");
      // Both strategies promise "the inner ranking filtered by Check".
      expect(pre).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it("pre-filter hands the model the same k chunks as post-filter when Check gates one of them", async () => {
    // Only reads of sensitive documents are gated: the rule's threshold, judged on the value
    // stored on each grant (the retriever claims 0 for all).
    const schema = `definition agent {}
definition user {}
caveat sens(sensitivity int) { sensitivity >= 0 }
definition document {
  relation viewer: agent with sens
  relation approver: user
  permission read = viewer
  permission approve = approver
}`;
    const rules = `rules:
  - id: sensitive-read
    resource: document
    permission: read
    subjects: [agent]
    approvers: approve
    when: { parameter: sensitivity, above: 2 }
`;
    const client = await createEmbedded({ database: ":memory:", schema, audit: false });
    try {
      await client.writeApprovalRules(rules);
      const docs = ["d1", "secret", "d2", "d3", "d4", "d5"];
      await client.writeRelationships({
        updates: docs.map((d) => ({
          operation: "touch" as const,
          relationship: `document:${d}#viewer@agent:bot[sens:{"sensitivity":${d === "secret" ? 5 : 1}}]`,
        })),
      });
      const make = (strategy: "post-filter" | "pre-filter") =>
        retriever(client, docs, strategy, { sensitivity: 0 });
      const post = (await make("post-filter").invoke("q")).map((d) => d.metadata.doc);
      expect(post).toEqual(["d1", "d2", "d3", "d4"]);
      expect((await make("pre-filter").invoke("q")).map((d) => d.metadata.doc)).toEqual(post);
    } finally {
      await client.close();
    }
  });

  it("an MCP call approved for amount 150 does not run with amount 999999, and runs once with 150", async () => {
    const latch = await createEmbedded({ database: ":memory:", schema: SCHEMA, audit: false });
    try {
      await latch.writeApprovalRules(RULES);
      await latch.writeRelationships({
        updates: [
          'account:main#payer@agent:bot[limit:{"max":1000000}]',
          "account:main#approver@user:olga",
        ].map((relationship) => ({ operation: "touch" as const, relationship })),
      });
      const server = new McpServer({ name: "bank", version: "1.0.0" });
      const ran: number[] = [];
      const guard = createToolGuard({ client: latch, identify: () => ({ subject: "agent:bot" }) });
      guard.registerTool(
        server,
        "pay",
        { description: "pay", inputSchema: { account: z.string(), amount: z.number() } },
        {
          permission: "pay",
          resourceType: "account",
          resourceId: (a) => String(a.account),
          context: (a) => ({ amount: a.amount }),
        },
        async (args) => {
          ran.push(args.amount as number);
          return { content: [{ type: "text", text: `paid ${args.amount}` }] };
        },
      );
      const [a, b] = InMemoryTransport.createLinkedPair();
      const mcp = new Client({ name: "agent", version: "1.0.0" });
      await Promise.all([server.connect(a), mcp.connect(b)]);
      const first = await mcp.callTool({ name: "pay", arguments: { account: "main", amount: 150 } });
      expect(first.isError).toBe(true);
      const id = (first._meta as Record<string, string>)["latch/approvalId"]!;
      const shown = await latch.getApproval(id);
      expect(shown.context).toEqual({ amount: 150 });
      await latch.decideApproval({ id, approve: true, approver: "user:olga" });
      const second = await mcp.callTool({ name: "pay", arguments: { account: "main", amount: 999_999 } });
      // The approver said yes to paying 150, not 999,999.
      expect(ran).toEqual([]);
      expect(second.isError).toBe(true);
      const approved = await mcp.callTool({ name: "pay", arguments: { account: "main", amount: 150 } });
      expect(approved.isError).not.toBe(true);
      expect(ran).toEqual([150]);
      await mcp.close();
    } finally {
      await latch.close();
    }
  });
});
