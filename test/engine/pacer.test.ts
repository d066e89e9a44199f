/**
 * The pacer (engine/pacer.ts) with a clock stepped by its reads, so where it says "due" depends on
 * the work counted only: branches of one walk that pause together resume in one turn of the event
 * loop and share one slice there, where each used to take a whole slice of its own.
 */
import { describe, expect, it } from "vitest";
import { createPacer } from "../../src/engine/index.js";
import { stepPerformanceClock } from "../hostile/stepped-clock.js";

stepPerformanceClock();

describe("a pacer", () => {
  it("is due after its slice, read every 32 units of work", () => {
    const pacer = createPacer(undefined);
    let calls = 0;
    while (!pacer.due()) calls++;
    // The clock is read once every 32 units, each read a millisecond later: due at the 4th read.
    expect(calls).toBe(4 * 32 - 1);
  });

  it("resumes every branch paused together in one turn, sharing one slice", async () => {
    const pacer = createPacer(undefined);
    while (!pacer.due());
    // Each branch pauses, then works until the pacer says its slice is spent.
    const work = new Map<string, number>();
    const branch = async (name: string) => {
      await pacer.pause();
      let calls = 0;
      while (!pacer.due()) calls++;
      work.set(name, calls);
    };
    await Promise.all([branch("a"), branch("b")]);
    // The first spends the turn's slice; the second finds it spent at its first clock read (each
    // used to resume with a slice of its own, so the turn held the event loop twice as long).
    expect(work.get("a")).toBe(4 * 32 - 1);
    expect(work.get("b")).toBe(32 - 1);
  });

  it("stops at its next turn once aborted", async () => {
    const signal = { aborted: false };
    const pacer = createPacer(signal);
    signal.aborted = true;
    await expect(pacer.pause()).rejects.toMatchObject({ code: "request/deadline-exceeded" });
  });
});
