/**
 * The syntax tree: what the author wrote, with source spans, before any name is resolved.
 * Binary expressions stay binary here (as parsed, left-associative); the compiler flattens them.
 */
import type { Span } from "./diagnostics.js";

export interface NameNode {
  readonly text: string;
  readonly span: Span;
}

export interface AllowedSubjectNode {
  readonly type: NameNode;
  readonly relation?: NameNode;
  /** Span of the `*` when the subject is a wildcard (`user:*`). */
  readonly wildcard?: Span;
  readonly caveat?: NameNode;
  /** Span of the `expiration` keyword in `with expiration` / `with c and expiration`. */
  readonly expiration?: Span;
  readonly span: Span;
}

export type ExprNode =
  | {
      readonly kind: "union" | "intersection" | "exclusion";
      readonly left: ExprNode;
      readonly right: ExprNode;
      readonly span: Span;
    }
  | { readonly kind: "identifier"; readonly name: NameNode; readonly span: Span }
  | { readonly kind: "nil"; readonly span: Span }
  | {
      readonly kind: "arrow";
      readonly tupleset: NameNode;
      readonly computed: NameNode;
      /** `->` and `.any()` are `any`; `.all()` is `all`. */
      readonly mode: "any" | "all";
      /** The function name of `rel.any(x)` / `rel.all(x)` as written; absent for `->`. */
      readonly function?: NameNode;
      readonly span: Span;
    };

export interface RelationNode {
  readonly kind: "relation";
  readonly name: NameNode;
  readonly allowed: readonly AllowedSubjectNode[];
  readonly comments: readonly string[];
  readonly trailingComment?: string;
  readonly span: Span;
}

export interface PermissionNode {
  readonly kind: "permission";
  readonly name: NameNode;
  readonly expr: ExprNode;
  readonly comments: readonly string[];
  readonly trailingComment?: string;
  readonly span: Span;
}

export type MemberNode = RelationNode | PermissionNode;

export interface DefinitionNode {
  readonly kind: "definition";
  readonly name: NameNode;
  readonly members: readonly MemberNode[];
  readonly comments: readonly string[];
  /** Comments after the last member, before the closing `}`. */
  readonly innerComments: readonly string[];
  readonly span: Span;
}

export interface TypeNode {
  readonly name: NameNode;
  readonly args: readonly TypeNode[];
  readonly span: Span;
}

export interface ParameterNode {
  readonly name: NameNode;
  readonly type: TypeNode;
  readonly span: Span;
}

export interface CaveatNode {
  readonly kind: "caveat";
  readonly name: NameNode;
  readonly parameters: readonly ParameterNode[];
  /** The CEL text between the braces, untouched. */
  readonly expression: string;
  /** Span of the raw CEL text in the schema. */
  readonly expressionSpan: Span;
  readonly comments: readonly string[];
  readonly span: Span;
}

export interface UseNode {
  readonly kind: "use";
  readonly flag: NameNode;
  readonly comments: readonly string[];
  readonly span: Span;
}

export type StatementNode = DefinitionNode | CaveatNode | UseNode;

export interface SchemaAst {
  readonly kind: "schema";
  readonly statements: readonly StatementNode[];
  /** Comments after the last statement. */
  readonly trailingComments: readonly string[];
}

/** Renders a type node back to its compact text: `map<list<int>>`. */
export function typeText(node: TypeNode): string {
  return node.args.length === 0 ? node.name.text : `${node.name.text}<${node.args.map(typeText).join(", ")}>`;
}
