/** `latch validate FILE...`: run SpiceDB validation files against Latch's engine. */
import { Command } from "commander";

export function validateCommand(): Command {
  return new Command("validate")
    .description(
      "load each validation file (schema, relationships, assertions, expected relations) into an in-memory store and check every assertion",
    )
    .argument("<files...>", "validation files (.yaml)")
    .action(async (files: string[]) => {
      // Loaded when the command runs: validation brings the engine, the YAML parser and a store.
      const { formatReport, reportFailed, runValidationFile } = await import("../../validation/index.js");
      let failed = 0;
      for (const file of files) {
        try {
          const report = await runValidationFile(file);
          const text = formatReport(report);
          if (reportFailed(report)) {
            failed++;
            process.stderr.write(`${text}\n`);
          } else process.stdout.write(`${text}\n`);
        } catch (error) {
          failed++;
          const reason = error instanceof Error ? error.message : String(error);
          process.stderr.write(`${file}: ${reason}\n`);
        }
      }
      if (failed > 0) process.exitCode = 1;
    });
}
