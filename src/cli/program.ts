/**
 * The `latch` program. Each command lives in `commands/` and is wired here, the only place (with
 * the server and the client) that puts concrete parts together.
 */
import { Command } from "commander";
import { approvalsCommand } from "./commands/approvals.js";
import { auditCommand } from "./commands/audit.js";
import { benchCommand } from "./commands/bench.js";
import { checkCommand } from "./commands/check.js";
import { backupCommand, gcCommand } from "./commands/gc.js";
import { lookupCommand } from "./commands/lookup.js";
import { migrateCommand } from "./commands/migrate.js";
import { postureCommand } from "./commands/posture.js";
import { relationshipsCommand } from "./commands/relationships.js";
import { schemaCommand } from "./commands/schema.js";
import { addRemoteSchemaCommands } from "./commands/schema-remote.js";
import { serveCommand } from "./commands/serve.js";
import { signalsCommand } from "./commands/signals.js";
import { validateCommand } from "./commands/validate.js";
import { watchPermissionsCommand } from "./commands/watch-permissions.js";
import { VERSION } from "./version.js";

export function createProgram(): Command {
  const program = new Command("latch")
    .description(
      "Fine-grained authorization: relationships and CEL conditions in the SpiceDB schema language",
    )
    .version(VERSION)
    .showHelpAfterError();
  program.addCommand(serveCommand());
  program.addCommand(checkCommand());
  program.addCommand(lookupCommand());
  program.addCommand(watchPermissionsCommand());
  program.addCommand(relationshipsCommand());
  program.addCommand(addRemoteSchemaCommands(schemaCommand()));
  program.addCommand(validateCommand());
  program.addCommand(migrateCommand());
  program.addCommand(auditCommand());
  program.addCommand(approvalsCommand());
  program.addCommand(postureCommand());
  program.addCommand(signalsCommand());
  program.addCommand(benchCommand());
  program.addCommand(gcCommand());
  program.addCommand(backupCommand());
  return program;
}
