/**
 * The decision log is tamper-evident: random edits, deletions, reorderings and truncations made
 * with raw SQL on the backing tables are all caught by verify, which names the first bad record;
 * random retention keeps verify passing; two PostgreSQL stores appending to one database at once
 * keep one valid chain.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, chainHash, type Store } from "../../src/store/index.js";
import { createPostgresStore } from "../../src/store/postgres/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { propertyRuns } from "../engine/random-scenarios.js";
import { decision, decisions } from "./conformance/decisions.js";
import { admin, PG_URL, SchemaTracker } from "./fixtures/pg-setup.js";

const RECORDS = 35;
const EVERY = 10;
const TABLES = ["decisions", "decision_checkpoints", "decision_head"];

/** Raw SQL on a store's backing tables: `{t}` stands for a table's qualified name prefix. */
interface Backend {
  readonly store: Store;
  exec(sql: string, params?: unknown[]): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<unknown[][]>;
  /** `{p}` in SQL is replaced by the schema prefix (`"schema".` on PostgreSQL, nothing on SQLite). */
  readonly prefix: string;
  close(): Promise<void>;
}

type Tamper =
  | { kind: "edit"; seq: number }
  | { kind: "edit-rehash"; seq: number }
  | { kind: "edit-subject"; seq: number }
  | { kind: "delete"; seq: number }
  | { kind: "delete-range"; seq: number; count: number }
  | { kind: "swap"; seq: number; other: number }
  | { kind: "truncate"; seq: number };

const seqArb = fc.integer({ min: 1, max: RECORDS });
const tamperArb: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ kind: fc.constant("edit" as const), seq: seqArb }),
  fc.record({ kind: fc.constant("edit-rehash" as const), seq: seqArb }),
  fc.record({ kind: fc.constant("edit-subject" as const), seq: seqArb }),
  fc.record({ kind: fc.constant("delete" as const), seq: seqArb }),
  fc.record({
    kind: fc.constant("delete-range" as const),
    seq: seqArb,
    count: fc.integer({ min: 2, max: 12 }),
  }),
  fc
    .tuple(seqArb, seqArb)
    .filter(([a, b]) => a !== b)
    .map(([a, b]) => ({ kind: "swap" as const, seq: Math.min(a, b), other: Math.max(a, b) })),
  fc.record({ kind: fc.constant("truncate" as const), seq: seqArb }),
);

/** Applies the tamper; returns the seqs verify may name as the first bad record. */
async function apply(b: Backend, t: Tamper): Promise<number[]> {
  const p = b.prefix;
  const row = async (seq: number) =>
    (await b.query(`SELECT body, prev_hash FROM ${p}decisions WHERE seq = ${seq}`))[0]!;
  switch (t.kind) {
    case "edit": {
      const [body] = await row(t.seq);
      const edited = (body as string).replace(/"answer":"[A-Z]+"/, (m) =>
        m.includes("DENIED") ? '"answer":"ALLOWED"' : '"answer":"DENIED"',
      );
      await b.exec(`UPDATE ${p}decisions SET body = $1 WHERE seq = ${t.seq}`, [edited]);
      return [t.seq];
    }
    case "edit-rehash": {
      // An attacker who knows the hash function but not the store's secret.
      const [body, prev] = await row(t.seq);
      const record = { ...JSON.parse(body as string), permission: "cancel" };
      const edited = canonicalJson(record);
      const hash = chainHash(t.seq, prev as string, edited);
      await b.exec(`UPDATE ${p}decisions SET body = $1, hash = $2 WHERE seq = ${t.seq}`, [edited, hash]);
      return [t.seq, t.seq + 1];
    }
    case "edit-subject":
      await b.exec(`UPDATE ${p}decisions SET subject = 'user:mallory' WHERE seq = ${t.seq}`);
      return [t.seq];
    case "delete":
      await b.exec(`DELETE FROM ${p}decisions WHERE seq = ${t.seq}`);
      return [t.seq];
    case "delete-range":
      await b.exec(`DELETE FROM ${p}decisions WHERE seq >= ${t.seq} AND seq < ${t.seq + t.count}`);
      return [t.seq];
    case "swap":
      await b.exec(`UPDATE ${p}decisions SET seq = -1 WHERE seq = ${t.seq}`);
      await b.exec(`UPDATE ${p}decisions SET seq = ${t.seq} WHERE seq = ${t.other}`);
      await b.exec(`UPDATE ${p}decisions SET seq = ${t.other} WHERE seq = -1`);
      return [t.seq];
    case "truncate":
      await b.exec(`DELETE FROM ${p}decisions WHERE seq >= ${t.seq}`);
      return [t.seq];
  }
}

async function snapshot(b: Backend): Promise<void> {
  for (const table of TABLES) {
    await b.exec(`DROP TABLE IF EXISTS ${b.prefix}${table}_kept`);
    await b.exec(`CREATE TABLE ${b.prefix}${table}_kept AS SELECT * FROM ${b.prefix}${table}`);
  }
}

async function restore(b: Backend): Promise<void> {
  for (const table of TABLES) {
    await b.exec(`DELETE FROM ${b.prefix}${table}`);
    await b.exec(`INSERT INTO ${b.prefix}${table} SELECT * FROM ${b.prefix}${table}_kept`);
  }
}

function tamperCases(name: string, open: () => Promise<Backend>, runs: number): void {
  describe(`decision log tampering: ${name}`, () => {
    let b: Backend;
    beforeAll(async () => {
      b = await open();
      await b.store.decisions.append(decisions(1, RECORDS + 1));
      await snapshot(b);
    });
    afterAll(() => b.close());

    it("starts from a chain that verifies", async () => {
      expect(await b.store.decisions.verify()).toMatchObject({ ok: true, records: RECORDS });
      expect((await b.store.decisions.checkpoints()).map((c) => c.seq)).toEqual([10, 20, 30]);
    });

    it("detects every random edit, deletion, reordering and truncation, naming the first bad record", async () => {
      await fc.assert(
        fc.asyncProperty(tamperArb, async (tamper) => {
          await restore(b);
          const firstBad = await apply(b, tamper);
          const report = await b.store.decisions.verify();
          expect(report.ok, JSON.stringify(tamper)).toBe(false);
          expect(firstBad, `${JSON.stringify(tamper)}: ${report.problem?.message}`).toContain(
            report.problem?.seq,
          );
        }),
        propertyRuns(runs),
      );
      await restore(b);
      expect((await b.store.decisions.verify()).ok).toBe(true);
    });

    it("detects a forged checkpoint or head", async () => {
      await restore(b);
      await b.exec(`UPDATE ${b.prefix}decision_checkpoints SET hash = '${"1".repeat(64)}' WHERE seq = 20`);
      expect((await b.store.decisions.verify()).problem).toMatchObject({ seq: 20, kind: "bad-checkpoint" });
      await restore(b);
      // Truncating the tail and moving the head back to the new end: the head's signature fails.
      await b.exec(`DELETE FROM ${b.prefix}decisions WHERE seq > 32`);
      await b.exec(`UPDATE ${b.prefix}decision_head SET seq = 32`);
      expect((await b.store.decisions.verify()).problem).toMatchObject({ kind: "bad-head" });
      await restore(b);
    });

    it("keeps verify passing through random retention", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(fc.integer({ min: 0, max: RECORDS + 5 }), { nil: undefined }),
          fc.option(fc.integer({ min: 0, max: RECORDS + 5 }), { nil: undefined }),
          async (keepLast, ageSeconds) => {
            await restore(b);
            const before =
              ageSeconds === undefined ? undefined : new Date(Date.parse(decision(ageSeconds).time));
            const deleted = await b.store.decisions.prune({
              ...(keepLast === undefined ? {} : { keepLast }),
              ...(before === undefined ? {} : { before }),
            });
            expect(deleted % EVERY).toBe(0);
            const report = await b.store.decisions.verify();
            expect(report, JSON.stringify({ keepLast, ageSeconds })).toMatchObject({
              ok: true,
              records: RECORDS - deleted,
            });
            if (keepLast !== undefined)
              expect(report.records).toBeGreaterThanOrEqual(Math.min(keepLast, RECORDS));
          },
        ),
        propertyRuns(runs),
      );
      await restore(b);
    });

    // Last: the store remembers the highest head it has seen, which no restore takes back.
    it("detects an older signed head put back over a truncated end, and appends nothing past it", async () => {
      await restore(b);
      // Anyone who can read the tables can keep a copy of the head row: it needs no secret.
      const [kept] = await b.query(`SELECT seq, hash, floor, mac FROM ${b.prefix}decision_head`);
      await b.store.decisions.append(decisions(RECORDS + 1, RECORDS + 11));
      expect(await b.store.decisions.verify()).toMatchObject({ ok: true, records: RECORDS + 10 });
      await b.exec(`DELETE FROM ${b.prefix}decisions WHERE seq > ${RECORDS}`);
      await b.exec(`DELETE FROM ${b.prefix}decision_checkpoints WHERE seq > ${RECORDS}`);
      await b.exec(`UPDATE ${b.prefix}decision_head SET seq = $1, hash = $2, floor = $3, mac = $4`, kept);
      expect((await b.store.decisions.verify()).problem).toMatchObject({
        seq: RECORDS + 1,
        kind: "truncated",
      });
      // Appending would sign the old head again and make the gap permanent.
      await expect(b.store.decisions.append(decisions(RECORDS + 11, RECORDS + 12))).rejects.toMatchObject({
        code: "store/corrupt",
      });
      expect(Number((await b.query(`SELECT max(seq) FROM ${b.prefix}decisions`))[0]![0])).toBe(RECORDS);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "latch-tamper-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pageRows`: verify's page (and checkpoint page) size; 2 puts every tamper across pages. */
const sqliteBackend = (name: string, pageRows?: number) => async (): Promise<Backend> => {
  const path = join(dir, `${name}.db`);
  const store = await createSqliteStore({
    path,
    decisionCheckpointEvery: EVERY,
    ...(pageRows === undefined ? {} : { decisionLongReads: { verifyPageRows: pageRows } }),
  });
  const raw = new Database(path);
  // The SQL numbers its parameters in order, so SQLite takes them as plain ?.
  const sql = (text: string) => text.replace(/\$\d+/g, "?");
  return {
    store,
    prefix: "",
    async exec(text, params = []) {
      if (params.length === 0) raw.exec(sql(text));
      else raw.prepare(sql(text)).run(...params);
    },
    async query(text, params = []) {
      return raw
        .prepare(sql(text))
        .raw()
        .all(...params) as unknown[][];
    },
    async close() {
      raw.close();
      await store.close();
    },
  };
};

tamperCases("sqlite", sqliteBackend("tamper"), 60);
tamperCases("sqlite, verify in pages of 2", sqliteBackend("tamper-paged", 2), 40);

describe.skipIf(PG_URL === undefined)("decision log on PostgreSQL", () => {
  const schemas = new SchemaTracker();
  afterAll(() => schemas.dropAll());

  tamperCases(
    "postgres",
    async () => {
      const schema = schemas.next();
      const store = await createPostgresStore({
        url: PG_URL as string,
        schema,
        decisionCheckpointEvery: EVERY,
        pool: { max: 2 },
      });
      const pg = (await import("pg")).default;
      const raw = new pg.Client({ connectionString: PG_URL, application_name: "latch-test-tamper" });
      await raw.connect();
      return {
        store,
        prefix: `"${schema}".`,
        async exec(text, params = []) {
          await raw.query(text, params);
        },
        async query(text, params = []) {
          return (await raw.query({ text, values: params, rowMode: "array" })).rows as unknown[][];
        },
        async close() {
          await raw.end();
          await store.close();
        },
      };
    },
    25,
  );

  it("keeps one valid chain when two stores on one database append at once", async () => {
    const schema = schemas.next();
    const url = PG_URL as string;
    const a = await createPostgresStore({ url, schema, decisionCheckpointEvery: EVERY, pool: { max: 3 } });
    const b = await createPostgresStore({ url, schema, decisionCheckpointEvery: EVERY, pool: { max: 3 } });
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? a : b).decisions.append(decisions(i * 3 + 1, i * 3 + 4)),
        ),
      );
      const all = await a.decisions.read({ limit: 1_000 });
      expect(all.map((d) => d.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      expect(new Set(all.map((d) => d.record.requestId)).size).toBe(120);
      expect(await b.decisions.verify()).toMatchObject({ ok: true, records: 120 });
      expect((await a.decisions.checkpoints()).map((c) => c.seq)).toEqual(
        Array.from({ length: 12 }, (_, i) => (i + 1) * 10),
      );
    } finally {
      await a.close();
      await b.close();
    }
    await admin(async () => undefined);
  });
});
