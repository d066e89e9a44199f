/**
 * verifyChain checks the checkpoints' signatures a slice per turn of the event loop (an HMAC each,
 * 10,000 of them on a million records). A forged checkpoint just past a pause must still be named,
 * and the pause must come between slices, not before the first or after the forged one.
 */
import { describe, expect, it } from "vitest";
import {
  createChainSigner,
  type SignedPoint,
  type StoredRow,
  verifyChain,
} from "../../src/store/decision-log.js";

const SLICE = 3;
const signer = createChainSigner("store-1", new TextEncoder().encode("a token secret"));

/** Checkpoints at seq 1..n, signed; the one at `forged` (an index) carries another store's MAC. */
function checkpoints(n: number, forged: number): SignedPoint[] {
  const other = createChainSigner("store-2", new TextEncoder().encode("a token secret"));
  return Array.from({ length: n }, (_, i) => {
    const seq = i + 1;
    const hash = seq.toString(16).padStart(64, "0");
    return { seq, hash, mac: (i === forged ? other : signer).checkpoint(seq, hash) };
  });
}

// The signatures are checked before any row is read.
async function* noRows(): AsyncIterable<StoredRow> {}

describe("verifyChain: checkpoint signatures a slice per turn", () => {
  it("names a forged checkpoint just past the first pause, having paused once", async () => {
    let pauses = 0;
    const pause = async () => {
      pauses++;
    };
    // Unsorted on purpose: the slices follow seq order, whatever order the store read them in.
    const points = checkpoints(2 * SLICE + 1, SLICE).reverse();
    const report = await verifyChain(noRows(), points, undefined, signer, pause, SLICE);
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ seq: SLICE + 1, kind: "bad-checkpoint" });
    expect(pauses).toBe(1);
  });

  it("pauses between every slice of a chain whose checkpoints are all signed", async () => {
    let pauses = 0;
    const pause = async () => {
      pauses++;
    };
    const points = checkpoints(2 * SLICE + 1, -1);
    const report = await verifyChain(noRows(), points, undefined, signer, pause, SLICE);
    // Past the signatures, the chain is judged as usual: no rows for checkpoints up to seq 7.
    expect(report.problem).toMatchObject({ kind: "truncated" });
    expect(pauses).toBe(2);
  });
});
