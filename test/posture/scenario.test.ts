/**
 * The seeded scenario (schemas/posture.*): each finding kind occurs exactly where planted, the
 * JSON report equals its golden file, unused grants follow the scripted decision history, and
 * drift compares two reports at two revisions.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { createPostureReport, FINDING_KINDS, type PostureReport } from "../../src/posture/index.js";
import { CONFIG, growGrower, HISTORY, NOW, openScenario, type Scenario, seedScenario } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "latch-posture-scenario-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const path = () => join(dir, `s${files++}.db`);

const GOLDEN = join(import.meta.dirname, "report.golden.json");
/** The golden report, parsed: the file's layout is the formatter's, its content is compared. */
const golden = (): unknown => JSON.parse(readFileSync(GOLDEN, "utf8"));

/** Kind -> the identities it was found on, sorted. */
function where(report: PostureReport): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(FINDING_KINDS.map((k) => [k, []]));
  for (const f of report.findings) out[f.kind]!.push(f.identity);
  for (const list of Object.values(out)) list.sort();
  return out;
}

const PLANTED = {
  "orphan-identity": ["agent:ghostly", "agent:orphan"],
  "owner-lost-access": ["agent:stale"],
  "non-expiring-grant": ["agent:forever"],
  "over-broad-reach": ["agent:wide"],
  "unused-grant": ["agent:idle"],
  drift: ["agent:grower"],
  "risky-delegation": ["agent:helper", "agent:relay"],
};

/** The report at the first revision (kept), then at the second, after grower's growth. */
async function twoReports(
  history = HISTORY,
  open: () => Promise<Scenario> = () => openScenario(path(), history),
) {
  const s = await open();
  try {
    const first = await createPostureReport({
      store: s.store,
      engine: s.engine,
      config: CONFIG,
      now: NOW,
      save: true,
    });
    const second = await growGrower(s.store);
    const later = await createPostureReport({
      store: s.store,
      engine: s.engine,
      config: CONFIG,
      now: NOW,
      save: true,
    });
    return { first: first.report, later: later.report, second, s };
  } finally {
    await s.close();
  }
}

describe("posture on the seeded scenario", () => {
  it("finds each kind exactly where it was planted, and nowhere else", async () => {
    const { first, later } = await twoReports();
    expect(where(later)).toEqual(PLANTED);
    // Before the growth there is nothing to drift from.
    expect(where(first)).toEqual({ ...PLANTED, drift: [] });
    expect(first.drift).toBeNull();
    expect(later.summary.byKind).toEqual(
      Object.fromEntries(Object.entries(PLANTED).map(([k, v]) => [k, v.length])),
    );
  });

  it.skipIf(process.env.LATCH_TEST_POSTGRES_URL === undefined)(
    "finds the same on PostgreSQL, with the same report",
    async () => {
      const { createPostgresStore } = await import("../../src/store/postgres/index.js");
      const schema = `posture_test_${process.pid}_${Date.now().toString(36)}`;
      const url = process.env.LATCH_TEST_POSTGRES_URL!;
      try {
        const { later } = await twoReports(HISTORY, async () =>
          seedScenario(await createPostgresStore({ url, schema })),
        );
        expect(where(later)).toEqual(PLANTED);
        expect(later).toEqual(golden());
      } finally {
        const pg = (await import("pg")).default;
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    },
    60_000,
  );

  it("matches the golden JSON report (UPDATE_GOLDEN=1 rewrites it)", async () => {
    const { later } = await twoReports();
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(GOLDEN, `${JSON.stringify(later, null, 2)}\n`);
    expect(existsSync(GOLDEN), "missing golden file: run with UPDATE_GOLDEN=1, then review it").toBe(true);
    expect(later).toEqual(golden());
  });

  it("carries the relationships behind each finding as evidence", async () => {
    const { later } = await twoReports();
    const find = (kind: string, identity: string) =>
      later.findings.find((f) => f.kind === kind && f.identity === identity)!;
    expect(find("owner-lost-access", "agent:stale").evidence).toContain(
      "document:d3#agent_access@agent:stale[expiration:2030-02-01T00:00:00Z]",
    );
    expect(find("non-expiring-grant", "agent:forever").evidence).toEqual([
      "document:d4#agent_access@agent:forever",
    ]);
    const wide = find("over-broad-reach", "agent:wide");
    expect(wide.severity).toBe("high");
    expect(wide.evidence).toEqual([
      "organization:acme#agent_access@agent:wide[expiration:2030-02-01T00:00:00Z]",
    ]);
    const helper = find("risky-delegation", "agent:helper");
    expect(helper.severity).toBe("high");
    expect(
      helper.evidence.some((e) => e.startsWith("decision ") && e.includes("agent:clean for user:alice")),
    ).toBe(true);
    expect([...find("drift", "agent:grower").evidence].sort()).toEqual([
      "document:d2#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]",
      "document:d3#agent_access@agent:grower[expiration:2030-02-01T00:00:00Z]",
    ]);
    // Reach as the engine computes it: wide's half of the documents, d9 (sensitive) conditional.
    const reach = later.identities.find((i) => i.identity === "agent:wide")!.reach[0]!;
    expect(reach).toEqual({
      permission: "document#agent_read",
      reached: 5,
      conditional: 1,
      sensitive: 1,
      total: 10,
      share: 0.5,
    });
  });

  it("treats an owner the suspension hook names as gone", async () => {
    const s = await openScenario(path());
    try {
      const { report } = await createPostureReport({
        store: s.store,
        engine: s.engine,
        config: CONFIG,
        now: NOW,
        isSuspended: (subject) => subject === "user:carol",
      });
      const orphan = report.findings.find(
        (f) => f.kind === "orphan-identity" && f.identity === "agent:forever",
      );
      expect(orphan?.message).toContain("user:carol is suspended");
    } finally {
      await s.close();
    }
  });
});

describe("unused grants against a scripted decision history", () => {
  async function unused(history: typeof HISTORY): Promise<string[]> {
    const s = await openScenario(path(), history);
    try {
      const { report } = await createPostureReport({
        store: s.store,
        engine: s.engine,
        config: CONFIG,
        now: NOW,
      });
      return where(report)["unused-grant"]!;
    } finally {
      await s.close();
    }
  }

  it("flags only the grant no ALLOWED decision used inside the window", async () => {
    expect(await unused(HISTORY)).toEqual(["agent:idle"]);
  });

  it("flags every granted identity when nothing was decided", async () => {
    expect(await unused([])).toEqual([
      "agent:clean",
      "agent:forever",
      "agent:ghostly",
      "agent:grower",
      "agent:helper",
      "agent:idle",
      "agent:orphan",
      "agent:stale",
      "agent:wide",
    ]);
  });

  it("counts a use inside the window, and not a DENIED decision's witness", async () => {
    const moved = HISTORY.map((d) =>
      d.subject === "agent:idle" && d.answer === "ALLOWED" ? { ...d, time: "2029-12-30T00:00:00.000Z" } : d,
    );
    expect(await unused(moved)).toEqual([]);
    const deniedOnly = HISTORY.filter((d) => !(d.subject === "agent:idle" && d.answer === "ALLOWED"));
    expect(await unused(deniedOnly)).toEqual(["agent:idle"]);
  });
});

describe("drift across two reports at two revisions", () => {
  it("compares with the newest report kept below the revision", async () => {
    const { first, later, s, second } = await twoReports();
    expect(later.drift).toEqual({
      previousRevision: first.revision,
      previousGeneratedAt: NOW.toISOString(),
      changes: [{ identity: "agent:grower", permission: "document#agent_read", before: 1, after: 3 }],
    });
    expect(BigInt(later.revision)).toBe(second);
    expect(s.first.toString()).toBe(first.revision);
  });

  it("reports no drift when reach grew within the allowed share", async () => {
    const s = await openScenario(path());
    try {
      await createPostureReport({ store: s.store, engine: s.engine, config: CONFIG, now: NOW, save: true });
      await growGrower(s.store);
      const lenient = CONFIG.replace("drift_share: 0.25", "drift_share: 2");
      const { report } = await createPostureReport({
        store: s.store,
        engine: s.engine,
        config: lenient,
        now: NOW,
      });
      expect(where(report).drift).toEqual([]);
      expect(report.drift?.changes).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

describe("the configuration", () => {
  async function refused(config: string): Promise<unknown> {
    const s = await openScenario(path(), []);
    try {
      await createPostureReport({ store: s.store, engine: s.engine, config, now: NOW });
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await s.close();
    }
  }

  it.each([
    [
      "identities:\n  robot: { owner: owner }\nreach: [document#agent_read]\n",
      "identities.robot",
      "no definition `robot`",
    ],
    [
      "identities:\n  agent: { owner: boss }\nreach: [document#agent_read]\n",
      "identities.agent.owner",
      "no relation `boss`",
    ],
    [
      "identities:\n  agent: { owner: owner }\nreach: [document#fetch]\n",
      "reach[0]",
      "no relation or permission `fetch`",
    ],
    [
      "identities:\n  agent: { owner: owner }\nreach: [document#agent_read]\ncolour: red\n",
      "(top).colour",
      "unknown key",
    ],
    [
      "identities:\n  agent: { owner: owner }\nreach: [document#agent_read]\nthresholds: { overbroad_share: 3 }\n",
      "thresholds.overbroad_share",
      "from 0 to 1",
    ],
    [
      "identities:\n  agent: { owner: owner }\nreach: [document#agent_read]\nsensitive: { relation: document#viewer, parameter: sensitivity, min: 3 }\n",
      "sensitive.parameter",
      "no caveat allowed",
    ],
    ["reach: [: nope", "(file)", "not valid YAML"],
  ])("refuses a bad configuration with the field and how to fix it", async (config, field, message) => {
    const error = await refused(config);
    expect(isLatchError(error) && error.code).toBe("posture/invalid-config");
    expect((error as { details: { path: string } }).details.path).toBe(field);
    expect((error as Error).message).toContain(message);
  });

  it("reports with the defaults, which fit schemas/rag.zed, when no configuration is given", async () => {
    const { createSqliteStore } = await import("../../src/store/sqlite/index.js");
    const { createEngine } = await import("../../src/engine/index.js");
    const { parse } = await import("yaml");
    const { parseRelationshipsBlock } = await import("../../src/validation/index.js");
    const schemas = join(import.meta.dirname, "../../schemas");
    const store = await createSqliteStore({ path: path() });
    try {
      await store.writeSchema(readFileSync(join(schemas, "rag.zed"), "utf8"));
      const doc = parse(readFileSync(join(schemas, "rag.yaml"), "utf8")) as { relationships: string };
      await store.write(
        parseRelationshipsBlock(doc.relationships).map((relationship) => ({
          operation: "touch",
          relationship,
        })),
      );
      const { report } = await createPostureReport({ store, engine: createEngine({ store }), now: NOW });
      expect(report.identities.map((i) => i.identity)).toEqual([
        "agent:alicebot",
        "agent:alicecal",
        "agent:bobbot",
        "agent:hanabot",
        "agent:mayabot",
        "agent:strangerbot",
      ]);
      // user:stranger owns strangerbot and appears nowhere else.
      expect(where(report)["orphan-identity"]).toEqual(["agent:strangerbot"]);
      expect(report.config.reach).toEqual(["document#retrieve", "document#summarize_any"]);
    } finally {
      await store.close();
    }
  });
});
