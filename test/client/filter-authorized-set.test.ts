/**
 * filterAuthorized with a live AuthorizedSet answers exactly what CheckBulk would: a set watched
 * under a caveat context is used only by a filter with the same context.
 */
import { describe, expect, it } from "vitest";
import { createEmbedded, filterAuthorized, watchAuthorizedSet } from "../../src/index.js";

const SCHEMA = `
caveat cleared(clearance int, sensitivity int) { clearance >= sensitivity }
definition user {}
definition document {
  relation viewer: user | user with cleared
  permission read = viewer
}`;

describe("filterAuthorized with a live set watched under a context", () => {
  it("uses the set only for the same context, and otherwise asks CheckBulk", async () => {
    const client = await createEmbedded({ database: ":memory:", schema: SCHEMA, watchPollMs: 5 });
    try {
      await client.writeRelationships({
        updates: [
          { operation: "touch", relationship: 'document:secret#viewer@user:bob[cleared:{"sensitivity":3}]' },
          { operation: "touch", relationship: "document:open#viewer@user:bob" },
        ],
      });
      const set = watchAuthorizedSet(client, {
        resourceType: "document",
        permission: "read",
        subject: "user:bob",
        context: { clearance: 5 },
      });
      await set.ready;
      expect([...set.ids()].sort()).toEqual(["open", "secret"]);
      const items = [{ doc: "document:secret" }, { doc: "document:open" }];
      const filter = (context?: Record<string, unknown>) =>
        filterAuthorized(client, items, {
          subject: "user:bob",
          permission: "read",
          resourceOf: (i) => i.doc,
          authorizedSet: set,
          ...(context === undefined ? {} : { context }),
        });
      // Without a context CheckBulk answers CONDITIONAL for secret: not kept, set or no set.
      expect(await filter()).toEqual([{ doc: "document:open" }]);
      expect(await filter({ clearance: 1 })).toEqual([{ doc: "document:open" }]);
      expect(await filter({ clearance: 5 })).toEqual(items);
      set.close();
    } finally {
      await client.close();
    }
  });
});
