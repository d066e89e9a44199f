/** `latch lookup resources|subjects`, against a server and on a database, output captured. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkCommand } from "../../src/cli/commands/check.js";
import { lookupCommand } from "../../src/cli/commands/lookup.js";
import { createClient, createEmbedded } from "../../src/client/index.js";
import { runCommand } from "../cli/run-command.js";
import { RELATIONSHIPS, SCHEMA } from "../client/fixtures.js";
import { type Harness, startHarness, TOKEN } from "./harness.js";

const run = runCommand;

const lookup = (...args: string[]) => run(lookupCommand(), args);
const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("latch lookup against a server", () => {
  let h: Harness;
  let target: string[];

  beforeAll(async () => {
    h = await startHarness();
    target = ["--address", h.server.address, "--token", TOKEN];
    const client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({
      updates: [
        ...RELATIONSHIPS,
        "document:public#banned@user:bob",
        ...Array.from({ length: 12 }, (_, i) => `document:n${String(i).padStart(2, "0")}#viewer@user:nia`),
      ].map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(async () => {
    await h.close();
  });

  afterEach(() => {
    process.exitCode = 0;
  });

  it("prints one resource per line with its state, as check answers it", async () => {
    const carol = await lookup("resources", "document", "view", "user:carol", ...target);
    expect(carol).toEqual({
      stdout: "public allowed\nsecret conditional (missing: level)\n",
      stderr: "",
      exitCode: 0,
    });
    // Each state is the one `latch check` prints for that resource.
    for (const line of lines(carol.stdout)) {
      const [id, state] = line.split(" ") as [string, string];
      const check = await run(checkCommand(), [`document:${id}`, "view", "user:carol", ...target]);
      expect(check.stdout.split(" ")[0]?.trim()).toBe(state);
    }
    const decided = await lookup(
      "resources",
      "document",
      "view",
      "user:carol",
      "--context",
      '{"level": 1}',
      ...target,
    );
    expect(decided.stdout).toBe("public allowed\nsecret allowed\n");
  });

  it("pages with --limit and --cursor, with no duplicates and no gaps", async () => {
    const all = lines((await lookup("resources", "document", "view", "user:nia", ...target)).stdout);
    expect(all).toHaveLength(13);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const out = await lookup(
        "resources",
        "document",
        "view",
        "user:nia",
        "--limit",
        "5",
        "--json",
        ...(cursor === undefined ? [] : ["--cursor", cursor]),
        ...target,
      );
      expect(out.exitCode).toBe(0);
      const items = lines(out.stdout).map((l) => JSON.parse(l) as { resourceId: string; cursor: string });
      if (items.length === 0) break;
      expect(items.length).toBeLessThanOrEqual(5);
      seen.push(...items.map((i) => `${i.resourceId} allowed`));
      cursor = items.at(-1)!.cursor;
    }
    expect(seen).toEqual(all);
  });

  it("prints subjects, a wildcard as the wildcard except its exclusions", async () => {
    const pub = await lookup("subjects", "document:public", "view", "user", ...target);
    expect(pub).toEqual({ stdout: "user:* except user:bob, user:mallory\n", stderr: "", exitCode: 0 });
    const secret = await lookup("subjects", "document:secret", "view", "user", ...target);
    expect(secret.stdout).toBe("user:carol conditional (missing: level)\n");
    const sets = await lookup("subjects", "folder:plans", "view", "group#member", ...target);
    expect(sets.stdout).toBe("group:eng#member allowed\n");
  });

  it("reports errors with exit code 1", async () => {
    const unknown = await lookup("resources", "document", "nosuch", "user:carol", ...target);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toMatch(/nosuch/);
    const usage = await lookup("subjects", "document:q3", "view", "user#", ...target);
    expect(usage.exitCode).toBe(1);
    const limit = await lookup("resources", "document", "view", "user:carol", "--limit", "0", ...target);
    expect(limit.exitCode).toBe(1);
    expect(limit.stderr).toMatch(/--limit/);
  });
});

describe("latch lookup on a database (--db)", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-lookup-"));
  const db = join(dir, "latch.db");

  beforeAll(async () => {
    const client = await createEmbedded({ database: db, schema: SCHEMA });
    await client.writeRelationships({
      updates: RELATIONSHIPS.map((relationship) => ({ operation: "touch", relationship })),
    });
    await client.close();
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers the same lookups in process", async () => {
    const alice = await lookup("resources", "document", "view", "user:alice", "--db", db);
    expect(alice).toEqual({ stdout: "public allowed\nq3 allowed\n", stderr: "", exitCode: 0 });
    const pub = await lookup("subjects", "document:public", "view", "user", "--db", db, "--json");
    const [item] = lines(pub.stdout).map((l) => JSON.parse(l) as { subjectId: string; excluded: unknown });
    expect(item).toMatchObject({ subjectId: "*", excluded: [{ type: "user", id: "mallory" }] });
  });
});
