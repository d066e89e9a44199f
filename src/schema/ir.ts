/**
 * The compiled, resolved and immutable form of a schema. This is all the engine ever sees: every
 * name here has been checked to exist, every caveat type-checked and compiled.
 */
import type { CompiledCondition, ParameterType } from "../conditions/index.js";

/** One allowed subject type on a relation: `user`, `group#member`, `user:*`, `user with c and expiration`. */
export interface AllowedSubject {
  readonly type: string;
  /** Subject relation for subject sets (`group#member`); absent for plain objects and wildcards. */
  readonly relation?: string;
  readonly wildcard: boolean;
  /** Caveat required on relationships of this allowed type. */
  readonly caveat?: string;
  readonly expiration: boolean;
}

export interface RelationDef {
  readonly kind: "relation";
  readonly name: string;
  readonly definition: string;
  readonly allowed: readonly AllowedSubject[];
  readonly comment?: string;
}

export type PermissionExpr =
  | { readonly kind: "union"; readonly children: readonly PermissionExpr[] }
  | { readonly kind: "intersection"; readonly children: readonly PermissionExpr[] }
  /** `base - subtract`; `a - b - c` is `(a - b) - c`. */
  | { readonly kind: "exclusion"; readonly base: PermissionExpr; readonly subtract: PermissionExpr }
  /** A relation or permission on the same object. */
  | { readonly kind: "computed"; readonly name: string }
  /**
   * `tupleset->computed` (mode `any`, the same as `.any()`) or `tupleset.all(computed)`: follow
   * the relation `tupleset` to its subjects and evaluate `computed` on each of them.
   */
  | {
      readonly kind: "arrow";
      readonly tupleset: string;
      readonly computed: string;
      readonly mode: "any" | "all";
    }
  | { readonly kind: "nil" };

export interface PermissionDef {
  readonly kind: "permission";
  readonly name: string;
  readonly definition: string;
  readonly expr: PermissionExpr;
  readonly comment?: string;
}

export type MemberDef = RelationDef | PermissionDef;

export interface DefinitionDef {
  /** Full name including any namespace prefix: `acme/document`. */
  readonly name: string;
  /** Relations and permissions by name, in source order. */
  readonly members: ReadonlyMap<string, MemberDef>;
  readonly comment?: string;
}

export interface CaveatDef {
  readonly name: string;
  readonly parameters: ReadonlyMap<string, ParameterType>;
  readonly expression: string;
  readonly condition: CompiledCondition;
  readonly comment?: string;
}

export interface CompiledSchema {
  readonly definitions: ReadonlyMap<string, DefinitionDef>;
  readonly caveats: ReadonlyMap<string, CaveatDef>;
  /** Whether the schema says `use expiration`. */
  readonly useExpiration: boolean;
  /** Stable hash of the canonical form: equal schemas hash equal regardless of formatting. */
  readonly hash: string;
}
