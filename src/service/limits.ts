/**
 * Request limits that hold whatever the transport: counts of items in one request. Wire limits
 * (message bytes) stay with the server.
 */
export interface ServiceLimits {
  /** Items in one CheckBulkPermissions. */
  readonly maxBulkItems: number;
  /** Updates in one WriteRelationships. */
  readonly maxUpdates: number;
  /** Preconditions in one write or delete. */
  readonly maxPreconditions: number;
  /** Contextual relationships in one check. */
  readonly maxContextualRelationships: number;
  /** The embedded import's largest batch. */
  readonly maxImportBatch: number;
  /**
   * Relationships in one import stream of either API: a stream is held in memory (as bytes) until
   * its one transaction commits, so it must be bounded.
   */
  readonly maxImportRelationships: number;
  /** Characters in a schema. */
  readonly maxSchemaBytes: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  maxBulkItems: 1000,
  maxUpdates: 1000,
  maxPreconditions: 1000,
  maxContextualRelationships: 100,
  maxImportBatch: 10_000,
  maxImportRelationships: 500_000,
  maxSchemaBytes: 1024 * 1024,
};
