/** Read paging, export batches and the revision a read runs at, on a real store. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Relationship } from "../../src/core/index.js";
import { exportBatches, PAGE_SIZE, readRelationshipPages, readRevision } from "../../src/service/index.js";
import { latestReader, type Store } from "../../src/store/index.js";
import { createSqliteStore } from "../../src/store/sqlite/index.js";

const SCHEMA = "definition user {}\ndefinition document { relation viewer: user }";

function viewer(i: number): Relationship {
  return {
    resource: { type: "document", id: `d${i}` },
    relation: "viewer",
    subject: { type: "user", id: "u" },
  };
}

let store: Store;
beforeEach(async () => {
  store = await createSqliteStore({ path: ":memory:" });
  await store.writeSchema(SCHEMA);
});
afterEach(() => store.close());

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

describe("readRevision", () => {
  it("reads the current revision without a consistency, and a token's own revision", async () => {
    const revision = await store.write([{ operation: "touch", relationship: viewer(1) }]);
    expect(await readRevision(store, undefined)).toBe(revision);
    const token = store.encodeRevision(revision);
    expect(await readRevision(store, { kind: "at-exact-snapshot", token })).toBe(revision);
    expect(await readRevision(store, { kind: "at-least-as-fresh", token })).toBe(revision);
  });

  it("refuses a token the store does not reach in time, as checks do", async () => {
    const ahead = store.encodeRevision((await store.currentRevision()) + 5n);
    for (const kind of ["at-exact-snapshot", "at-least-as-fresh"] as const) {
      await expect(readRevision(store, { kind, token: ahead }, undefined, 1)).rejects.toMatchObject({
        code: "revision/not-reached",
        kind: "failed-precondition",
      });
    }
  });

  it("waits for a token ahead of the store until the write it stands for lands", async () => {
    const next = (await store.currentRevision()) + 1n;
    const token = store.encodeRevision(next);
    const waiting = readRevision(store, { kind: "at-least-as-fresh", token });
    const written = await store.write([{ operation: "touch", relationship: viewer(1) }]);
    expect(written).toBe(next);
    expect(await waiting).toBe(next);
  });

  it("stops waiting when the request is aborted, with a deadline error naming the revision", async () => {
    const ahead = (await store.currentRevision()) + 1n;
    const signal = { aborted: true };
    const error = await readRevision(
      store,
      { kind: "at-exact-snapshot", token: store.encodeRevision(ahead) },
      signal,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "request/deadline-exceeded", kind: "deadline-exceeded" });
    expect(String((error as Error).message)).toContain(`revision ${ahead}`);
  });
});

describe("readRelationshipPages", () => {
  it("pages through everything at one revision, with a cursor on all but the last page", async () => {
    const n = PAGE_SIZE + 5;
    await store.importRelationships(
      (async function* () {
        for (let i = 0; i < n; i++) yield viewer(i);
      })(),
    );
    const revision = await store.currentRevision();
    await store.write([{ operation: "touch", relationship: viewer(n) }]);
    const pages = await collect(readRelationshipPages(store.at(revision), { resourceType: "document" }, {}));
    expect(pages.map((p) => p.relationships.length)).toEqual([PAGE_SIZE, 5]);
    expect(pages[0]!.cursor).toBeDefined();
    expect(pages[1]!.cursor).toBeUndefined();
  });

  it("stops at the limit and resumes from a cursor", async () => {
    await store.write([1, 2, 3].map((i) => ({ operation: "touch" as const, relationship: viewer(i) })));
    const revision = await store.currentRevision();
    const [first] = await collect(
      readRelationshipPages(store.at(revision), { resourceType: "document" }, { limit: 2 }),
    );
    expect(first!.relationships).toHaveLength(2);
    const rest = await collect(
      readRelationshipPages(store.at(revision), { resourceType: "document" }, { cursor: first!.cursor! }),
    );
    expect(rest.flatMap((p) => p.relationships.map((r) => r.resource.id))).toEqual(["d3"]);
  });

  it("throws the signal's reason, or ends quietly, as asked", async () => {
    const revision = await store.currentRevision();
    const aborted = AbortSignal.abort(new Error("gone"));
    const filter = { resourceType: "document" };
    await expect(
      collect(readRelationshipPages(store.at(revision), filter, { signal: aborted })),
    ).rejects.toThrow("gone");
    expect(
      await collect(readRelationshipPages(store.at(revision), filter, { signal: aborted, onAbort: "end" })),
    ).toEqual([]);
  });
});

describe("exportBatches", () => {
  it("yields one empty batch for an empty store, so the caller still learns the revision", async () => {
    expect(await collect(exportBatches(await latestReader(store)))).toEqual([[]]);
  });
});
