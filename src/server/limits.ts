/** Request limits enforced at the edge, before any work is done: the service's, plus the wire's. */
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from "../service/index.js";

export interface ServerLimits extends ServiceLimits {
  /**
   * Largest request message grpc-js accepts from an authenticated caller; larger ones fail with
   * RESOURCE_EXHAUSTED. A call without a valid token is refused before its message is read at all
   * (auth-interceptor.ts).
   */
  readonly maxMessageBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  ...DEFAULT_SERVICE_LIMITS,
};
