/**
 * Keeps N calls in flight for a fixed time and records each call's latency by operation. The
 * operations are closures, so the same loop drives a server (`latch bench`, bench/load.ts) or
 * anything else that answers promises.
 */
import { type CaseResult, summarize } from "./percentiles.js";

export interface LoadOperation {
  readonly name: string;
  /** Relative share of calls. */
  readonly weight: number;
  readonly run: (i: number) => Promise<unknown>;
}

export interface LoadOutcome {
  readonly results: readonly CaseResult[];
  /** Error messages (first 80 characters) by operation, with counts. */
  readonly errors: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
}

export async function runLoad(
  operations: readonly LoadOperation[],
  options: { readonly concurrency: number; readonly durationMs: number; readonly random?: () => number },
): Promise<LoadOutcome> {
  const random = options.random ?? Math.random;
  const total = operations.reduce((sum, op) => sum + op.weight, 0);
  const pick = (): LoadOperation => {
    let r = random() * total;
    for (const op of operations) {
      r -= op.weight;
      if (r <= 0) return op;
    }
    return operations[operations.length - 1]!;
  };
  const latencies = new Map<string, number[]>(operations.map((op) => [op.name, []]));
  const errors: Record<string, number> = {};
  let calls = 0;
  const started = performance.now();
  const end = started + options.durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const op = pick();
      const t = performance.now();
      try {
        await op.run(calls++);
        latencies.get(op.name)!.push(performance.now() - t);
      } catch (error) {
        const key = `${op.name}: ${(error instanceof Error ? error.message : String(error)).slice(0, 80)}`;
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  const results: CaseResult[] = [];
  for (const [name, samples] of latencies) {
    if (samples.length === 0) continue;
    results.push({
      ...summarize(name, samples, `${options.concurrency} in flight`),
      opsPerSecond: (samples.length * 1000) / elapsedMs,
    });
  }
  return { results, errors, elapsedMs };
}
