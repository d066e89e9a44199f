/** `latch check` and `latch lookup resources` with `--on-behalf-of` and `--delegated-only`. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { checkCommand } from "../../../src/cli/commands/check.js";
import { lookupCommand } from "../../../src/cli/commands/lookup.js";
import { createClient, createEmbedded } from "../../../src/client/index.js";
import { runCommand } from "../../cli/run-command.js";
import { type Harness, startHarness, TOKEN } from "../../server/harness.js";

const SCHEMA = `
definition agent {}
definition user {
  relation delegate_to: agent
  permission delegate = delegate_to
}
definition person {
  relation trusts: agent
}
definition document {
  relation viewer: user | person | agent
  permission view = viewer
}`;
const UPDATES = [
  "document:a#viewer@user:alice",
  "document:b#viewer@user:alice",
  "document:b#viewer@agent:bot",
  "document:c#viewer@agent:bot",
  "document:a#viewer@person:pat",
  "user:alice#delegate_to@agent:bot",
  "person:pat#trusts@agent:bot",
].map((relationship) => ({ operation: "touch" as const, relationship }));

const check = (...args: string[]) => runCommand(checkCommand(), args);
const lookup = (...args: string[]) => runCommand(lookupCommand(), ["resources", ...args]);

describe("the CLI's delegation flags", () => {
  let dir: string;
  let db: string;
  let h: Harness;
  let remote: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "latch-delegation-"));
    db = join(dir, "latch.db");
    const embedded = await createEmbedded({ database: db, schema: SCHEMA });
    await embedded.writeRelationships({ updates: UPDATES });
    await embedded.close();
    h = await startHarness();
    remote = ["--address", h.server.address, "--token", TOKEN];
    const client = createClient({ address: h.server.address, token: TOKEN });
    await client.writeSchema(SCHEMA);
    await client.writeRelationships({ updates: UPDATES });
    await client.close();
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    process.exitCode = 0;
  });

  for (const where of ["in process", "against a server"] as const) {
    const target = () => (where === "in process" ? ["--db", db] : remote);
    it(`check and lookup resources ${where}`, async () => {
      const asAlice = ["--on-behalf-of", "user:alice"];
      expect((await check("document:c", "view", "agent:bot", ...target())).stdout).toBe("allowed\n");
      expect((await check("document:c", "view", "agent:bot", ...asAlice, ...target())).stdout).toBe(
        "denied\n",
      );
      expect((await check("document:b", "view", "agent:bot", ...asAlice, ...target())).stdout).toBe(
        "allowed\n",
      );
      expect(
        (await check("document:a", "view", "agent:bot", ...asAlice, "--delegated-only", ...target())).stdout,
      ).toBe("allowed\n");
      expect((await lookup("document", "view", "agent:bot", ...asAlice, ...target())).stdout).toBe(
        "b allowed\n",
      );
      expect(
        (await lookup("document", "view", "agent:bot", ...asAlice, "--delegated-only", ...target())).stdout,
      ).toBe("a allowed\nb allowed\n");
      const refused = await check(
        "document:a",
        "view",
        "agent:bot",
        "--on-behalf-of",
        "person:pat",
        "--json",
        ...target(),
      );
      expect(refused.exitCode).toBe(1);
      expect(refused.stdout + refused.stderr).toContain("delegation/no-delegation-permission");
    });
  }

  it("names the delegation permission per type in process", async () => {
    const out = await check(
      "document:a",
      "view",
      "agent:bot",
      "--on-behalf-of",
      "person:pat",
      "--delegated-only",
      "--delegation-permission",
      "person=trusts",
      "--db",
      db,
    );
    expect(out.stdout).toBe("allowed\n");
  });

  it("refuses --delegated-only without a chain", async () => {
    const out = await check("document:a", "view", "agent:bot", "--delegated-only", "--db", db);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("--delegated-only needs --on-behalf-of");
  });
});
