/** SchemaService: the store validates (compiles, checks orphaning) and stores the schema text. */
import { LatchError } from "../core/index.js";
import type { SchemaService } from "../gen/latch/v1/schema_service_pb.js";
import { latestReader, type Store } from "../store/index.js";
import { invalidArgument, overLimit } from "./errors.js";
import type { ServiceImplementation } from "./grpc-adapter.js";
import type { ServerLimits } from "./limits.js";

type Methods = (typeof SchemaService)["method"];

export function schemaHandlers(store: Store, limits: ServerLimits): ServiceImplementation<Methods> {
  return {
    async writeSchema(req) {
      if (req.schema.trim() === "") throw invalidArgument("schema", "is empty");
      if (req.schema.length > limits.maxSchemaBytes)
        throw overLimit("schema", limits.maxSchemaBytes, req.schema.length);
      const revision = await store.writeSchema(req.schema);
      return { writtenAt: { token: store.encodeRevision(revision) } };
    },
    async readSchema() {
      const stored = await (await latestReader(store)).readSchema();
      if (stored === undefined)
        throw new LatchError("schema/not-found", "not-found", "no schema has been written");
      return { schemaText: stored.text, readAt: { token: store.encodeRevision(stored.revision) } };
    },
  };
}
