/** Request limits enforced at the edge, before any work is done. */
export interface ServerLimits {
  /**
   * Largest request message grpc-js accepts from an authenticated caller; larger ones fail with
   * RESOURCE_EXHAUSTED. A call without a valid token is refused before its message is read at all
   * (auth-interceptor.ts).
   */
  readonly maxMessageBytes: number;
  /** Items in one CheckBulkPermissions. */
  readonly maxBulkItems: number;
  /** Updates in one WriteRelationships. */
  readonly maxUpdates: number;
  /** Preconditions in one write or delete. */
  readonly maxPreconditions: number;
  /** Contextual relationships in one check. */
  readonly maxContextualRelationships: number;
  /** Relationships in one ImportRelationships message. */
  readonly maxImportBatch: number;
  /** Characters in a schema. */
  readonly maxSchemaBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxBulkItems: 1000,
  maxUpdates: 1000,
  maxPreconditions: 1000,
  maxContextualRelationships: 100,
  maxImportBatch: 10_000,
  maxSchemaBytes: 1024 * 1024,
};
