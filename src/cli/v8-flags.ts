/**
 * V8 settings for Latch's own processes (the CLI, the server, the benchmarks), applied before the
 * rest of the program loads: import this module first.
 *
 * Allocation-site pretenuring is off. With it, V8 starts allocating objects from some allocation
 * sites straight into the old generation once it sees many of them survive a young collection.
 * On Latch's request path that bet loses: measured with `node --trace-gc` on the scale m corpus,
 * young collections took 3 to 18 ms each and the old generation grew by about 1 MB at every one
 * of them with objects dead soon after, until a full collection. Without it, `npm run bench --
 * --scale m` gave check/mix a mean of 34 µs instead of 56 µs and a max of 1-3 ms instead of 11 ms,
 * and CheckBulk(100) a p99 of 8 ms instead of 109 ms (p50s moved little).
 *
 * A library does not change VM flags of the process that hosts it: embedded users who want the
 * same pass `--no-allocation-site-pretenuring` to node themselves (README).
 */
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--no-allocation-site-pretenuring");
