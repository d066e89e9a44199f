/**
 * `latch posture` on a database (in process) and on a server (PostureService over gRPC): the
 * outputs, `--fail-on`, `--save` and drift, and bad input (a clear error, exit 1, a proper status).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { FAIL_ON_EXIT_CODE, postureCommand } from "../../src/cli/commands/posture.js";
import { createClient } from "../../src/client/index.js";
import { isLatchError } from "../../src/core/index.js";
import { openLatch } from "../../src/open/index.js";
import type { PostureReport } from "../../src/posture/index.js";
import { createLogger, startServer } from "../../src/server/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";
import { runCommand } from "../cli/run-command.js";
import { CONFIG, GROWTH, growGrower, openScenario } from "./fixtures.js";

const TOKEN = "posture-cli-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "latch-posture-cli-"));
const CONFIG_FILE = join(dir, "posture.yaml");
writeFileSync(CONFIG_FILE, CONFIG);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  process.exitCode = 0;
  for (const close of cleanup.splice(0).reverse()) await close();
});
let files = 0;

async function scenarioFile(): Promise<string> {
  const path = join(dir, `cli-${files++}.db`);
  const s = await openScenario(path);
  await s.close();
  return path;
}

const posture = (...args: string[]) => runCommand(postureCommand(), args);
const NOW = ["--now", "2030-01-01T00:00:00Z"];

describe("latch posture on a database", () => {
  it("prints the table, the JSON report and writes the HTML page", async () => {
    const db = await scenarioFile();
    const html = join(dir, "page.html");
    const text = await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--html", html);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^SEVERITY +KIND +IDENTITY +FINDING$/m);
    expect(text.stdout).toMatch(/^high +owner-lost-access +agent:stale /m);
    expect(readFileSync(html, "utf8")).toContain('<svg class="reach" data-identity="agent:wide"');

    const json = await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--json");
    const report = JSON.parse(json.stdout) as PostureReport;
    expect(report.format).toBe("latch.posture.v1");
    expect(report.summary.byKind["unused-grant"]).toBe(1);
    expect(report.findings.filter((f) => f.kind === "over-broad-reach").map((f) => f.identity)).toEqual([
      "agent:wide",
    ]);
  });

  it("--fail-on exits 2 when a finding is at least that severe, and 0 otherwise", async () => {
    const db = await scenarioFile();
    const failing = await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--fail-on", "high");
    expect(failing.exitCode).toBe(FAIL_ON_EXIT_CODE);
    expect(failing.stderr).toContain("findings at or above high");
    // Only agent:clean's grant is configured as reach-worthy here, and nothing about it is wrong.
    const quiet = join(dir, "quiet.yaml");
    writeFileSync(quiet, "identities:\n  agent: { owner: owner }\nreach: [document#agent_read]\n");
    const store = await createSqliteStore({ path: db });
    await store.deleteRelationships({ resourceType: "agent" });
    await store.deleteRelationships({ subject: { type: "agent" } });
    await store.close();
    const passing = await posture("--db", db, "--config", quiet, ...NOW, "--fail-on", "low");
    expect(passing.exitCode).toBe(0);
    expect(passing.stdout).toContain("0 identities, 0 findings");
  });

  it("keeps reports with --save, and the next one shows drift", async () => {
    const db = await scenarioFile();
    expect((await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--save")).exitCode).toBe(0);
    const store = await createSqliteStore({ path: db });
    await growGrower(store);
    await store.close();
    const later = JSON.parse(
      (await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--json")).stdout,
    ) as PostureReport;
    expect(later.drift?.changes).toEqual([
      { identity: "agent:grower", permission: "document#agent_read", before: 1, after: 3 },
    ]);
  });

  it("--at reports at an earlier revision, whose reach the later grants do not change", async () => {
    const db = await scenarioFile();
    const store = await createSqliteStore({ path: db });
    const first = store.encodeRevision(await store.currentRevision());
    await growGrower(store);
    await store.close();
    const at = JSON.parse(
      (await posture("--db", db, "--config", CONFIG_FILE, ...NOW, "--at", first, "--json")).stdout,
    ) as PostureReport;
    const grower = at.identities.find((i) => i.identity === "agent:grower")!;
    expect(grower.reach[0]!.reached).toBe(1);
    const bad = await posture("--db", db, "--at", "not-a-token", "--json");
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stderr).error.kind).toBe("invalid-argument");
  });

  it("refuses bad input with a clear message and exit 1", async () => {
    const db = await scenarioFile();
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "identities:\n  robot: { owner: owner }\nreach: [document#read]\n");
    const refused = await posture("--db", db, "--config", bad, "--json");
    expect(refused.exitCode).toBe(1);
    expect(JSON.parse(refused.stderr).error).toMatchObject({
      code: "posture/invalid-config",
      details: { path: "identities.robot" },
    });
    const missing = await posture("--db", db, "--config", join(dir, "nope.yaml"));
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("cannot read the posture configuration");
    const nowhere = await posture("--config", CONFIG_FILE);
    expect(nowhere.exitCode).toBe(1);
    expect(nowhere.stderr).toContain("pass --db FILE or --datastore URL, or --address HOST:PORT");
    const clock = await posture("--db", db, "--now", "yesterday");
    expect(clock.stderr).toContain("not an ISO 8601 instant");
  });
});

describe("latch posture on a server (PostureService)", () => {
  async function serve(): Promise<{ db: string; address: string }> {
    const db = await scenarioFile();
    const latch = await openLatch({ store: await createSqliteStore({ path: db }), mirror: false });
    const server = await startServer({
      store: latch.store,
      engine: latch.engine,
      decider: latch.decider,
      tokens: [`ops=${TOKEN}`],
      listen: "127.0.0.1:0",
      logger: createLogger("silent"),
    });
    cleanup.push(async () => {
      await server.shutdown(1000);
      await latch.close();
    });
    return { db, address: server.address };
  }

  it("reports what the database reports: the same identities and reach at the same revision", async () => {
    const { db, address } = await serve();
    const remote = await posture("--address", address, "--token", TOKEN, "--config", CONFIG_FILE, "--json");
    expect(remote.exitCode).toBe(0);
    const local = await posture("--db", db, "--config", CONFIG_FILE, "--json");
    const [r, l] = [remote, local].map((o) => JSON.parse(o.stdout) as PostureReport);
    expect(r!.revision).toBe(l!.revision);
    expect(r!.identities).toEqual(l!.identities);
    expect(r!.findings.filter((f) => f.kind === "orphan-identity")).toEqual(
      l!.findings.filter((f) => f.kind === "orphan-identity"),
    );
  });

  it("keeps a report with save, and refuses a bad configuration with INVALID_ARGUMENT", async () => {
    const { address } = await serve();
    const client = createClient({ address, token: TOKEN });
    cleanup.push(async () => client.close());
    const first = await client.postureReport({ config: CONFIG, save: true });
    expect(first.drift).toBeNull();
    await client.writeRelationships({
      updates: GROWTH.map((relationship) => ({ operation: "touch" as const, relationship })),
    });
    const second = await client.postureReport({ config: CONFIG });
    expect(second.drift?.previousRevision).toBe(first.revision);
    expect(second.drift?.changes).toEqual([
      { identity: "agent:grower", permission: "document#agent_read", before: 1, after: 3 },
    ]);
    const error = await client
      .postureReport({ config: "identities: {}\nreach: []\n" })
      .catch((e: unknown) => e);
    expect(isLatchError(error) && error.code).toBe("posture/invalid-config");
    expect((error as { kind: string }).kind).toBe("invalid-argument");
    expect((error as Error).message).toContain("identities");
  });
});
