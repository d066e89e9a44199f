/** Embedded mode: a lookup whose deadline passes mid-stream ends with the cursor to resume from. */
import { describe, expect, it } from "vitest";
import { createEmbedded, type LookupResourcesItem } from "../../src/client/index.js";
import { isLatchError, type LatchError } from "../../src/core/index.js";
import { SCHEMA } from "./fixtures.js";

describe("embedded lookups and deadlines", () => {
  it("stops with deadline-exceeded and a cursor after the last item; resuming misses nothing", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA });
    try {
      const ids = Array.from({ length: 50 }, (_, i) => `d${String(i).padStart(2, "0")}`);
      await client.writeRelationships({
        updates: ids.map((id) => ({ operation: "touch", relationship: `document:${id}#viewer@user:reader` })),
      });
      const params = { resourceType: "document", permission: "view", subject: "user:reader" } as const;
      const received: LookupResourcesItem[] = [];
      let error: LatchError | undefined;
      try {
        for await (const r of client.lookupResources(params, { timeoutMs: 1000 })) {
          received.push(r);
          // A slow reader: the deadline passes before it asks for the next result.
          if (received.length === 4) await new Promise((resolve) => setTimeout(resolve, 1500));
        }
      } catch (e) {
        if (!isLatchError(e)) throw e;
        error = e;
      }
      expect(error?.kind).toBe("deadline-exceeded");
      expect(received).toHaveLength(4);
      expect(error?.details.cursor).toBe(received[3]?.cursor);
      const rest: string[] = [];
      for await (const r of client.lookupResources({ ...params, cursor: error!.details.cursor as string }))
        rest.push(r.resourceId);
      expect([...received.map((r) => r.resourceId), ...rest]).toEqual(ids);
    } finally {
      await client.close();
    }
  });
});
