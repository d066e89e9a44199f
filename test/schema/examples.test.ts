import { describe, expect, it } from "vitest";
import { compileSchema, formatSchema, getMember, schemaStats } from "../../src/schema/index.js";
import { exampleSchemas } from "./helpers.js";

describe("example schemas in schemas/", () => {
  const examples = exampleSchemas();

  it("includes the RAG, docs and GitHub models", () => {
    expect(examples.map((e) => e.file)).toEqual(
      expect.arrayContaining(["rag.zed", "docs.zed", "github.zed"]),
    );
  });

  for (const { file, schema } of examples) {
    it(`${file} compiles, round-trips and keeps its hash when formatted`, () => {
      const compiled = compileSchema(schema, { file });
      const stats = schemaStats(compiled);
      expect(stats.definitions).toBeGreaterThan(2);
      expect(stats.permissions).toBeGreaterThan(2);
      const formatted = formatSchema(schema);
      expect(formatSchema(formatted)).toBe(formatted);
      expect(compileSchema(formatted).hash).toBe(compiled.hash);
    });
  }

  it("rag.zed bounds an agent by its owner: agent_read intersects grant and delegated read", () => {
    const rag = examples.find((e) => e.file === "rag.zed");
    expect(rag).toBeDefined();
    const compiled = compileSchema(rag!.schema);
    expect(compiled.useExpiration).toBe(true);
    expect([...compiled.caveats.keys()].sort()).toEqual([
      // The scoped delegation of on-behalf-of requests (docs/delegation.md, issue 14).
      "delegation_scope",
      "purpose_allowed",
      "sensitivity_cleared",
      "within_window",
    ]);
    const agentRead = getMember(compiled, "document", "agent_read");
    expect(agentRead?.kind).toBe("permission");
    const text = JSON.stringify(agentRead);
    expect(text).toContain('"intersection"');
    expect(text).toContain('"agent_delegated_read"');
    expect(getMember(compiled, "agent", "owner")?.kind).toBe("relation");
  });
});
