/**
 * PostgreSQL refuses some text SQLite keeps (U+0000, in text and as jsonb's \u0000). What no earlier check catches is the caller's bad input, INVALID_ARGUMENT
 * with the reason, never an internal error. Needs LATCH_TEST_POSTGRES_URL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { rejection } from "./conformance/helpers.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

describe.skipIf(PG_URL === undefined)("PostgreSQL: text it cannot store", () => {
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());

  it("refuses approval rules holding U+0000 as invalid input, keeping nothing", async () => {
    const store = await createPostgresStore({ url: PG_URL!, schema: schemas.next(), pool: { max: 2 } });
    try {
      const error = await rejection(store.approvals.writeRules("rules: [] # a\u0000b", Date.now()));
      expect(error).toMatchObject({ code: "store/unstorable-text", kind: "invalid-argument" });
      expect(error.message).toContain("remove U+0000");
      expect(await store.approvals.writeRules("rules: []", Date.now())).toBe(1);
    } finally {
      await store.close();
    }
  });
});

if (PG_URL === undefined) console.info(PG_SKIP_REASON);
