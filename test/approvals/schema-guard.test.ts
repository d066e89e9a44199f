/**
 * A schema write that would make the stored approval rules invalid is refused, naming the rule and
 * its line, and leaves the schema as it was; one that keeps them valid is written. Both datastores,
 * and at open (a new schema given to openLatch over stored rules).
 */

import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { type OpenedLatch, type OpenOptions, openLatch } from "../../src/open/index.js";
import { latestReader } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { admin, PG_SKIP_REASON, PG_URL, SchemaTracker, uniqueName } from "../store/fixtures/pg-setup.js";
import { RULES, SCHEMA } from "./fixtures.js";

/** The fixture schema without `permission delete` on database, which rule prod-delete gates. */
const WITHOUT_DELETE = SCHEMA.replace("  permission delete = owner + operator\n", "");
/** The fixture schema with one more relation: the rules stay valid. */
const WIDER = SCHEMA.replace(
  "  relation approver: user\n",
  "  relation approver: user\n  relation auditor: user\n",
);

async function refusal(
  promise: Promise<unknown>,
): Promise<{ code: unknown; message: string; details: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isLatchError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
  return { code: error.code, message: error.message, details: error.details };
}

async function schemaText(latch: OpenedLatch): Promise<string | undefined> {
  return (await (await latestReader(latch.store)).readSchema())?.text;
}

async function story(open: (options: Partial<OpenOptions>) => Promise<OpenedLatch>): Promise<void> {
  const latch = await open({ schema: SCHEMA, approvals: { rules: RULES } });
  try {
    expect(WITHOUT_DELETE).not.toBe(SCHEMA);
    const refused = await refusal(latch.store.writeSchema(WITHOUT_DELETE));
    expect(refused.code).toBe("schema/breaks-approval-rules");
    expect(refused.details).toMatchObject({ rule: "prod-delete", line: 4 });
    expect(refused.message).toContain("rule prod-delete");
    expect(refused.message).toContain("stored approval rules version 1:4");
    expect(await schemaText(latch)).toBe(SCHEMA);

    await latch.store.writeSchema(WIDER);
    expect(await schemaText(latch)).toBe(WIDER);
  } finally {
    await latch.close();
  }
}

describe("schema writes re-validate the stored approval rules", () => {
  it("SQLite: refuses a schema that drops a gated permission, accepts one that keeps it", async () => {
    await story((options) => openLatch({ database: ":memory:", ...options }));
  });

  if (PG_URL === undefined) console.info(PG_SKIP_REASON);
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());

  it.skipIf(PG_URL === undefined)("PostgreSQL: the same, and at open over stored rules", async () => {
    const schema = schemas.next();
    const open = async (options: Partial<OpenOptions>) =>
      openLatch({
        store: await createPostgresStore({ url: PG_URL as string, schema }),
        mirror: false,
        ...options,
      });
    await story(open);
    // Reopened with a schema that breaks the stored rules (and no rules of its own): refused.
    const refused = await refusal(open({ schema: WITHOUT_DELETE }));
    expect(refused.code).toBe("schema/breaks-approval-rules");
    const reopened = await open({});
    try {
      expect(await schemaText(reopened)).toBe(WIDER);
    } finally {
      await reopened.close();
    }
  });

  it.skipIf(PG_URL === undefined)(
    "PostgreSQL: a rules write in flight on another replica is seen by the schema write, not slipped past",
    async () => {
      const schema = schemas.next();
      const name = uniqueName("schema_guard");
      const latch = await openLatch({
        store: await createPostgresStore({ url: PG_URL as string, schema, pool: { applicationName: name } }),
        mirror: false,
        schema: SCHEMA,
        // No rule gates delete yet: WITHOUT_DELETE would be accepted under these.
        approvals: { rules: "rules: []\n" },
      });
      // Another replica's rules write, holding its lock, with a rule that gates delete.
      const other = new pg.Client({ connectionString: PG_URL });
      await other.connect();
      try {
        await other.query("BEGIN");
        await other.query(`LOCK TABLE "${schema}".approval_rules IN EXCLUSIVE MODE`);
        await other.query(
          `INSERT INTO "${schema}".approval_rules (version, text, written_at) VALUES (2, $1, 0)`,
          [RULES],
        );
        const writing = refusal(latch.store.writeSchema(WITHOUT_DELETE));
        // The schema write waits for the rules write's lock, inside its own transaction.
        while (!(await waitsOnLock(name))) await sleep(20);
        await other.query("COMMIT");
        const refused = await writing;
        expect(refused.code).toBe("schema/breaks-approval-rules");
        expect(refused.details).toMatchObject({ rule: "prod-delete" });
        expect(await schemaText(latch)).toBe(SCHEMA);
      } finally {
        await other.end();
        await latch.close();
      }
    },
  );
});

/** Whether a connection named `name` is waiting for a lock. */
function waitsOnLock(name: string): Promise<boolean> {
  return admin(async (client) => {
    const r = await client.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [name],
    );
    return r.rowCount !== null && r.rowCount > 0;
  });
}
