/** Checks on permission expressions: names exist, arrows walk relations, no computed cycles. */
import { clip, type DiagnosticCode } from "../core/index.js";
import type { DefinitionNode, ExprNode, MemberNode, NameNode, PermissionNode } from "./ast.js";
import type { Span } from "./diagnostics.js";
import { suggest } from "./names.js";

type Report = (code: DiagnosticCode, span: Span, message: string) => void;
type Definitions = ReadonlyMap<
  string,
  { readonly node: DefinitionNode; readonly members: ReadonlyMap<string, MemberNode> }
>;

function arrowText(tupleset: string, computed: string, fn: string | undefined): string {
  return fn === undefined
    ? `${clip(tupleset)}->${clip(computed)}`
    : `${clip(tupleset)}.${clip(fn)}(${clip(computed)})`;
}

export function checkPermissions(
  definitions: Definitions,
  report: Report,
  /** Definitions already reported as too large: not walked (see MAX_DEFINITION_MEMBERS). */
  skip: ReadonlySet<DefinitionNode>,
): void {
  for (const { node, members } of definitions.values()) {
    if (skip.has(node)) continue;
    const refs = new Map<string, { name: NameNode }[]>();
    for (const member of node.members) {
      if (member.kind !== "permission" || members.get(member.name.text) !== member) continue;
      const computed: { name: NameNode }[] = [];
      walk(member.expr, (expr) => {
        if (expr.kind === "identifier") {
          checkIdentifier(node, members, member, expr.name, report);
          const target = members.get(expr.name.text);
          if (target?.kind === "permission") computed.push({ name: expr.name });
        } else if (expr.kind === "arrow") {
          checkArrow(definitions, node, members, member, expr, report);
        }
      });
      refs.set(member.name.text, computed);
    }
    reportCycles(node, refs, report);
  }
}

function walk(expr: ExprNode, visit: (expr: ExprNode) => void): void {
  visit(expr);
  if (expr.kind === "union" || expr.kind === "intersection" || expr.kind === "exclusion") {
    walk(expr.left, visit);
    walk(expr.right, visit);
  }
}

function checkIdentifier(
  def: DefinitionNode,
  members: ReadonlyMap<string, MemberNode>,
  permission: PermissionNode,
  name: NameNode,
  report: Report,
): void {
  if (members.has(name.text)) return;
  report(
    "schema/unknown-relation",
    name.span,
    `permission \`${clip(permission.name.text)}\` refers to \`${clip(name.text)}\`, which is not a relation or permission of \`${clip(def.name.text)}\`${suggest(name.text, members.keys())}; declare it or fix the name`,
  );
}

function checkArrow(
  definitions: Definitions,
  def: DefinitionNode,
  members: ReadonlyMap<string, MemberNode>,
  permission: PermissionNode,
  expr: Extract<ExprNode, { kind: "arrow" }>,
  report: Report,
): void {
  const { tupleset, computed } = expr;
  const text = arrowText(tupleset.text, computed.text, expr.function?.text);
  if (expr.function && expr.function.text !== "any" && expr.function.text !== "all") {
    report(
      "schema/invalid-arrow-function",
      expr.function.span,
      `unknown arrow function \`${clip(expr.function.text)}\` in permission \`${clip(permission.name.text)}\`; use \`${clip(tupleset.text)}.any(${clip(computed.text)})\` (any subject grants) or \`${clip(tupleset.text)}.all(${clip(computed.text)})\` (every subject must grant)`,
    );
  }
  const relation = members.get(tupleset.text);
  if (!relation) {
    report(
      "schema/unknown-relation",
      tupleset.span,
      `\`${text}\` in permission \`${clip(permission.name.text)}\` walks \`${clip(tupleset.text)}\`, which is not a relation of \`${clip(def.name.text)}\`${suggest(tupleset.text, members.keys())}; declare the relation or fix the name`,
    );
    return;
  }
  if (relation.kind === "permission") {
    report(
      "schema/arrow-over-permission",
      tupleset.span,
      `\`${text}\` in permission \`${clip(permission.name.text)}\` walks \`${clip(tupleset.text)}\`, which is a permission; arrows and \`.any()\`/\`.all()\` must walk a relation, so point it at the relation(s) \`${clip(tupleset.text)}\` is built from`,
    );
    return;
  }
  const known: string[] = [];
  for (const subject of relation.allowed) {
    if (subject.wildcard) {
      report(
        "schema/arrow-over-wildcard",
        tupleset.span,
        `\`${text}\` in permission \`${clip(permission.name.text)}\` walks \`${clip(tupleset.text)}\`, which allows the wildcard \`${clip(subject.type.text)}:*\`; arrows cannot walk wildcards, use a relation without \`:*\``,
      );
      return;
    }
    if (definitions.has(subject.type.text)) known.push(subject.type.text);
  }
  if (known.length === 0) return;
  const found = known.some((type) => definitions.get(type)?.members.has(computed.text));
  if (!found) {
    const candidates = known.flatMap((type) => [...(definitions.get(type)?.members.keys() ?? [])]);
    const types = [...new Set(known)].map((t) => `\`${clip(t)}\``).join(", ");
    report(
      "schema/unknown-permission",
      computed.span,
      `\`${text}\` in permission \`${clip(permission.name.text)}\`: none of the types \`${clip(tupleset.text)}\` points to (${types}) has a relation or permission \`${clip(computed.text)}\`${suggest(computed.text, candidates)}; add it to one of them or fix the name`,
    );
  }
}

/** Reports each cycle of permissions that refer to one another directly (not through an arrow). */
function reportCycles(
  def: DefinitionNode,
  refs: ReadonlyMap<string, { name: NameNode }[]>,
  report: Report,
): void {
  const order = [...refs.keys()];
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const reported = new Set<string>();

  const visit = (name: string): void => {
    state.set(name, "active");
    stack.push(name);
    for (const ref of refs.get(name) ?? []) {
      const target = ref.name.text;
      const status = state.get(target);
      if (status === "active") {
        const cycle = stack.slice(stack.indexOf(target));
        const key = [...cycle].sort().join(",");
        if (!reported.has(key)) {
          reported.add(key);
          emit(cycle);
        }
      } else if (status === undefined && refs.has(target)) {
        visit(target);
      }
    }
    stack.pop();
    state.set(name, "done");
  };

  const emit = (cycle: string[]): void => {
    // Start the cycle at the permission declared first, so the report does not depend on walk order.
    const first = cycle.reduce((a, b) => (order.indexOf(a) <= order.indexOf(b) ? a : b));
    const start = cycle.indexOf(first);
    const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
    const nextName = rotated[1] ?? first;
    const ref = (refs.get(first) ?? []).find((r) => r.name.text === nextName);
    if (!ref) return;
    const path = [...rotated, first].map((n) => `\`${clip(n)}\``).join(" -> ");
    const message =
      rotated.length === 1
        ? `permission \`${clip(first)}\` of \`${clip(def.name.text)}\` refers to itself without walking a relation, so it can never be computed; remove the self-reference or walk a relation with an arrow`
        : `permissions of \`${clip(def.name.text)}\` refer to one another in a cycle (${path}) without walking a relation, so they can never be computed; break the cycle with a relation or an arrow`;
    report("schema/permission-cycle", ref.name.span, message);
  };

  for (const name of order) if (!state.has(name)) visit(name);
}
