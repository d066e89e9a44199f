/** Small helpers for the lookup tests. */
import { createEngine, type Engine, type EngineOptions } from "../../src/engine/index.js";

export type LookupEngine = Engine;

export function createLookupEngine(options: EngineOptions): Engine {
  return createEngine(options);
}

export async function collectAll<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}
