/**
 * `latch bench`: load against any running server (or a database in process). It samples stored
 * relationships of one resource type, turns each into a check that should be allowed and pairs
 * resources with other subjects for checks that mostly are not, then keeps N calls in flight for
 * a fixed time and prints per-method percentiles. Read-only unless `--writes` is given.
 */
import { Command } from "commander";
import type { CheckParams } from "../../client/index.js";
import type { Relationship } from "../../core/index.js";
import type { LoadOperation } from "../load/index.js";
import {
  addTargetOptions,
  positiveInt,
  printJson,
  printLine,
  type TargetOptions,
  withTarget,
} from "../options.js";

interface BenchOptions extends TargetOptions {
  readonly resourceType: string;
  readonly permission: string;
  readonly concurrency: string;
  readonly duration: string;
  readonly sample: string;
  readonly writes?: boolean;
}

export function benchCommand(): Command {
  const command = new Command("bench")
    .description(
      "drive checks, bulk checks and lookups against a server for a fixed time and print latency percentiles",
    )
    .option("--resource-type <type>", "resource type to sample relationships of", "document")
    .option("--permission <name>", "permission to check on those resources", "view")
    .option("--concurrency <n>", "calls in flight", "64")
    .option("--duration <seconds>", "how long to run", "10")
    .option("--sample <n>", "relationships sampled to build the checks", "2000")
    .option(
      "--writes",
      "also touch relationships (re-touch sampled relationships: real writes, no data change)",
    );
  addTargetOptions(command);
  command.action(async (options: BenchOptions) => {
    await withTarget(
      options,
      async (client) => {
        const sample = positiveInt(options.sample, "--sample");
        const checks: CheckParams[] = [];
        const sampled: Relationship[] = [];
        for await (const item of client.readRelationships({
          filter: { resourceType: options.resourceType },
          limit: sample,
        })) {
          sampled.push(item.relationship);
          checks.push({
            resource: item.relationship.resource,
            permission: options.permission,
            subject: item.relationship.subject,
          });
          if (checks.length >= sample) break;
        }
        if (checks.length === 0)
          throw new Error(`no ${options.resourceType} relationships stored: nothing to check`);
        // Resources paired with another sample's subject: mostly denied, as most real checks are.
        const size = checks.length;
        for (let i = 0; i < size; i++) {
          checks.push({ ...checks[i]!, subject: checks[(i * 7919 + 13) % size]!.subject });
        }
        const subjects = checks
          .map((c) => c.subject)
          .filter((s) => typeof s === "object" && s.relation === undefined);
        const operations: LoadOperation[] = [
          { name: "check", weight: 85, run: (i) => client.check(checks[i % checks.length]!) },
          {
            name: "checkBulk/100",
            weight: 8,
            run: (i) => client.checkBulk({ items: checks.slice(i % size, (i % size) + 100) }),
          },
          {
            name: "lookupResources",
            weight: subjects.length > 0 ? 2 : 0,
            run: async (i) => {
              const subject = subjects[i % subjects.length]!;
              for await (const _ of client.lookupResources({
                resourceType: options.resourceType,
                permission: options.permission,
                subject,
              })) {
                // The whole answer is the unit of work.
              }
            },
          },
        ];
        if (options.writes === true) {
          // Touching a stored relationship again goes through the whole write path and changes nothing.
          operations.push({
            name: "write",
            weight: 5,
            run: (i) =>
              client.writeRelationships({
                updates: [{ operation: "touch", relationship: sampled[i % sampled.length]! }],
              }),
          });
        }
        const { markdownTable, runLoad } = await import("../load/index.js");
        const outcome = await runLoad(operations, {
          concurrency: positiveInt(options.concurrency, "--concurrency"),
          durationMs: positiveInt(options.duration, "--duration") * 1000,
        });
        if (options.json === true) {
          printJson(outcome);
          return;
        }
        printLine(markdownTable(outcome.results));
        for (const [error, count] of Object.entries(outcome.errors)) printLine(`errors: ${count} × ${error}`);
      },
      { longLived: true },
    );
  });
  return command;
}
