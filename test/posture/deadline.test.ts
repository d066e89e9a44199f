/**
 * PostureService.Report hands the call's state to the report as its cancellation: a report past
 * its deadline stops, fails with DEADLINE_EXCEEDED and keeps nothing, even with `save`, instead
 * of running on for a client that has gone and saving a report nobody asked for any more.
 *
 * Which side of the deadline the report is on never depends on how fast it runs: the engine's
 * CheckBulk (reach and owner checks, phases every report of the scenario goes through) answers
 * only once the client has seen its deadline pass, and, when it was given the call's cancellation,
 * once the server has too (its deadline counts from when the call arrived, a little after the
 * client's).
 */
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "../../src/client/index.js";
import type { Cancellation, Engine } from "../../src/engine/index.js";
import { openLatch } from "../../src/open/index.js";
import { createLogger, type Metrics, startServer } from "../../src/server/index.js";
import { CONFIG, SCHEMA, scenarioRelationships } from "./fixtures.js";

const TOKEN = "posture-deadline-token-0123456789";
const REPORT = "latch.v1.PostureService/Report";
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Resolves once `signal` is aborted (a Cancellation has no event: it is looked at every few ms). */
async function abortedOf(signal: Cancellation): Promise<void> {
  while (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The engine, whose CheckBulk answers only after `gate`, and after its cancellation, if any, fired. */
function slowBulkChecks(engine: Engine, gate: Promise<unknown>, asked: { bulks: number }): Engine {
  return new Proxy(engine, {
    get(target, key, receiver) {
      if (key !== "checkBulk") return Reflect.get(target, key, receiver);
      const checkBulk: Engine["checkBulk"] = async (request, options) => {
        asked.bulks++;
        await gate;
        if (options?.signal !== undefined) await abortedOf(options.signal);
        return target.checkBulk(request, options);
      };
      return checkBulk;
    },
  });
}

async function serve(gate: Promise<unknown>) {
  const latch = await openLatch({ database: ":memory:", schema: SCHEMA });
  cleanup.push(() => latch.close());
  await latch.store.write(
    scenarioRelationships().map((relationship) => ({ operation: "touch" as const, relationship })),
  );
  const asked = { bulks: 0 };
  const ended: { method: string; code: status }[] = [];
  let onEnd = () => {};
  const callEnded = new Promise<void>((resolve) => {
    onEnd = resolve;
  });
  // createServer takes the metrics as the adapters' call observer only.
  const observer = {
    onCallEnd(event: { method: string; code: status }) {
      ended.push({ method: event.method, code: event.code });
      if (event.method === REPORT) onEnd();
    },
  } as unknown as Metrics;
  const server = await startServer({
    store: latch.store,
    engine: slowBulkChecks(latch.engine, gate, asked),
    tokens: [TOKEN],
    listen: "127.0.0.1:0",
    logger: createLogger("silent"),
    metrics: observer,
  });
  cleanup.push(() => server.shutdown(1000));
  const client = createClient({ address: server.address, token: TOKEN });
  cleanup.push(async () => client.close());
  return { latch, client, asked, ended, callEnded };
}

describe("PostureService.Report past its deadline", () => {
  it("ends DEADLINE_EXCEEDED on the server and saves nothing", async () => {
    let clientGaveUp = () => {};
    const gate = new Promise<void>((resolve) => {
      clientGaveUp = resolve;
    });
    const { latch, client, asked, ended, callEnded } = await serve(gate);
    const error = await client
      .postureReport({ config: CONFIG, save: true }, { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect((error as { kind?: string }).kind).toBe("deadline-exceeded");
    clientGaveUp();
    // The handler's own end, not the client's: only then has it saved, if it saves at all.
    await callEnded;
    expect(await latch.store.postureReports.previous()).toBeUndefined();
    expect(ended.filter((e) => e.method === REPORT)).toEqual([
      { method: REPORT, code: status.DEADLINE_EXCEEDED },
    ]);
    // The report did reach the engine: it was stopped there, not before.
    expect(asked.bulks).toBeGreaterThan(0);
  });
});
