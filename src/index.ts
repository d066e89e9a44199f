/**
 * The package's public face: the client (gRPC or embedded, one interface), the RAG filter helper,
 * and the plain types and helpers a caller needs to build requests and read answers. Subpath
 * entries load less: `latch/embedded` (no gRPC), `latch/client` (no SQLite), `latch/server`.
 */
export * from "./client/index.js";
export * from "./client/public-exports.js";
