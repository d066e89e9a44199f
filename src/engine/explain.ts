/** Turns the evaluator's trace into the public explanation, evaluating caveats with the request context. */
import { LatchError } from "../core/index.js";
import type { CaveatEvaluator } from "./evaluate-caveats.js";
import type { TraceNode } from "./request-context.js";
import type { CaveatTrace, ExplainNode } from "./types.js";

export function toExplainNode(
  node: TraceNode,
  evaluator: CaveatEvaluator,
  traceLeaf: (n: TraceNode) => CaveatTrace | undefined,
): ExplainNode {
  let state: ExplainNode["state"];
  try {
    state = evaluator.verdict(node.member).state;
  } catch (e) {
    if (!(e instanceof LatchError)) throw e;
    state = "DENIED";
  }
  const caveat = traceLeaf(node);
  const rawChildren = node.children ?? [];
  // An allowed union shows the path that allowed it; anything else shows every branch.
  const children =
    state === "ALLOWED" && node.label === "union"
      ? rawChildren.filter((c) => safeState(c, evaluator) === "ALLOWED").slice(0, 1)
      : rawChildren;
  return {
    label: node.label,
    state,
    ...(caveat === undefined ? {} : { caveats: [caveat] }),
    ...(children.length === 0
      ? {}
      : { children: children.map((c) => toExplainNode(c, evaluator, traceLeaf)) }),
    ...(node.cached ? { cached: true } : {}),
  };
}

function safeState(node: TraceNode, evaluator: CaveatEvaluator): string {
  try {
    return evaluator.verdict(node.member).state;
  } catch {
    return "DENIED";
  }
}
