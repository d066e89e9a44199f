/**
 * A scripted agent (no model, no network) working for alice on the Phoenix project: it retrieves
 * through the Latch retriever, then calls tools on an MCP server guarded by Latch. Every step is
 * told as it happens; the audit trail closes the story. `npm run example` runs it; the test suite
 * runs it too (test/examples/agent-rag.test.ts), so it keeps working.
 *
 * In an application the imports are `latch/embedded`, `latch/langchain` and `latch/mcp`.
 */
import { readFileSync } from "node:fs";
import { Document, type DocumentInterface } from "@langchain/core/documents";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { SyntheticVectorStore } from "../../bench/synthetic-vector-store.js";
import { createEmbedded } from "../../src/client/embedded-entry.js";
import { LatchRetriever } from "../../src/client/langchain/index.js";
import { createToolGuard } from "../../src/client/mcp/index.js";
import { decisionSentence } from "../../src/client/public-exports.js";
import { APPROVAL_RULES, CHUNKS, RELATIONSHIPS } from "./phoenix.js";

export interface ExampleOutcome {
  /** Documents whose chunks reached the agent. */
  readonly seen: readonly string[];
  /** Documents whose chunks were withheld. */
  readonly withheld: readonly string[];
  /** Tool calls refused, approved and run, by tool name. */
  readonly refused: readonly string[];
  readonly approvedBy: string | undefined;
  readonly ran: readonly string[];
  readonly auditSentences: readonly string[];
}

const AGENT = {
  subject: "agent:assistant",
  onBehalfOf: ["user:alice"],
  subjectGrants: "not-required",
} as const;

export async function runExample(say: (line: string) => void = console.log): Promise<ExampleOutcome> {
  const schema = readFileSync(new URL("../../schemas/rag.zed", import.meta.url), "utf8");
  const latch = await createEmbedded({
    database: ":memory:",
    schema,
    delegation: { delegationPermission: { user: "delegate_to" } },
    approvals: { rules: APPROVAL_RULES },
    audit: { policy: "all" },
  });
  try {
    await latch.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch" as const, relationship })),
    });
    say("Latch is running in process on schemas/rag.zed with the Phoenix project's data.");
    say(
      "The agent, agent:assistant, works for user:alice (clearance 1), who delegated read, summarize and edit.\n",
    );

    // 1. Retrieval: only chunks alice's agent may summarize reach its context.
    const store = new SyntheticVectorStore();
    await store.addDocuments(
      CHUNKS.map((c) => new Document({ pageContent: c.text, metadata: { doc: c.doc } })),
    );
    const retriever = new LatchRetriever({
      client: latch,
      source: store,
      ...AGENT,
      permission: "summarize",
      resourceType: "document",
      resourceId: (d) => d.metadata.doc as string,
      context: { clearance: 1 },
      k: 4,
      preFilter: (ids) => (d: DocumentInterface) => ids.has(d.metadata.doc as string),
    });
    const question = "What is the Phoenix launch plan and its budget?";
    say(`Step 1. The agent asks: "${question}"`);
    const { documents, report } = await retriever.retrieve(question);
    for (const d of documents) say(`  saw      [${d.metadata.doc}] ${d.pageContent}`);
    const seen = [...new Set(documents.map((d) => d.metadata.doc as string))];
    const withheld = [...new Set(CHUNKS.map((c) => c.doc))].filter((doc) => !seen.includes(doc));
    for (const doc of withheld) {
      const why = await latch.check({
        resource: `document:${doc}`,
        permission: "summarize",
        ...AGENT,
        context: { clearance: 1 },
      });
      say(`  withheld [${doc}] summarize for alice's agent is ${why.state}`);
    }
    say(
      `  (${report.strategy}: ${report.returned} chunks returned, ${report.dropped} dropped; ${report.retrievalId})\n`,
    );

    // 2. Tools: an MCP server whose every call Latch authorizes first.
    const server = new McpServer({ name: "phoenix-docs", version: "1.0.0" });
    const ran: string[] = [];
    const guard = createToolGuard({ client: latch, identify: () => AGENT });
    const onDocument = (permission: string) => ({
      permission,
      resourceType: "document",
      resourceId: (args: Record<string, unknown>) => String(args.doc),
      context: () => ({ clearance: 1 }),
    });
    const tool = (name: string, description: string, permission: string) =>
      guard.registerTool(
        server,
        name,
        { description, inputSchema: { doc: z.string() } },
        onDocument(permission),
        async (args) => {
          ran.push(`${name}(${args.doc})`);
          return { content: [{ type: "text", text: `${name} done on ${args.doc}` }] };
        },
      );
    tool("summarize_document", "Summarize a document", "summarize");
    tool("export_document", "Export a full copy of a document", "export");
    tool("update_document", "Edit a document", "edit");
    const [agentSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const mcp = new Client({ name: "scripted-agent", version: "1.0.0" });
    await mcp.connect(agentSide);
    const refused: string[] = [];
    let approvedBy: string | undefined;
    try {
      const call = async (name: string, doc: string) => {
        const result = await mcp.callTool({ name, arguments: { doc } });
        const text = (result.content as { text?: string }[]).map((c) => c.text ?? "").join(" ");
        say(`  ${name}(${doc}): ${result.isError === true ? "REFUSED" : "ok"}: ${text}`);
        if (result.isError === true) refused.push(name);
        return result;
      };
      say("Step 2. The agent calls tools on the MCP server.");
      await call("summarize_document", "launch-plan");
      await call("export_document", "launch-plan");
      const waiting = await call("update_document", "launch-plan");
      const approvalId = waiting._meta?.["latch/approvalId"];
      if (typeof approvalId === "string") {
        const approval = await latch.decideApproval({ id: approvalId, approve: true, approver: "user:lena" });
        approvedBy = approval.decidedBy === undefined ? "user:lena" : String(approval.decidedBy);
        say(`  lena, the project lead, approves request ${approvalId} on her own channel.`);
        await call("update_document", "launch-plan");
      }
    } finally {
      await mcp.close();
      await server.close();
    }

    // 3. The audit trail: who acted for whom, and why it was allowed.
    await latch.recorder?.flush();
    const page = await latch.queryDecisions({ pageSize: 100 });
    const auditSentences = page.decisions.map((d) => decisionSentence(d.record));
    say("\nStep 3. The decision audit trail:");
    for (const line of auditSentences) say(`  ${line}`);
    const verified = await latch.verifyDecisions();
    say(`\nThe trail's hash chain: ${verified.ok ? "intact" : "BROKEN"} (${verified.records} records).`);
    return { seen, withheld, refused, approvedBy, ran, auditSentences };
  } finally {
    await latch.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runExample();
}
