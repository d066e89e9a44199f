/** `latch schema write FILE` and `latch schema read`, against a server or a database. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { addTargetOptions, printJson, type TargetOptions, withTarget } from "../options.js";

export function addRemoteSchemaCommands(schemaCmd: Command): Command {
  const write = new Command("write")
    .description("validate and store a schema on a server (--address) or a database (--db)")
    .argument("<file>", "schema file (.zed), '-' for stdin");
  addTargetOptions(write);
  write.action(async (file: string, options: TargetOptions) => {
    await withTarget(options, async (client) => {
      const text = readFileSync(file === "-" ? 0 : file, "utf8");
      const { token } = await client.writeSchema(text);
      if (options.json === true) printJson({ token });
      else process.stdout.write(`schema written at ${token}\n`);
    });
  });

  const read = new Command("read").description("print the stored schema");
  addTargetOptions(read);
  read.action(async (options: TargetOptions) => {
    await withTarget(options, async (client) => {
      const { schema, token } = await client.readSchema();
      if (options.json === true) printJson({ schema, token });
      else process.stdout.write(schema.endsWith("\n") ? schema : `${schema}\n`);
    });
  });

  schemaCmd.addCommand(write);
  schemaCmd.addCommand(read);
  return schemaCmd;
}
