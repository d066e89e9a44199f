/** The TypeScript client: one interface over gRPC (`createClient`) or in process (`createEmbedded`). */

export { type AuthorizedSet, type AuthorizedSetOptions, watchAuthorizedSet } from "./authorized-set.js";
export { createEmbedded, type EmbeddedClient, type EmbeddedOptions } from "./embedded.js";
export { RemoteError } from "./errors.js";
export { type FilterOptions, filterAuthorized } from "./filter.js";
export { type ClientOptions, createClient } from "./remote.js";
export type * from "./types.js";
