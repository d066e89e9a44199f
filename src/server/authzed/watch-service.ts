/** WatchService: the change feed of relationships. */
import type { WatchService } from "../../gen/authzed/api/v1/watch_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";

type Methods = (typeof WatchService)["method"];

export function watchHandlers(_deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  return {};
}
