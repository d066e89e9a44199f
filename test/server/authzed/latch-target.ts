/**
 * Latch as the differential test's other side: a real server on loopback (SQLite in memory) called
 * through the official client.
 */
import { startHarness, TOKEN } from "../harness.js";
import { clientTarget, type Target } from "./authzed-target.js";

export async function startLatch(): Promise<Target> {
  const harness = await startHarness();
  const authzed = clientTarget("Latch", harness.server.address, TOKEN);
  return {
    name: "Latch",
    call: (method, request) => authzed.call(method, request),
    async close() {
      await authzed.close();
      await harness.close();
    },
  };
}
