/**
 * Paths that meet keep each caveat once: a chain of diamonds (folder f_i inside both l_i and r_i,
 * both inside f_{i+1}) doubles the paths at every level, and with a caveated grant at the top each
 * level's union used to hold the level above twice: 2^20 copies at twenty levels, past the call
 * stack (RangeError) before any answer.
 */
import { describe, expect, it } from "vitest";
import { parseRelationship } from "../../src/core/index.js";
import { createEngine } from "../../src/engine/index.js";
import { createMemoryStore } from "./memory-store.js";

const SCHEMA = `
caveat on_shift(shift bool) {
  shift
}

definition user {}

definition folder {
  relation inside: folder
  relation reader: user with on_shift
  permission read = reader + inside->read
  permission read_everywhere = inside.all(read)
}
`;

function diamonds(levels: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < levels; i++) {
    out.push(`folder:f${i}#inside@folder:l${i}`, `folder:f${i}#inside@folder:r${i}`);
    out.push(`folder:l${i}#inside@folder:f${i + 1}`, `folder:r${i}#inside@folder:f${i + 1}`);
  }
  out.push(`folder:f${levels}#reader@user:u[on_shift]`);
  return out;
}

describe.each([
  ["the batched evaluator", false],
  ["the in-memory walk", true],
])("twenty-four levels of diamonds under one caveated grant, through %s", (_name, snapshots) => {
  it("answer by the caveat, as one level would", async () => {
    const store = await createMemoryStore({ snapshots });
    await store.writeSchema(SCHEMA);
    await store.write(
      diamonds(24).map((text) => ({ operation: "touch" as const, relationship: parseRelationship(text) })),
    );
    const engine = createEngine({ store, quantizationMs: 0, cache: false });
    const check = (permission: string, context: Record<string, unknown>) =>
      engine.check({
        resource: { type: "folder", id: "f0" },
        permission,
        subject: { type: "user", id: "u" },
        context,
        consistency: { kind: "fully-consistent" },
      });
    for (const permission of ["read", "read_everywhere"]) {
      const open = await check(permission, {});
      expect(open.state, permission).toBe("CONDITIONAL");
      expect(open.missing).toEqual(["shift"]);
      expect((await check(permission, { shift: true })).state).toBe("ALLOWED");
      expect((await check(permission, { shift: false })).state).toBe("DENIED");
    }
  });
});
