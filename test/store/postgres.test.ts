/**
 * The shared store conformance suite on PostgreSQL. Every store the suite asks for lives in a PG
 * schema of its own, dropped when the file ends. Needs LATCH_TEST_POSTGRES_URL (`.ci/run` sets it).
 */
import { afterAll, describe, it } from "vitest";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { PG_SKIP_REASON, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";
import { storeConformance } from "./store.case.js";

if (PG_URL === undefined) {
  console.info(PG_SKIP_REASON);
  describe.skip(PG_SKIP_REASON, () => {
    it("runs the store conformance suite on PostgreSQL", () => undefined);
  });
} else {
  const url = PG_URL;
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());
  storeConformance("postgres", () => createPostgresStore({ url, schema: schemas.next(), pool: { max: 4 } }));
}
