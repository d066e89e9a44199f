/**
 * `npx tsx bench/watch-permissions-resume.ts [--size 20000] [--rounds 6] [--in-process]`: what a reconnecting
 * WatchPermissions subscriber costs, resumed after its last token against subscribing afresh.
 * One user may read `size` documents (SQLite in memory); one subscriber keeps the set live (as on
 * a server with other subscribers); two writes change it (one revoke, one grant). Then, alternating
 * `rounds` times, over gRPC on loopback: a fresh subscription read to its first SYNCED, and one
 * resumed after the token before the two writes (`--in-process`: through
 * `openLatch().permissions.watch`, no wire). Reports the events each received and the process CPU
 * (client and server in this one process) until that SYNCED.
 * Numbers from a shared, loaded machine are not reliable: label them so, or measure on a quiet one.
 */
import { parseArgs } from "node:util";
import { createClient, type LatchClient } from "../src/client/index.js";
import { openLatch } from "../src/open/index.js";
import { createLogger, startServer } from "../src/server/index.js";

const { values: args } = parseArgs({
  options: {
    size: { type: "string", default: "20000" },
    rounds: { type: "string", default: "6" },
    "in-process": { type: "boolean", default: false },
  },
});
const SIZE = Number(args.size);
const ROUNDS = Number(args.rounds);
const SCHEMA = `definition user {}
definition document {
  relation viewer: user
  permission read = viewer
}`;
const TOKEN = "resume-bench-token-0123456789abcdef";
const PARAMS = { resourceType: "document", permission: "read", subject: "user:alice" } as const;

const viewer = (id: string) => ({
  resource: { type: "document", id },
  relation: "viewer",
  subject: { type: "user", id: "alice" },
});

type Watch = (after: string | undefined, signal: AbortSignal) => AsyncIterable<{ readonly kind: string }>;

/** Events and process CPU (ms) from the call to its first SYNCED. */
async function opening(watch: Watch, after?: string): Promise<{ events: number; cpuMs: number }> {
  const controller = new AbortController();
  const start = process.cpuUsage();
  let events = 0;
  for await (const e of watch(after, controller.signal)) {
    events++;
    if (e.kind === "SYNCED") break;
  }
  const used = process.cpuUsage(start);
  controller.abort();
  return { events, cpuMs: (used.user + used.system) / 1000 };
}

const latch = await openLatch({ database: ":memory:", schema: SCHEMA, approvals: false });
for (let i = 0; i < SIZE; i += 1000) {
  const ids = Array.from({ length: Math.min(1000, SIZE - i) }, (_, j) => `d${i + j}`);
  await latch.store.write(ids.map((id) => ({ operation: "touch" as const, relationship: viewer(id) })));
}
const server = await startServer({
  store: latch.store,
  engine: latch.engine,
  decider: latch.decider,
  permissions: latch.permissions,
  tokens: [TOKEN],
  listen: "127.0.0.1:0",
  logger: createLogger("silent"),
});
const client: LatchClient = createClient({ address: server.address, token: TOKEN });
const alice = { type: "user", id: "alice" };
const watch: Watch = args["in-process"]
  ? (after, signal) =>
      latch.permissions.watch(
        { ...PARAMS, subject: alice, ...(after === undefined ? {} : { after }) },
        { signal },
      )
  : (after, signal) =>
      client.watchPermissions(after === undefined ? PARAMS : { ...PARAMS, after }, { signal });
const keeper = new AbortController();
const kept = watch(undefined, keeper.signal)[Symbol.asyncIterator]();
for (let e = await kept.next(); e.value?.kind !== "SYNCED"; e = await kept.next());
const token = latch.store.encodeRevision(await latch.store.currentRevision());
await latch.store.write([{ operation: "delete", relationship: viewer("d5") }]);
await latch.store.write([{ operation: "touch", relationship: viewer("extra") }]);
for (let round = 0; round < ROUNDS; round++) {
  const fresh = await opening(watch);
  const resumed = await opening(watch, token);
  console.log(
    `round ${round}: fresh ${fresh.events} events, ${fresh.cpuMs.toFixed(1)} ms CPU | resumed ${resumed.events} events, ${resumed.cpuMs.toFixed(1)} ms CPU`,
  );
}
keeper.abort();
await client.close();
await server.shutdown(1000);
await latch.close();
