import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { latestReader } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const dir = mkdtempSync(join(tmpdir(), "latch-processes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runWriter(path: string, prefix: string, count: number): Promise<bigint[]> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(here, "fixtures/concurrent-writer.ts"), path, prefix, String(count)],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on("exit", (code) => {
      if (code !== 0) fail(new Error(`writer ${prefix} exited with ${code}: ${err}`));
      else done(out.trim().split("\n").map(BigInt));
    });
  });
}

describe("sqlite: two processes on one file", () => {
  it("serializes concurrent writers: every write lands, each at its own revision", async () => {
    const path = join(dir, "shared.db");
    const setup = await createSqliteStore({ path });
    await setup.writeSchema("definition user {}\n\ndefinition document {\n  relation owner: user\n}\n");
    await setup.close();

    const count = 150;
    const [a, b] = await Promise.all([runWriter(path, "a", count), runWriter(path, "b", count)]);
    expect(a).toHaveLength(count);
    expect(b).toHaveLength(count);
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(all.length);

    const store = await createSqliteStore({ path });
    try {
      const page = await (await latestReader(store)).readRelationships({ resourceType: "document" });
      expect(page.relationships).toHaveLength(2 * count);
      const feed = await store.changesSince(0n, 1_000);
      expect(feed.changes.map((c) => c.revision).sort((x, y) => (x < y ? -1 : 1))).toEqual(
        [...all].sort((x, y) => (x < y ? -1 : 1)),
      );
    } finally {
      await store.close();
    }
  });
});
