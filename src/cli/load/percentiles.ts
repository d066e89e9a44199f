/** Latency percentiles from hdr-histogram-js and a markdown table: shared by `latch bench` and bench/. */
import * as hdr from "hdr-histogram-js";

export interface CaseResult {
  readonly name: string;
  readonly samples: number;
  readonly opsPerSecond: number;
  /** Latencies in microseconds. */
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p95Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** Free-form facts of the case: items per call, results per call, cache hit ratio. */
  readonly notes?: string;
}

export function summarize(name: string, latenciesMs: readonly number[], notes?: string): CaseResult {
  // Nanosecond resolution, three significant digits: enough for 1 µs to minutes.
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let total = 0;
  for (const ms of latenciesMs) {
    histogram.recordValue(Math.max(1, Math.round(ms * 1e6)));
    total += ms;
  }
  const us = (ns: number) => ns / 1000;
  const result: CaseResult = {
    name,
    samples: latenciesMs.length,
    opsPerSecond: latenciesMs.length > 0 ? (latenciesMs.length * 1000) / total : 0,
    meanUs: latenciesMs.length > 0 ? (total * 1000) / latenciesMs.length : 0,
    p50Us: us(histogram.getValueAtPercentile(50)),
    p95Us: us(histogram.getValueAtPercentile(95)),
    p99Us: us(histogram.getValueAtPercentile(99)),
    maxUs: us(histogram.maxValue),
    ...(notes === undefined ? {} : { notes }),
  };
  histogram.destroy();
  return result;
}

const fmt = (us: number) =>
  us >= 10_000
    ? `${(us / 1000).toFixed(1)} ms`
    : us >= 1000
      ? `${(us / 1000).toFixed(2)} ms`
      : `${us.toFixed(1)} µs`;

export function markdownTable(results: readonly CaseResult[]): string {
  const lines = [
    "| case | ops/s | mean | p50 | p95 | p99 | max | notes |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.name} | ${Math.round(r.opsPerSecond).toLocaleString("en-US")} | ${fmt(r.meanUs)} | ${fmt(r.p50Us)} | ${fmt(r.p95Us)} | ${fmt(r.p99Us)} | ${fmt(r.maxUs)} | ${r.notes ?? ""} |`,
    );
  }
  return lines.join("\n");
}
