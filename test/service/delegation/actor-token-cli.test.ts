/**
 * `latch serve --actor-token-jwks/-issuer/-audience`, and `latch check` / `latch lookup resources`
 * with `--actor-token`, against it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { checkCommand } from "../../../src/cli/commands/check.js";
import { lookupCommand } from "../../../src/cli/commands/lookup.js";
import { serveCommand } from "../../../src/cli/commands/serve.js";
import { createClient } from "../../../src/client/index.js";
import { captureOutput, runCommand } from "../../cli/run-command.js";
import { AGENT_SCHEMA, AUDIENCE, actorKey, ISSUER } from "./actor-fixtures.js";

const TOKEN = "actor-cli-token-0123456789";

describe("latch serve with actor tokens", () => {
  const dir = mkdtempSync(join(tmpdir(), "latch-actor-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    process.exitCode = 0;
  });

  it("refuses a JWKS without its issuer and audience", async () => {
    writeFileSync(join(dir, "empty.json"), JSON.stringify({ keys: [] }));
    const result = await runCommand(serveCommand(), [
      "--listen",
      "127.0.0.1:0",
      "--db",
      join(dir, "x.db"),
      "--token",
      TOKEN,
      "--actor-token-jwks",
      join(dir, "empty.json"),
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "--actor-token-jwks, --actor-token-issuer and --actor-token-audience go together",
    );
  });

  it("verifies the tokens check and lookup resources send", async () => {
    const key = await actorKey();
    writeFileSync(join(dir, "jwks.json"), JSON.stringify(key.jwks));
    writeFileSync(join(dir, "schema.zed"), AGENT_SCHEMA);
    const sign = (act: string) => key.sign({ sub: "user:alice", act: { sub: act } });
    const output = captureOutput();
    const serving = serveCommand().parseAsync(
      [
        ...["--listen", "127.0.0.1:0", "--db", join(dir, "a.db"), "--schema", join(dir, "schema.zed")],
        ...["--token", TOKEN, "--log-level", "silent", "--actor-token-jwks", join(dir, "jwks.json")],
        ...["--actor-token-issuer", ISSUER, "--actor-token-audience", AUDIENCE],
      ],
      { from: "user" },
    );
    let address: string;
    try {
      await vi.waitFor(() => expect(output.stdout).toMatch(/latch listening on \S+/), { timeout: 10_000 });
      address = /latch listening on (\S+)/.exec(output.stdout)![1]!;
    } finally {
      output.restore();
    }
    try {
      const client = createClient({ address, token: TOKEN });
      await client.writeRelationships({
        updates: [
          "document:a#viewer@user:alice",
          "document:b#viewer@user:alice",
          "document:b#viewer@agent:bot",
          "document:c#viewer@agent:bot",
          "user:alice#delegate_to@agent:bot",
        ].map((relationship) => ({ operation: "touch" as const, relationship })),
      });
      await client.close();
      const remote = ["--address", address, "--token", TOKEN];
      const token = await sign("agent:bot");
      const check = (...args: string[]) => runCommand(checkCommand(), args);
      expect((await check("document:c", "view", "agent:bot", ...remote)).stdout).toBe("allowed\n");
      expect((await check("document:c", "view", "agent:bot", "--actor-token", token, ...remote)).stdout).toBe(
        "denied\n",
      );
      expect((await check("document:b", "view", "agent:bot", "--actor-token", token, ...remote)).stdout).toBe(
        "allowed\n",
      );
      // document:a is alice's alone; the agent needs no grant of its own under --delegated-only.
      expect((await check("document:a", "view", "agent:bot", "--actor-token", token, ...remote)).stdout).toBe(
        "denied\n",
      );
      const delegatedOnly = ["--actor-token", token, "--delegated-only", ...remote];
      expect((await check("document:a", "view", "agent:bot", ...delegatedOnly)).stdout).toBe("allowed\n");
      const looked = await runCommand(lookupCommand(), [
        ...["resources", "document", "view", "agent:bot", "--actor-token", token],
        ...remote,
      ]);
      expect(looked.stdout).toBe("b allowed\n");
      const mismatch = await check("document:b", "view", "agent:other", "--actor-token", token, ...remote);
      expect(mismatch.exitCode).toBe(1);
      expect(mismatch.stdout + mismatch.stderr).toContain("delegation/actor-token-mismatch");
    } finally {
      process.emit("SIGTERM", "SIGTERM");
      await serving;
    }
  });
});
