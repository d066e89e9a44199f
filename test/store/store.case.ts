/**
 * The store conformance suite: every backend runs exactly these cases with its own factory
 * (a fresh, empty store per call). Backends differ in speed and deployment, never in behaviour.
 */
import { describe } from "vitest";
import type { Store } from "../../src/store/index.js";
import { approvalCases } from "./conformance/approvals.js";
import { compactionCases } from "./conformance/compaction.js";
import { decisionCases } from "./conformance/decisions.js";
import { historyCases } from "./conformance/history.js";
import { readCases } from "./conformance/reads.js";
import { signalCases } from "./conformance/signals.js";
import { writeCases } from "./conformance/writes.js";

export function storeConformance(name: string, factory: () => Promise<Store>): void {
  describe(`store conformance: ${name}`, () => {
    describe("writes", () => writeCases(factory));
    describe("reads", () => readCases(factory));
    describe("history", () => historyCases(factory));
    describe("compaction", () => compactionCases(factory));
    describe("decisions", () => decisionCases(factory));
    describe("approvals", () => approvalCases(factory));
    describe("signals", () => signalCases(factory));
  });
}
