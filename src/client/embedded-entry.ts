/**
 * `latch/embedded`: the LatchClient in process. Its module graph holds no gRPC, logging or metrics
 * package (test/client/entry-graph.test.ts), so an application that only embeds Latch loads none.
 */
export type { Decider, Decorator } from "../service/index.js";
export { decorate } from "../service/index.js";
export { createEmbedded, type EmbeddedClient, type EmbeddedOptions } from "./embedded.js";
export * from "./public-exports.js";
