/** `latch/client`: the LatchClient over gRPC, without the embedded mode's SQLite and engine. */
export { RemoteError } from "./errors.js";
export * from "./public-exports.js";
export { type ClientOptions, createClient } from "./remote.js";
