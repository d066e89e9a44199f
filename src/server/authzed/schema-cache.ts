/**
 * The stored schema compiled once for every authzed handler (relationship writes and reads,
 * schema reflection, Watch filters): they read the schema per call, and its text rarely changes.
 * Keyed by text, so tenants with different schemas, and revisions with the same text, share it.
 */

import { type CompiledSchema, compileSchema } from "../../schema/index.js";
import type { StoreReader } from "../../store/index.js";

const KEPT = 16;
const byText = new Map<string, CompiledSchema>();

/** `text` compiled; the empty schema for none. */
export function compiledSchema(text: string | undefined): CompiledSchema {
  const key = text ?? "";
  let schema = byText.get(key);
  if (schema === undefined) {
    schema = compileSchema(key);
    byText.set(key, schema);
    if (byText.size > KEPT) byText.delete(byText.keys().next().value!);
  }
  return schema;
}

/** The compiled schema a reader sees, undefined when none was written. */
export async function schemaAt(reader: StoreReader): Promise<CompiledSchema | undefined> {
  const stored = await reader.readSchema();
  return stored === undefined ? undefined : compiledSchema(stored.text);
}
