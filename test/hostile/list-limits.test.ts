/**
 * Stall review, finding 3: ListSignals and ListApprovals have no cursor, and took any `limit`: a
 * limit of 4e9 read and converted every received signal in one synchronous stretch (50,000 held
 * the event loop 0.3-0.4 s in process, `bench/stall-lists.ts`). The server now refuses a
 * limit over MAX_LIST_ROWS with `request/invalid-argument` (INVALID_ARGUMENT), before any read; the
 * default (100) and every limit up to the bound answer as before.
 */
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { MAX_LIST_ROWS } from "../../src/server/limits.js";
import { grpcServer } from "../service/transports.js";

const SCHEMA = "definition user {}\ndefinition document { relation viewer: user }";

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    return isLatchError(error) ? `${error.code} ${error.message}` : String(error);
  }
}

describe("list limits on a gRPC server", () => {
  it("refuses ListSignals and ListApprovals over the bound, naming the field and the bound", async () => {
    await grpcServer({ schema: SCHEMA, approvals: { pollIntervalMs: 60_000 } }, async (client) => {
      for (const call of [
        client.listSignals({ limit: MAX_LIST_ROWS + 1 }),
        client.listApprovals({ limit: 4_000_000_000 }),
      ]) {
        const answer = await codeOf(call);
        expect(answer).toMatch(/^request\/invalid-argument /);
        expect(answer).toContain("limit");
        expect(answer).toContain(String(MAX_LIST_ROWS));
      }
    });
  });

  it("answers a limit up to the bound, and the default", async () => {
    await grpcServer({ schema: SCHEMA, approvals: { pollIntervalMs: 60_000 } }, async (client) => {
      expect(await client.listSignals({ limit: MAX_LIST_ROWS })).toEqual([]);
      expect(await client.listApprovals({ limit: MAX_LIST_ROWS })).toEqual([]);
      expect(await client.listSignals()).toEqual([]);
    });
  });
});
