/** `latch signals send|list`, in process against a database file. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signalsCommand } from "../../src/cli/commands/signals.js";
import { createEmbedded } from "../../src/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { runCommand } from "../cli/run-command.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA, type Transmitter } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "latch-signals-cli-"));
const db = join(dir, "latch.db");
let transmitter: Transmitter;
let target: string[];
const signals = (...args: string[]) => runCommand(signalsCommand(), args);

beforeAll(async () => {
  transmitter = await createTransmitter();
  writeFileSync(join(dir, "jwks.json"), JSON.stringify(transmitter.jwks));
  writeFileSync(join(dir, "rules.yaml"), RULES);
  target = [
    "--db",
    db,
    "--ssf-jwks",
    join(dir, "jwks.json"),
    "--ssf-issuer",
    ISSUER,
    "--ssf-audience",
    AUDIENCE,
    "--signal-rules",
    join(dir, "rules.yaml"),
  ];
  const client = await createEmbedded({ database: db, schema: SCHEMA, signals: false });
  await client.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("latch signals (CLI)", () => {
  it("sends a SET, refuses its replay with the code, lists what was done", async () => {
    const file = join(dir, "disabled.jwt");
    writeFileSync(file, await transmitter.sign({ [EVENT_TYPES.accountDisabled]: {} }, { subId: alice }));
    const sent = await signals("send", file, ...target);
    expect(sent.exitCode ?? 0).toBe(0);
    expect(sent.stdout).toContain(`${EVENT_TYPES.accountDisabled}: suspend user:alice`);

    const again = await signals("send", file, ...target);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain("[signal/replayed]");

    const listed = await signals("list", "--db", db, "--json");
    const rows = JSON.parse(listed.stdout) as { jti: string; via: string; effects: unknown[] }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ via: "cli", effects: [{ action: "suspend", subject: "user:alice" }] });
  });

  it("refuses --ssf-jwks without its issuer and audience", async () => {
    const out = await signals(
      "send",
      join(dir, "disabled.jwt"),
      "--db",
      db,
      "--ssf-jwks",
      join(dir, "jwks.json"),
    );
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain("--ssf-jwks, --ssf-issuer and --ssf-audience go together");
  });
});
