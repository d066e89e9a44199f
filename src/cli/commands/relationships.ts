/** `latch relationships write|delete|read|import|export`, against a server or a database. */
import { once } from "node:events";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Command, Option } from "commander";
import type { UpdateInput } from "../../client/index.js";
import { formatRelationship, parseRelationship, type Relationship } from "../../core/index.js";
import type { RelationshipFilter, SubjectFilter } from "../../store/index.js";
import {
  addTargetOptions,
  parseConsistency,
  positiveInt,
  printJson,
  printLine,
  type TargetOptions,
  UsageError,
  withTarget,
} from "../options.js";

interface FilterOptions extends TargetOptions {
  readonly id?: string;
  readonly idPrefix?: string;
  readonly relation?: string;
  readonly subject?: string;
  readonly caveat?: string;
  readonly limit?: string;
  readonly consistency?: string;
}

/** `user`, `user:alice`, `group:eng#member`, `group#member` (any id), `user#` (no relation). */
function parseSubjectFilter(text: string): SubjectFilter {
  const m = /^([^:#]+)(?::([^#]+))?(?:#(.*))?$/.exec(text);
  if (m === null) throw new UsageError(`--subject must look like type[:id][#relation], got "${text}"`);
  return {
    type: m[1]!,
    ...(m[2] === undefined ? {} : { id: m[2] }),
    ...(m[3] === undefined ? {} : { relation: m[3] === "..." ? "" : m[3] }),
  };
}

function filterOf(resourceType: string, options: FilterOptions): RelationshipFilter {
  return {
    resourceType,
    ...(options.id === undefined ? {} : { resourceId: options.id }),
    ...(options.idPrefix === undefined ? {} : { resourceIdPrefix: options.idPrefix }),
    ...(options.relation === undefined ? {} : { relation: options.relation }),
    ...(options.subject === undefined ? {} : { subject: parseSubjectFilter(options.subject) }),
    ...(options.caveat === undefined ? {} : { caveatName: options.caveat }),
  };
}

function addFilterOptions(command: Command): Command {
  return command
    .argument("<resource-type>", "e.g. document")
    .option("--id <id>", "only this resource id")
    .option("--id-prefix <prefix>", "only resource ids starting with this")
    .option("--relation <relation>", "only this relation")
    .option("--subject <subject>", "only this subject: type[:id][#relation]")
    .option("--caveat <name>", "only relationships with this caveat");
}

/** One relationship per line; blank lines and `#` or `//` comments are skipped. */
function relationshipLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith("//"));
}

async function* readLines(file: string): AsyncIterable<{ line: string; number: number }> {
  const input = file === "-" ? process.stdin : createReadStream(file, "utf8");
  let number = 0;
  for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    number++;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("//")) continue;
    yield { line, number };
  }
}

function countLines(file: string): number | undefined {
  if (file === "-") return undefined;
  return relationshipLines(readFileSync(file, "utf8")).length;
}

function writeCommand(): Command {
  const command = new Command("write")
    .description("write relationships given as arguments (or one per line from --file, '-' for stdin)")
    .argument("[relationships...]", "e.g. document:q3#viewer@user:alice")
    .addOption(
      new Option("--operation <op>", "what to do with each relationship")
        .choices(["touch", "create", "delete"])
        .default("touch"),
    )
    .option("--file <file>", "read relationships from this file, one per line");
  addTargetOptions(command);
  command.action(
    async (
      args: string[],
      options: TargetOptions & { operation: UpdateInput["operation"]; file?: string },
    ) => {
      await withTarget(options, async (client) => {
        const texts = [
          ...args,
          ...(options.file === undefined
            ? []
            : relationshipLines(readFileSync(options.file === "-" ? 0 : options.file, "utf8"))),
        ];
        if (texts.length === 0) throw new UsageError("no relationship given");
        const updates = texts.map((text) => ({
          operation: options.operation,
          relationship: parseRelationship(text),
        }));
        const { token } = await client.writeRelationships({ updates });
        if (options.json === true) printJson({ written: updates.length, token });
        else
          printLine(`${options.operation === "delete" ? "deleted" : "wrote"} ${updates.length} at ${token}`);
      });
    },
  );
  return command;
}

function deleteCommand(): Command {
  const command = addFilterOptions(
    new Command("delete").description("delete every relationship matching a filter"),
  ).option("--limit <n>", "delete at most this many");
  addTargetOptions(command);
  command.action(async (resourceType: string, options: FilterOptions) => {
    await withTarget(options, async (client) => {
      const { deleted, token } = await client.deleteRelationships({
        filter: filterOf(resourceType, options),
        ...(options.limit === undefined ? {} : { limit: positiveInt(options.limit, "--limit") }),
      });
      if (options.json === true) printJson({ deleted, token });
      else printLine(`deleted ${deleted} at ${token}`);
    });
  });
  return command;
}

function readCommand(): Command {
  const command = addFilterOptions(
    new Command("read").description("print the relationships matching a filter, one per line"),
  )
    .option("--limit <n>", "print at most this many")
    .option("--cursor <cursor>", "continue after a previous page")
    .option(
      "--consistency <mode>",
      "minimize-latency | fully-consistent | at-least-as-fresh:T | at-exact-snapshot:T",
    );
  addTargetOptions(command);
  command.action(async (resourceType: string, options: FilterOptions & { cursor?: string }) => {
    await withTarget(options, async (client) => {
      const consistency = parseConsistency(options.consistency);
      for await (const item of client.readRelationships({
        filter: filterOf(resourceType, options),
        ...(consistency === undefined ? {} : { consistency }),
        ...(options.limit === undefined ? {} : { limit: positiveInt(options.limit, "--limit") }),
        ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
      })) {
        if (options.json === true) {
          printJson({
            relationship: formatRelationship(item.relationship),
            token: item.token,
            ...(item.cursor === undefined ? {} : { cursor: item.cursor }),
          });
        } else {
          printLine(formatRelationship(item.relationship));
        }
      }
    });
  });
  return command;
}

function importCommand(): Command {
  const command = new Command("import")
    .description("bulk-load relationships from a file, one per line ('-' for stdin)")
    .argument("<file>", "relationship file")
    .option("--batch-size <n>", "relationships per message", "1000")
    .option("--no-progress", "no progress bar");
  addTargetOptions(command);
  command.action(async (file: string, options: TargetOptions & { batchSize: string; progress: boolean }) => {
    await withTarget(options, async (client) => {
      const batchSize = positiveInt(options.batchSize, "--batch-size");
      const total = countLines(file);
      const showBar = options.progress && options.json !== true && process.stderr.isTTY === true;
      // The progress bar's package is loaded only when a bar is shown.
      const bar = showBar
        ? new (await import("cli-progress")).SingleBar({
            format: "importing [{bar}] {value}/{total} relationships {percentage}% | {eta_formatted} left",
            stream: process.stderr,
          })
        : undefined;
      bar?.start(total ?? 0, 0);
      let sent = 0;
      async function* relationships(): AsyncIterable<Relationship> {
        for await (const { line, number } of readLines(file)) {
          let relationship: Relationship;
          try {
            relationship = parseRelationship(line);
          } catch (error) {
            throw new UsageError(`${file}:${number}: ${(error as Error).message}`);
          }
          yield relationship;
          sent++;
          if (bar !== undefined && sent % 500 === 0) bar.update(sent);
        }
      }
      try {
        const { count, token } = await client.importRelationships(relationships(), { batchSize });
        bar?.update(sent);
        bar?.stop();
        if (options.json === true) printJson({ imported: count, token });
        else printLine(`imported ${count} relationships at ${token}`);
      } finally {
        bar?.stop();
      }
    });
  });
  return command;
}

function exportCommand(): Command {
  const command = new Command("export")
    .description("print every relationship, one per line (import reads this format back)")
    .option("--output <file>", "write to this file instead of stdout")
    .option(
      "--consistency <mode>",
      "minimize-latency | fully-consistent | at-least-as-fresh:T | at-exact-snapshot:T",
    );
  addTargetOptions(command);
  command.action(async (options: TargetOptions & { output?: string; consistency?: string }) => {
    await withTarget(options, async (client) => {
      const consistency = parseConsistency(options.consistency);
      const out = options.output === undefined ? process.stdout : createWriteStream(options.output);
      let count = 0;
      let token = "";
      for await (const batch of client.exportRelationships(
        consistency === undefined ? {} : { consistency },
      )) {
        token = batch.token;
        const text = batch.relationships
          .map((r) =>
            options.json === true
              ? JSON.stringify({ relationship: formatRelationship(r) })
              : formatRelationship(r),
          )
          .join("\n");
        if (text !== "" && !out.write(`${text}\n`)) await once(out, "drain");
        count += batch.relationships.length;
      }
      if (out !== process.stdout) {
        await new Promise<void>((resolve, reject) =>
          out.end((error?: Error | null) => (error ? reject(error) : resolve())),
        );
        process.stderr.write(`exported ${count} relationships at ${token}\n`);
      }
    });
  });
  return command;
}

export function relationshipsCommand(): Command {
  const command = new Command("relationships").description(
    "write, delete, read, import and export relationships on a server (--address) or a database (--db)",
  );
  command.addCommand(writeCommand());
  command.addCommand(deleteCommand());
  command.addCommand(readCommand());
  command.addCommand(importCommand());
  command.addCommand(exportCommand());
  return command;
}
