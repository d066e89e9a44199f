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
const dir = mkdtempSync(join(tmpdir(), "latch-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sqlite crash safety", () => {
  it("keeps every acknowledged write after the writer is killed with SIGKILL", async () => {
    const path = join(dir, "crash.db");
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "fixtures/crash-writer.ts"), path], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acknowledged: { index: number; revision: bigint }[] = [];
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((done) =>
      child.on("exit", (_code, signal) => done(signal)),
    );
    await new Promise<void>((done, fail) => {
      let buffer = "";
      child.stdout.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) {
          const [index, revision] = line.split(" ");
          acknowledged.push({ index: Number(index), revision: BigInt(revision!) });
        }
        if (acknowledged.length >= 300 && child.exitCode === null && !child.killed) {
          child.kill("SIGKILL");
          done();
        }
      });
      child.on("exit", () => fail(new Error(`writer exited early: ${stderr}`)));
    });
    expect(await exited).toBe("SIGKILL");
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);

    const store = await createSqliteStore({ path });
    try {
      const present = new Set(
        (
          await (await latestReader(store)).readRelationships({ resourceType: "document", relation: "owner" })
        ).relationships.map((r) => r.resource.id),
      );
      const missing = acknowledged.filter((a) => !present.has(`c${a.index}`));
      expect(missing).toEqual([]);
      const last = acknowledged[acknowledged.length - 1]!;
      expect(await store.currentRevision()).toBeGreaterThanOrEqual(last.revision);
      // Each acknowledged revision still shows exactly what it wrote.
      const at = await store
        .at(last.revision)
        .readRelationships({ resourceType: "document", resourceId: `c${last.index}` });
      expect(at.relationships).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
