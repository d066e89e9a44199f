/**
 * ApprovalService is in the server's one list of services (src/server/services.ts), so every way
 * of serving has it: `--testing` (each token's store has its own rules and approvals) over gRPC,
 * and the Connect protocol on `--http-listen`, through the real clients of both.
 */
import { createClient as createConnectClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalService } from "../../src/gen/latch/v1/approval_service_pb.js";
import { createClient } from "../../src/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../src/server/index.js";
import { RULES, SCHEMA } from "./fixtures.js";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    testing: { open: () => openLatch({ database: ":memory:", mirror: false }) },
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    logger: createLogger("silent"),
  });
});
afterAll(async () => {
  await server?.shutdown(1000);
});

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

describe("ApprovalService on every way of serving", () => {
  it("gates in testing mode over gRPC, per token, and answers over Connect", async () => {
    const alice = createClient({ address: server.address, token: "approvals-token-a" });
    const other = createClient({ address: server.address, token: "approvals-token-b" });
    try {
      await alice.writeSchema(SCHEMA);
      await alice.writeRelationships({
        updates: [{ operation: "touch", relationship: "database:prod#operator@agent:cleanup" }],
      });
      expect(await alice.writeApprovalRules(RULES, { fileName: "rules.yaml" })).toEqual({
        version: 1,
        ruleIds: ["prod-delete"],
      });
      const check = {
        resource: "database:prod",
        permission: "delete",
        subject: "agent:cleanup",
        consistency: { kind: "fully-consistent" as const },
      };
      expect(await alice.check(check)).toMatchObject({
        state: "APPROVAL_REQUIRED",
        approvalRule: "prod-delete",
      });
      // Another token is another store: no rules there.
      expect(await other.readApprovalRules()).toEqual({ version: 0, rules: "" });

      const connect = createConnectClient(
        ApprovalService,
        createConnectTransport({
          baseUrl: `http://${server.httpAddress}`,
          httpVersion: "1.1",
          interceptors: [bearer("approvals-token-a")],
        }),
      );
      const read = await connect.readApprovalRules({});
      expect({ version: read.version, rules: read.rules }).toEqual({ version: 1, rules: RULES });
    } finally {
      await alice.close();
      await other.close();
    }
  });
});
