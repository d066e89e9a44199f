/** ExperimentalService: the older names of calls other services now serve, and relationship counters. */
import type { ExperimentalService } from "../../gen/authzed/api/v1/experimental_service_pb.js";
import type { ServiceImplementation } from "../grpc-adapter.js";
import type { AuthzedDeps } from "./deps.js";

type Methods = (typeof ExperimentalService)["method"];

export function experimentalHandlers(_deps: AuthzedDeps): Partial<ServiceImplementation<Methods>> {
  return {};
}
