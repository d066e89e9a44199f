/**
 * Latch as the differential test's other side: a real server on loopback (SQLite in memory) called
 * through the official client. Until SchemaService lands on this branch (it answers UNIMPLEMENTED
 * here), WriteSchema goes through Latch's own latch.v1 client, with its status code kept.
 */
import { v1 } from "@authzed/authzed-node";
import { createClient, RemoteError } from "../../../src/client/index.js";
import { startHarness, TOKEN } from "../harness.js";
import { clientTarget, type Target } from "./authzed-target.js";

/** The reason given to a WriteSchema failure answered through latch.v1 (its code is latch.v1's). */
export const LATCH_V1_FALLBACK = "LATCH_V1_FALLBACK";

export async function startLatch(): Promise<Target> {
  const harness = await startHarness();
  const authzed = clientTarget("Latch", harness.server.address, TOKEN);
  const own = createClient({ address: harness.server.address, token: TOKEN });
  return {
    name: "Latch",
    async call(method, request) {
      const answer = await authzed.call(method, request);
      if (method !== "writeSchema" || answer.ok || answer.code !== 12) return answer;
      try {
        await own.writeSchema((request as v1.WriteSchemaRequest).schema);
        return { ok: true, value: v1.WriteSchemaResponse.create({}) as never };
      } catch (error) {
        if (!(error instanceof RemoteError)) throw error;
        return { ok: false, code: error.status, reason: LATCH_V1_FALLBACK, message: error.message };
      }
    },
    async close() {
      await own.close();
      await authzed.close();
      await harness.close();
    },
  };
}
