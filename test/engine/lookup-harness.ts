/**
 * The lookups bound to a store the way the engine binds them, for tests. Until the engine object
 * exposes them this builds the dependencies itself; afterwards it just returns the engine.
 */
import { createEngine, type Engine, type EngineOptions } from "../../src/engine/index.js";
import type { LookupDeps } from "../../src/engine/lookup-context.js";
import { lookupResources } from "../../src/engine/lookup-resources.js";
import { lookupSubjects } from "../../src/engine/lookup-subjects.js";
import type {
  LookupResourceResult,
  LookupResourcesRequest,
  LookupSubjectResult,
  LookupSubjectsRequest,
} from "../../src/engine/lookup-types.js";
import { createRevisions } from "../../src/engine/revisions.js";
import type { RequestOptions } from "../../src/engine/types.js";

export interface LookupEngine extends Engine {
  lookupResources(
    request: LookupResourcesRequest,
    options?: RequestOptions,
  ): AsyncIterable<LookupResourceResult>;
  lookupSubjects(
    request: LookupSubjectsRequest,
    options?: RequestOptions,
  ): AsyncIterable<LookupSubjectResult>;
}

export function createLookupEngine(options: EngineOptions): LookupEngine {
  const engine = createEngine(options) as Engine & Partial<LookupEngine>;
  if (typeof engine.lookupResources === "function") return engine as LookupEngine;
  const deps: LookupDeps = {
    store: options.store,
    revisions: createRevisions(options.store, options.quantizationMs ?? 100),
    results: undefined,
    maxDepth: options.maxDepth ?? 50,
  };
  return {
    ...engine,
    lookupResources: (request, opts) => lookupResources(deps, request, opts),
    lookupSubjects: (request, opts) => lookupSubjects(deps, request, opts),
  };
}

export async function collectAll<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}
