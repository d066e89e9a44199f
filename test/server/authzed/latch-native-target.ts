/**
 * INTERIM: Latch through its own latch.v1 client, speaking the Target face, until Latch serves
 * authzed.api.v1 (issue 15). Requests and answers are translated to the authzed shapes so the
 * differential test compares the engines now; it goes once the authzed handlers land.
 */
import { protobuf, v1 } from "@authzed/authzed-node";
import type { Relationship } from "../../../src/core/index.js";
import { createClient, RemoteError } from "../../../src/client/index.js";
import type { Failure, Outcome, Target } from "./authzed-target.js";

const { Struct, Timestamp } = protobuf;
const FULL = { kind: "fully-consistent" } as const;

function ctx(struct: protobuf.Struct | undefined): Record<string, unknown> | undefined {
  return struct ? (Struct.toJson(struct) as Record<string, unknown>) : undefined;
}

function fromAuthzed(r: v1.Relationship): Relationship {
  const context = ctx(r.optionalCaveat?.context);
  return {
    resource: { type: r.resource!.objectType, id: r.resource!.objectId },
    relation: r.relation,
    subject: {
      type: r.subject!.object!.objectType,
      id: r.subject!.object!.objectId,
      ...(r.subject!.optionalRelation ? { relation: r.subject!.optionalRelation } : {}),
    },
    ...(r.optionalCaveat ? { caveat: { name: r.optionalCaveat.caveatName, ...(context ? { context } : {}) } } : {}),
    ...(r.optionalExpiresAt ? { expiration: Timestamp.toDate(r.optionalExpiresAt) } : {}),
  };
}

function toAuthzed(r: Relationship): v1.Relationship {
  return v1.Relationship.create({
    resource: { objectType: r.resource.type, objectId: r.resource.id },
    relation: r.relation,
    subject: {
      object: { objectType: r.subject.type, objectId: r.subject.id },
      optionalRelation: r.subject.relation ?? "",
    },
    ...(r.caveat
      ? {
          optionalCaveat: {
            caveatName: r.caveat.name,
            ...(r.caveat.context ? { context: Struct.fromJson(r.caveat.context as never) } : {}),
          },
        }
      : {}),
    ...(r.expiration ? { optionalExpiresAt: Timestamp.fromDate(r.expiration) } : {}),
  });
}

const CHECK = { ALLOWED: 2, DENIED: 1, CONDITIONAL: 3 } as const;
const LOOKUP = { ALLOWED: 1, CONDITIONAL: 2, EXCLUDED: 1 } as const;
const partial = (missing: readonly string[]) =>
  missing.length ? { partialCaveatInfo: { missingRequiredContext: [...missing] } } : {};
const subjectOf = (s: v1.SubjectReference) => ({
  type: s.object!.objectType,
  id: s.object!.objectId,
  ...(s.optionalRelation ? { relation: s.optionalRelation } : {}),
});
const OPERATIONS = { 1: "create", 2: "touch", 3: "delete" } as const;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export function latchNativeTarget(address: string, token: string): Target {
  const client = createClient({ address, token });
  // biome-ignore lint/suspicious/noExplicitAny: interim translation table, typed at the Target face
  const handlers: Record<string, (request: any) => Promise<unknown>> = {
    writeSchema: async (r: v1.WriteSchemaRequest) => {
      await client.writeSchema(r.schema);
      return v1.WriteSchemaResponse.create({});
    },
    writeRelationships: async (r: v1.WriteRelationshipsRequest) => {
      await client.writeRelationships({
        updates: r.updates.map((u) => ({
          operation: OPERATIONS[u.operation as 1 | 2 | 3],
          relationship: fromAuthzed(u.relationship!),
        })),
      });
      return v1.WriteRelationshipsResponse.create({});
    },
    checkPermission: async (r: v1.CheckPermissionRequest) => {
      const context = ctx(r.context);
      const a = await client.check({
        resource: { type: r.resource!.objectType, id: r.resource!.objectId },
        permission: r.permission,
        subject: subjectOf(r.subject!),
        consistency: FULL,
        ...(context ? { context } : {}),
      });
      return v1.CheckPermissionResponse.create({ permissionship: CHECK[a.state as keyof typeof CHECK], ...partial(a.missing) });
    },
    checkBulkPermissions: async (r: v1.CheckBulkPermissionsRequest) => {
      const a = await client.checkBulk({
        consistency: FULL,
        items: r.items.map((i) => {
          const context = ctx(i.context);
          return {
            resource: { type: i.resource!.objectType, id: i.resource!.objectId },
            permission: i.permission,
            subject: subjectOf(i.subject!),
            ...(context ? { context } : {}),
          };
        }),
      });
      return v1.CheckBulkPermissionsResponse.create({
        pairs: a.results.map((x) => ({
          response: x.ok
            ? {
                oneofKind: "item",
                item: { permissionship: CHECK[x.state as keyof typeof CHECK], ...partial(x.missing) },
              }
            : { oneofKind: "error", error: { code: -1, message: x.error.code, details: [] } },
        })),
      });
    },
    lookupResources: async (r: v1.LookupResourcesRequest) => {
      const context = ctx(r.context);
      const items = await collect(
        client.lookupResources({
          resourceType: r.resourceObjectType,
          permission: r.permission,
          subject: subjectOf(r.subject!),
          consistency: FULL,
          ...(context ? { context } : {}),
        }),
      );
      return items.map((i) =>
        v1.LookupResourcesResponse.create({ resourceObjectId: i.resourceId, permissionship: LOOKUP[i.state], ...partial(i.missing) }),
      );
    },
    lookupSubjects: async (r: v1.LookupSubjectsRequest) => {
      const context = ctx(r.context);
      const items = await collect(
        client.lookupSubjects({
          resource: { type: r.resource!.objectType, id: r.resource!.objectId },
          permission: r.permission,
          subjectType: r.subjectObjectType,
          consistency: FULL,
          ...(context ? { context } : {}),
        }),
      );
      return items.map((i) =>
        v1.LookupSubjectsResponse.create({
          subject: { subjectObjectId: i.subjectId, permissionship: LOOKUP[i.state], ...partial(i.missing) },
          excludedSubjects: (i.excluded ?? []).map((e) => ({
            subjectObjectId: e.id,
            permissionship: LOOKUP[e.state],
            ...partial(e.missing),
          })),
        }),
      );
    },
    readRelationships: async (r: v1.ReadRelationshipsRequest) => {
      const items = await collect(
        client.readRelationships({ filter: { resourceType: r.relationshipFilter!.resourceType }, consistency: FULL }),
      );
      return items.map((i) => v1.ReadRelationshipsResponse.create({ relationship: toAuthzed(i.relationship) }));
    },
  };
  return {
    name: "Latch (latch.v1, interim)",
    async call(method, request) {
      const handler = handlers[method];
      if (!handler) throw new Error(`interim Latch target has no ${method}`);
      try {
        return { ok: true, value: (await handler(request)) as never };
      } catch (error) {
        if (!(error instanceof RemoteError)) throw error;
        const failure: Failure = { ok: false, code: error.status, reason: undefined, message: error.message };
        return failure as Outcome<never>;
      }
    },
    close: () => client.close(),
  };
}
