/**
 * What a generic gRPC tool asks a server without Latch's or SpiceDB's clients: the standard health
 * service and server reflection (both versions: grpcurl still asks v1alpha).
 */
import { once } from "node:events";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";

/** A service's health status (`SERVING` ...), asked with no credentials. */
export async function healthStatus(address: string, service: string): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, "Health");
  const health = new Health(address, grpc.credentials.createInsecure());
  try {
    const answer = await new Promise<{ status: string }>((resolve, reject) =>
      (health as unknown as Record<string, (...a: unknown[]) => void>).check!.call(
        health,
        { service },
        (e: Error | null, r: { status: string }) => (e ? reject(e) : resolve(r)),
      ),
    );
    return answer.status;
  } finally {
    health.close();
  }
}

/** The answers of one reflection stream to `requests`, written in order, with no credentials. */
export async function reflectionAnswers(
  address: string,
  version: "v1" | "v1alpha",
  requests: readonly object[],
): Promise<Record<string, unknown>[]> {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve("@grpc/reflection/package.json"));
  const definition = loadSync(join(root, `build/proto/grpc/reflection/${version}/reflection.proto`), {
    keepCase: true,
    includeDirs: [join(root, "build/proto")],
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const reflection = new loaded.grpc.reflection[version]!.ServerReflection(
    address,
    grpc.credentials.createInsecure(),
  );
  try {
    const call = (
      reflection as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, object> }
    ).ServerReflectionInfo();
    const answers: Record<string, unknown>[] = [];
    call.on("data", (d: Record<string, unknown>) => answers.push(d));
    for (const r of requests) call.write(r);
    call.end();
    await once(call, "end");
    return answers;
  } finally {
    reflection.close();
  }
}
