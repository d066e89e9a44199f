/**
 * The MCP tool guard, through a real MCP client and server from the SDK (in-memory transport),
 * with Latch behind both client kinds (embedded, and gRPC to a served Latch): allowed, denied,
 * hidden, approval-required and approved calls, each named in the audit trail.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createClient, createEmbedded, type LatchClient } from "../../src/client/index.js";
import { createToolGuard } from "../../src/client/mcp/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";

const SCHEMA = `definition agent {}
definition user {
  relation delegate: agent
}
definition table {
  relation owner: user
  relation operator: user | agent
  relation approver: user
  permission read = owner + operator
  permission delete = owner + operator
  permission approve = approver
}
definition report {
  relation viewer: user | agent
  permission export = viewer
}`;

const RULES = `rules:
  - id: table-delete
    resource: table
    permission: delete
    subjects: [agent]
    approvers: approve
`;

const RELATIONSHIPS = [
  "user:alice#delegate@agent:bot",
  "table:orders#owner@user:alice",
  "table:orders#operator@agent:bot",
  "table:orders#approver@user:carol",
  "table:secrets#owner@user:bob",
  "table:secrets#operator@agent:bot",
  "report:q3#viewer@user:alice",
];

interface Target {
  readonly latch: LatchClient;
  close(): Promise<void>;
}

let served: RunningServer;
beforeAll(async () => {
  served = await startServer({
    testing: { open: () => openLatch({ database: ":memory:", mirror: false, audit: { policy: "all" } }) },
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
  });
});
afterAll(async () => {
  await served?.shutdown(1000);
});

const targets: [string, () => Promise<Target>][] = [
  [
    "embedded",
    async () => {
      const latch = await createEmbedded({ database: ":memory:", audit: { policy: "all" } });
      return { latch, close: () => latch.close() };
    },
  ],
  [
    "gRPC",
    async () => {
      const latch = createClient({ address: served.address, token: `mcp-guard-${Date.now()}` });
      return { latch, close: () => latch.close() };
    },
  ],
];

describe.each(targets)("MCP tool guard over the %s client", (_name, open) => {
  it("runs allowed calls, refuses denied ones, hides unreachable tools, waits for approval", async () => {
    const target = await open();
    const latch = target.latch;
    try {
      await latch.writeSchema(SCHEMA);
      await latch.writeRelationships({
        updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch" as const, relationship })),
      });
      await latch.writeApprovalRules(RULES);

      const server = new McpServer({ name: "db-tools", version: "1.0.0" });
      const ran: string[] = [];
      const caller = { subject: "agent:bot", onBehalfOf: ["user:alice"] };
      const guard = createToolGuard({ client: latch, identify: () => caller });
      guard.registerTool(
        server,
        "read_rows",
        { description: "read a table", inputSchema: { table: z.string() } },
        { permission: "read", resourceType: "table", resourceId: (a) => String(a.table) },
        async (args) => {
          ran.push(`read ${args.table}`);
          return { content: [{ type: "text", text: `rows of ${args.table}` }] };
        },
      );
      guard.registerTool(
        server,
        "delete_rows",
        { description: "delete a table's rows", inputSchema: { table: z.string() } },
        { permission: "delete", resourceType: "table", resourceId: (a) => String(a.table) },
        async (args) => {
          ran.push(`delete ${args.table}`);
          return { content: [{ type: "text", text: `deleted ${args.table}` }] };
        },
      );
      guard.registerTool(
        server,
        "export_report",
        { description: "export a report", inputSchema: { report: z.string() } },
        { permission: "export", resourceType: "report", resourceId: (a) => String(a.report) },
        async () => {
          ran.push("export");
          return { content: [{ type: "text", text: "exported" }] };
        },
      );
      expect(await guard.refreshVisibility(caller)).toEqual({
        visible: ["read_rows", "delete_rows"],
        hidden: ["export_report"],
      });

      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      const mcp = new Client({ name: "agent", version: "1.0.0" });
      await mcp.connect(clientSide);
      try {
        const tools = await mcp.listTools();
        expect(tools.tools.map((t) => t.name).sort()).toEqual(["delete_rows", "read_rows"]);

        const read = await mcp.callTool({ name: "read_rows", arguments: { table: "orders" } });
        expect(read.isError).not.toBe(true);
        expect(read.content).toEqual([{ type: "text", text: "rows of orders" }]);

        // bob's table: the agent holds the grant, alice does not, so the agent may not.
        const denied = await mcp.callTool({ name: "read_rows", arguments: { table: "secrets" } });
        expect(denied.isError).toBe(true);
        expect(JSON.stringify(denied.content)).toContain(
          "agent:bot acting for user:alice may not read on table:secrets",
        );

        const hidden = await mcp.callTool({ name: "export_report", arguments: { report: "q3" } });
        expect(hidden.isError).toBe(true);

        const gated = await mcp.callTool({ name: "delete_rows", arguments: { table: "orders" } });
        expect(gated.isError).toBe(true);
        const approvalId = gated._meta?.["latch/approvalId"] as string;
        expect(approvalId).toEqual(expect.any(String));
        expect(JSON.stringify(gated.content)).toContain(approvalId);
        expect(ran).toEqual(["read orders"]);

        await latch.decideApproval({ id: approvalId, approve: true, approver: "user:carol" });
        const approved = await mcp.callTool({ name: "delete_rows", arguments: { table: "orders" } });
        expect(approved.content).toEqual([{ type: "text", text: "deleted orders" }]);
        // Single use: the next delete asks again.
        const again = await mcp.callTool({ name: "delete_rows", arguments: { table: "orders" } });
        expect(again._meta?.["latch/state"]).toBe("APPROVAL_REQUIRED");
        expect(ran).toEqual(["read orders", "delete orders"]);

        // The trail is written behind the answers: wait until both tools' decisions are in it.
        let named: string[] = [];
        for (let attempt = 0; attempt < 200 && new Set(named).size < 2; attempt++) {
          await (latch as { recorder?: { flush(): Promise<void> } }).recorder?.flush();
          const decisions = await latch.queryDecisions({});
          named = decisions.decisions
            .map((d) => d.record.requestId ?? "")
            .filter((id) => id.startsWith("mcp:"))
            .map((id) => id.split(":")[1]!);
          if (new Set(named).size < 2) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(new Set(named)).toEqual(new Set(["read_rows", "delete_rows"]));
      } finally {
        await mcp.close();
        await server.close();
      }
    } finally {
      await target.close();
    }
  });
});
