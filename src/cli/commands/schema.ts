/** `latch schema check FILE...` and `latch schema format FILE`. */
import { readFileSync } from "node:fs";
import { Command } from "commander";

/** The schema compiler, loaded by the command that runs rather than by every `latch` start. */
const loadSchema = () => import("../../schema/index.js");

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${file}: cannot read the file: ${reason}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

function reportFailure(
  { SchemaError, renderDiagnostics }: Awaited<ReturnType<typeof loadSchema>>,
  file: string,
  error: unknown,
): void {
  if (error instanceof SchemaError) {
    process.stderr.write(`${renderDiagnostics(error.diagnostics)}\n`);
    const shown = error.diagnostics.length;
    const total = error.diagnosticCount;
    process.stderr.write(`${file}: ${total} error(s)${total > shown ? ` (the first ${shown} shown)` : ""}\n`);
  } else {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${file}: ${reason}\n`);
  }
  process.exitCode = 1;
}

export function schemaCommand(): Command {
  const command = new Command("schema").description(
    "check and format schema files (SpiceDB schema language)",
  );

  command
    .command("check")
    .description("compile each schema file and print a summary line per file, or its errors")
    .argument("<files...>", "schema files (.zed)")
    .action(async (files: string[]) => {
      const schema = await loadSchema();
      const { compileSchema, schemaStats } = schema;
      for (const file of files) {
        const text = readText(file);
        if (text === undefined) continue;
        try {
          const stats = schemaStats(compileSchema(text, { file }));
          process.stdout.write(
            `${file}: ${stats.definitions} definitions, ${stats.relations} relations, ` +
              `${stats.permissions} permissions, ${stats.caveats} caveats\n`,
          );
        } catch (error) {
          reportFailure(schema, file, error);
        }
      }
    });

  command
    .command("format")
    .description("print the canonical formatting of a schema file")
    .argument("<file>", "schema file (.zed)")
    .action(async (file: string) => {
      const text = readText(file);
      if (text === undefined) return;
      const schema = await loadSchema();
      try {
        process.stdout.write(schema.formatSchema(text, { file }));
      } catch (error) {
        reportFailure(schema, file, error);
      }
    });

  return command;
}
