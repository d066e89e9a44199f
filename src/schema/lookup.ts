/** Small read helpers over the IR for the engine and the validation runner. */
import type { CompiledSchema, DefinitionDef, MemberDef } from "./ir.js";

export function getDefinition(schema: CompiledSchema, type: string): DefinitionDef | undefined {
  return schema.definitions.get(type);
}

export function getMember(schema: CompiledSchema, type: string, name: string): MemberDef | undefined {
  return schema.definitions.get(type)?.members.get(name);
}

/** Counts for summaries such as `latch schema check`. */
export interface SchemaStats {
  readonly definitions: number;
  readonly relations: number;
  readonly permissions: number;
  readonly caveats: number;
}

export function schemaStats(schema: CompiledSchema): SchemaStats {
  let relations = 0;
  let permissions = 0;
  for (const definition of schema.definitions.values()) {
    for (const member of definition.members.values()) {
      if (member.kind === "relation") relations++;
      else permissions++;
    }
  }
  return { definitions: schema.definitions.size, relations, permissions, caveats: schema.caveats.size };
}
