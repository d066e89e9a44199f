/** A WatchPermissions subscription read one SYNCED at a time, with the set it has built so far. */
import { expect } from "vitest";
import { createClient, type LatchClient } from "../../../src/client/index.js";
import type { OpenedLatch } from "../../../src/open/index.js";
import { createLogger, type RunningServer, startServer } from "../../../src/server/index.js";
import type { PermissionEvent, WatchPermissionsRequest } from "../../../src/service/index.js";
import { lookupSet } from "./history.js";

export class Stream {
  readonly set = new Map<string, string>();
  private readonly events: AsyncIterator<PermissionEvent>;

  constructor(
    readonly request: WatchPermissionsRequest,
    latch: OpenedLatch,
    signal: AbortSignal,
  ) {
    this.events = latch.permissions.watch(request, { signal })[Symbol.asyncIterator]();
  }

  /** The events up to and including the next SYNCED, applied to the set. */
  async next(): Promise<PermissionEvent[]> {
    const out: PermissionEvent[] = [];
    for (;;) {
      const step = await this.events.next();
      if (step.done === true) throw new Error("the stream ended");
      const e = step.value;
      out.push(e);
      if (e.kind === "RESYNC") this.set.clear();
      else if (e.kind === "REMOVED") this.set.delete(e.resourceId);
      else if (e.kind === "ADDED") this.set.set(e.resourceId, "ALLOWED");
      else if (e.kind === "CONDITIONAL") this.set.set(e.resourceId, `CONDITIONAL[${e.missing.join(",")}]`);
      if (e.kind === "SYNCED") return out;
    }
  }

  /** Reads to the next SYNCED and checks the set against LookupResources at its revision. */
  async exact(latch: OpenedLatch): Promise<{ changes: string[]; revision: bigint }> {
    const events = await this.next();
    const synced = events.at(-1)!;
    const entries = [...this.set].map(([k, v]) => `${k}=${v}`).sort();
    expect(entries).toEqual(await lookupSet(latch, this.request, synced.token));
    return {
      changes: events.filter((e) => e.kind !== "SYNCED").map((e) => `${e.kind}:${e.resourceId}`),
      revision: synced.revision,
    };
  }
}

/** Reads events until (and including) the next SYNCED. */
export async function toSynced(events: AsyncIterator<PermissionEvent>): Promise<PermissionEvent[]> {
  const out: PermissionEvent[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done === true) throw new Error("the stream ended");
    out.push(next.value);
    if (next.value.kind === "SYNCED") return out;
  }
}

/** `latch` served over gRPC and Connect (the change feed polled every 10 ms), and a client of it. */
export async function serveOverTheWire(
  latch: OpenedLatch,
  token: string,
): Promise<{ readonly server: RunningServer; readonly remote: LatchClient }> {
  const server = await startServer({
    store: latch.store,
    engine: latch.engine,
    decider: latch.decider,
    permissions: latch.permissions,
    tokens: [token],
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    logger: createLogger("silent"),
    watchPollMs: 10,
  });
  return { server, remote: createClient({ address: server.address, token }) };
}
