/** PostureService: the identity security posture report over the backend's store and engine. */
import type { Engine } from "../engine/index.js";
import type { PostureService } from "../gen/latch/v1/posture_service_pb.js";
import { createPostureReport } from "../posture/index.js";
import type { Store } from "../store/index.js";
import type { ServiceImplementation } from "./grpc-adapter.js";

type Methods = (typeof PostureService)["method"];

export interface PostureHandlerOptions {
  readonly store: Store;
  readonly engine: Engine;
  /** Whether a subject is suspended (signals); owners count as active without it. */
  readonly isSuspended?: ((subject: string) => boolean | Promise<boolean>) | undefined;
}

export function postureHandlers(options: PostureHandlerOptions): ServiceImplementation<Methods> {
  const { store, engine } = options;
  return {
    async report(req, ctx) {
      // A bad token or config is a LatchError (invalid-argument): the adapter maps it to a status.
      const revision = req.atRevision === "" ? undefined : store.decodeRevision(req.atRevision);
      const { report } = await createPostureReport({
        store,
        engine,
        config: req.config === "" ? undefined : req.config,
        revision,
        save: req.save,
        isSuspended: options.isSuspended,
        // The report yields to the event loop as it goes; the call state stops it past its deadline.
        signal: ctx,
      });
      return {
        reportJson: JSON.stringify(report),
        revisionToken: store.encodeRevision(BigInt(report.revision)),
      };
    },
  };
}
