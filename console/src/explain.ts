/** A check's flat trace (CheckTrace.nodes, parents by 1-based index) as a tree to draw. */

export type Verdict = "allowed" | "denied" | "conditional" | "approval" | "unknown";

export interface TraceCaveat {
  readonly caveatName?: string;
  readonly result?: string;
  readonly context?: Record<string, unknown>;
  readonly missingRequiredContext?: string[];
  readonly error?: string;
}

export interface TraceNode {
  readonly label?: string;
  readonly permissionship?: string;
  readonly caveats?: TraceCaveat[];
  readonly cached?: boolean;
  readonly parent?: number;
}

export interface ExplainTree {
  readonly label: string;
  readonly verdict: Verdict;
  readonly cached: boolean;
  readonly caveats: readonly TraceCaveat[];
  readonly children: ExplainTree[];
}

/** The wire's permissionship enum name to the colour class of a result. */
export function verdictOf(permissionship: string | undefined): Verdict {
  switch (permissionship) {
    case "PERMISSIONSHIP_ALLOWED":
      return "allowed";
    case "PERMISSIONSHIP_DENIED":
      return "denied";
    case "PERMISSIONSHIP_CONDITIONAL":
      return "conditional";
    case "PERMISSIONSHIP_APPROVAL_REQUIRED":
      return "approval";
    default:
      return "unknown";
  }
}

/** Rebuilds the tree; a node naming a parent that does not precede it is an error, not dropped. */
export function buildExplainTree(nodes: readonly TraceNode[]): ExplainTree | undefined {
  const built: ExplainTree[] = [];
  let root: ExplainTree | undefined;
  nodes.forEach((node, i) => {
    const tree: ExplainTree = {
      label: node.label ?? "",
      verdict: verdictOf(node.permissionship),
      cached: node.cached === true,
      caveats: node.caveats ?? [],
      children: [],
    };
    const parent = node.parent ?? 0;
    if (parent === 0) {
      if (root !== undefined) throw new Error(`trace step ${i + 1} is a second root`);
      root = tree;
    } else {
      const p = built[parent - 1];
      if (p === undefined || parent > i)
        throw new Error(`trace step ${i + 1} names parent ${parent}, not before it`);
      p.children.push(tree);
    }
    built.push(tree);
  });
  return root;
}
