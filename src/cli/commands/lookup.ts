/**
 * `latch lookup resources TYPE PERMISSION SUBJECT` and `latch lookup subjects RESOURCE PERMISSION
 * SUBJECT-TYPE`: every resource a subject may reach, every subject that may reach a resource,
 * printed one per line as they stream in, against a server or a database like `latch check`.
 */
import { Command } from "commander";
import type { SubjectExclusion } from "../../client/index.js";
import type { SubjectRef } from "../../core/index.js";
import { isLatchError } from "../../core/index.js";
import {
  addDelegationOptions,
  addInProcessDecisionOptions,
  addTargetOptions,
  type DelegationFlags,
  delegationParams,
  type InProcessDecisionOptions,
  parseConsistency,
  parseJsonObject,
  positiveInt,
  printJson,
  printLine,
  type TargetOptions,
  UsageError,
  withTarget,
} from "../options.js";

interface LookupOptions extends TargetOptions {
  readonly context?: string;
  readonly consistency?: string;
}

interface PageOptions {
  readonly limit?: string;
  readonly cursor?: string;
}

interface ResourcesOptions extends LookupOptions, PageOptions, DelegationFlags, InProcessDecisionOptions {}

function pageParams(options: PageOptions) {
  return {
    ...(options.limit === undefined ? {} : { limit: positiveInt(options.limit, "--limit") }),
    ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
  };
}

function stateText(state: "ALLOWED" | "CONDITIONAL", missing: readonly string[]): string {
  return state === "CONDITIONAL" ? `conditional (missing: ${missing.join(", ")})` : "allowed";
}

function subjectText(s: SubjectRef): string {
  return `${s.type}:${s.id}${s.relation === undefined ? "" : `#${s.relation}`}`;
}

/** `user:bob`, or `user:bob (conditional: missing x)` when caveats decide whether he is excluded. */
function exclusionText(e: SubjectExclusion): string {
  if (e.state === "EXCLUDED") return subjectText(e);
  const missing = e.missing.length > 0 ? `: missing ${e.missing.join(", ")}` : "";
  return `${subjectText(e)} (conditional${missing})`;
}

function commonOptions(command: Command): Command {
  command
    .option("--context <json>", "caveat context as a JSON object")
    .option(
      "--consistency <mode>",
      "minimize-latency | fully-consistent | at-least-as-fresh:TOKEN | at-exact-snapshot:TOKEN",
    );
  return addTargetOptions(command);
}

function shared(options: LookupOptions) {
  const context = parseJsonObject(options.context, "--context");
  const consistency = parseConsistency(options.consistency);
  return {
    ...(context === undefined ? {} : { context }),
    ...(consistency === undefined ? {} : { consistency }),
  };
}

/**
 * Results already printed stay printed; a deadline adds how to go on from the last one, so that
 * a shorter list is never mistaken for the whole answer.
 */
function resumeHint(error: unknown, json: boolean | undefined): void {
  if (json === true || !isLatchError(error) || error.kind !== "deadline-exceeded") return;
  const cursor = error.details.cursor;
  if (typeof cursor === "string") process.stderr.write(`incomplete: resume with --cursor ${cursor}\n`);
}

function resourcesCommand(): Command {
  const command = new Command("resources")
    .description("list the resources of a type on which the subject has the permission")
    .argument("<type>", "resource type, e.g. document")
    .argument("<permission>", "e.g. view")
    .argument("<subject>", "e.g. user:alice or group:eng#member")
    .option("--limit <n>", "stop after this many results (each carries a cursor to go on)")
    .option("--cursor <cursor>", "continue after the result this cursor came with");
  addDelegationOptions(command);
  addInProcessDecisionOptions(command);
  commonOptions(command);
  command.action(async (type: string, permission: string, subject: string, options: ResourcesOptions) => {
    await withTarget(options, async (client) => {
      const params = {
        resourceType: type,
        permission,
        subject,
        ...shared(options),
        ...pageParams(options),
        ...delegationParams(options),
      };
      try {
        for await (const r of client.lookupResources(params)) {
          if (options.json === true) printJson(r);
          else printLine(`${r.resourceId} ${stateText(r.state, r.missing)}`);
        }
      } catch (error) {
        resumeHint(error, options.json);
        throw error;
      }
    });
  });
  return command;
}

function subjectsCommand(): Command {
  const command = new Command("subjects")
    .description("list the subjects of a type that have the permission on a resource")
    .argument("<resource>", "e.g. document:q3")
    .argument("<permission>", "e.g. view")
    .argument("<subject-type>", "e.g. user, or group#member for subject sets")
    .option("--limit <n>", "stop after this many concrete subjects (each carries a cursor to go on)")
    .option("--cursor <cursor>", "continue after the result this cursor came with");
  commonOptions(command);
  command.action(
    async (
      resource: string,
      permission: string,
      subjectType: string,
      options: LookupOptions & PageOptions,
    ) => {
      await withTarget(options, async (client) => {
        const [type, relation, ...rest] = subjectType.split("#");
        if (type === undefined || type === "" || relation === "" || rest.length > 0) {
          throw new UsageError(`<subject-type> must be TYPE or TYPE#RELATION, got "${subjectType}"`);
        }
        const results = client.lookupSubjects({
          resource,
          permission,
          subjectType: type,
          ...(relation === undefined ? {} : { subjectRelation: relation }),
          ...shared(options),
          ...pageParams(options),
        });
        try {
          for await (const s of results) {
            if (options.json === true) {
              printJson(s);
              continue;
            }
            const excluded = s.excluded ?? [];
            // A wildcard with exclusions reads as the wildcard "except" them; allowed is implied.
            const state =
              excluded.length > 0 && s.state === "ALLOWED" ? "" : ` ${stateText(s.state, s.missing)}`;
            const except = excluded.length > 0 ? ` except ${excluded.map(exclusionText).join(", ")}` : "";
            printLine(`${subjectText(s.subject)}${state}${except}`);
          }
        } catch (error) {
          resumeHint(error, options.json);
          throw error;
        }
      });
    },
  );
  return command;
}

export function lookupCommand(): Command {
  return new Command("lookup")
    .description("list resources a subject may reach, or subjects that may reach a resource")
    .addCommand(resourcesCommand())
    .addCommand(subjectsCommand());
}
