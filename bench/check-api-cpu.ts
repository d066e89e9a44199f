/**
 * What each API adds to a cached Check, in process: the request decoded by the method's codec, the
 * handler (with the engine's cached answer) and the response encoded, for latch.v1 and for
 * authzed.api.v1, in alternating rounds, as CPU time (process.cpuUsage), which a busy machine
 * blurs less than wall time. The rest of a call (grpc-js, HTTP/2, the call wrapper, auth) is the
 * same code for both; `bench/grpc-bench.ts` measures whole calls.
 * Run: `npx tsx bench/check-api-cpu.ts [calls per round]`.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { parseRelationship } from "../src/core/index.js";
import { createEngine } from "../src/engine/index.js";
import * as spice from "../src/gen/authzed/api/v1/permission_service_pb.js";
import * as latch from "../src/gen/latch/v1/permission_service_pb.js";
import { authzedCheckPermissionCodec } from "../src/server/authzed/check-permission-codec.js";
import { decisionHandlers } from "../src/server/authzed/permissions-decisions.js";
import { checkPermissionCodec } from "../src/server/check-permission-codec.js";
import type { CallContext } from "../src/server/grpc-adapter.js";
import type { ServerCodec } from "../src/server/grpc-definition.js";
import { permissionHandlers } from "../src/server/handlers-permission.js";
import { DEFAULT_LIMITS } from "../src/server/limits.js";
import { useNodeTextEncoding } from "../src/server/text-encoding.js";
import { createPermissionWatch } from "../src/service/index.js";
import { createSqliteStore } from "../src/store/sqlite/index.js";

type Handler = (req: never, ctx: CallContext) => Promise<unknown>;

useNodeTextEncoding();
const calls = Number(process.argv[2] ?? 200_000);
const store = await createSqliteStore({ path: ":memory:" });
await store.writeSchema(
  "definition user {}\ndefinition document {\n  relation viewer: user\n  permission view = viewer\n}",
);
await store.write([{ operation: "touch", relationship: parseRelationship("document:d1#viewer@user:alice") }]);
const engine = createEngine({ store });
const init = {
  resource: { objectType: "document", objectId: "d1" },
  permission: "view",
  subject: { object: { objectType: "user", objectId: "alice" } },
};
// What a handler reads of its call: no deadline, no cancellation.
const ctx = {
  aborted: false,
  signal: new AbortController().signal,
  requestOptions: { signal: { aborted: false } },
} as unknown as CallContext;
const cases: readonly [string, ServerCodec, Handler, Buffer][] = [
  [
    "latch.v1",
    checkPermissionCodec,
    permissionHandlers(engine, DEFAULT_LIMITS, engine, {
      permissions: createPermissionWatch({ store, decider: engine }),
      shutdown: new AbortController().signal,
    }).checkPermission as Handler,
    Buffer.from(
      toBinary(latch.CheckPermissionRequestSchema, create(latch.CheckPermissionRequestSchema, init)),
    ),
  ],
  [
    "authzed.api.v1",
    authzedCheckPermissionCodec,
    decisionHandlers({
      store,
      engine,
      decider: engine,
      limits: DEFAULT_LIMITS,
      watchPollMs: 50,
      shutdown: new AbortController().signal,
    }).checkPermission as Handler,
    Buffer.from(
      toBinary(spice.CheckPermissionRequestSchema, create(spice.CheckPermissionRequestSchema, init)),
    ),
  ],
];

async function run(codec: ServerCodec, handler: Handler, bytes: Buffer, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const response = await handler(codec.decodeRequest(bytes) as never, ctx);
    codec.encodeResponse(response as never);
  }
}

for (const [, codec, handler, bytes] of cases) await run(codec, handler, bytes, calls / 4);
const perCall = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < 7; round++) {
  for (const [name, codec, handler, bytes] of cases) {
    const start = process.cpuUsage();
    await run(codec, handler, bytes, calls);
    const used = process.cpuUsage(start);
    perCall.get(name)!.push((used.user + used.system) / calls);
  }
}
console.log(`decode + handler (cached check) + encode, CPU per call, 7 alternating rounds of ${calls}:`);
for (const [name, xs] of perCall) {
  const median = [...xs].sort((a, b) => a - b)[3]!;
  console.log(
    `  ${name.padEnd(16)} median ${median.toFixed(2)} µs  (rounds: ${xs.map((x) => x.toFixed(2)).join(", ")})`,
  );
}
await store.close();
