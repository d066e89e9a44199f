/**
 * The store conformance suite on PostgreSQL with every read at a revision routed through the read
 * replica router, the primary standing in for a standby (the same data, so every answer must be
 * the same). The real hot standby is in pg-standby.test.ts.
 */
import { afterAll, describe, it } from "vitest";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";
import { storeConformance } from "./store.case.js";

if (PG_URL === undefined) {
  console.info(PG_SKIP_REASON);
  describe.skip(PG_SKIP_REASON, () => {
    it("runs the store conformance suite through the read replica router", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  storeConformance("postgres with a read replica", () =>
    createPostgresStore({ url, schema: schemas.next(), pool: { max: 4 }, readReplicas: [url] }),
  );
}
