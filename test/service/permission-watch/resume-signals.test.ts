import { afterEach, describe, expect, it } from "vitest";
import { type OpenedLatch, openLatch } from "../../../src/open/index.js";
import type { PermissionEvent } from "../../../src/service/index.js";

// A resumed stream's base is the set at its token: asked with the attributes signals had stored
// then, not today's, or a resource a signal has since put out of reach would never be REMOVED.
const SCHEMA = `
definition user {}
caveat low_risk(risk int) { risk < 3 }
definition doc {
  relation reader: user | user with low_risk
  permission read = reader
}
`;

const request = { resourceType: "doc", permission: "read", subject: { type: "user", id: "alice" } } as const;

let latch: OpenedLatch | undefined;
afterEach(async () => {
  await latch?.close();
  latch = undefined;
});

async function untilSynced(stream: AsyncIterable<PermissionEvent>): Promise<PermissionEvent[]> {
  const events: PermissionEvent[] = [];
  for await (const event of stream) {
    events.push(event);
    if (event.kind === "SYNCED") break;
  }
  return events;
}

async function opened(open: OpenedLatch, after?: string): Promise<PermissionEvent[]> {
  const abort = new AbortController();
  try {
    return await untilSynced(
      open.permissions.watch(after === undefined ? request : { ...request, after }, { signal: abort.signal }),
    );
  } finally {
    abort.abort();
  }
}

const summary = (events: readonly PermissionEvent[]) => events.map((e) => `${e.kind}:${e.resourceId}`);

describe("resuming a WatchPermissions stream after a signal changed attributes", () => {
  it("sends REMOVED for a resource the new attributes put out of reach", async () => {
    const open = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false, signals: {} });
    latch = open;
    let jti = 0;
    const setRisk = (risk: number) =>
      open.store.signals.record(
        { issuer: "test", jti: `j${jti++}`, receivedAt: Date.now(), via: "api", events: [], effects: [] },
        [{ kind: "set-attributes", subject: "user:alice", attributes: { risk } }],
      );
    const reader = (id: string, caveated: boolean) => ({
      operation: "touch" as const,
      relationship: {
        resource: { type: "doc", id },
        relation: "reader",
        subject: { type: "user", id: "alice" },
        ...(caveated ? { caveat: { name: "low_risk" } } : {}),
      },
    });
    await setRisk(1);
    await open.store.write([reader("x", true), reader("y", false)]);
    // The stream sees the attribute once the gate's view has read the signal.
    let first = await opened(open);
    while (!summary(first).includes("ADDED:x")) first = await opened(open);
    expect(summary(first)).toEqual(["ADDED:x", "ADDED:y", "SYNCED:"]);
    const token = first.at(-1)!.token;

    await setRisk(5);
    let fresh = await opened(open);
    while (summary(fresh).includes("ADDED:x")) fresh = await opened(open);
    expect(summary(fresh)).toEqual(["ADDED:y", "SYNCED:"]);

    const resumed = await opened(open, token);
    expect(summary(resumed)).toEqual(["REMOVED:x", "SYNCED:"]);
  });
});
