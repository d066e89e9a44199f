/**
 * `latch watch-permissions TYPE PERMISSION SUBJECT`: the resources the subject may use, then each
 * change as it happens (WatchPermissions), one line per event, until interrupted; with `--after
 * TOKEN`, the changes since a SYNCED token printed before instead of the whole set. Against a
 * server, or in process on a database (which then sees writes by other processes too).
 */
import { Command, Option } from "commander";
import {
  addDelegationOptions,
  addTargetOptions,
  type DelegationFlags,
  parseJsonObject,
  printJson,
  printLine,
  type TargetOptions,
  UsageError,
  withTarget,
} from "../options.js";

interface WatchOptions extends TargetOptions, DelegationFlags {
  readonly context?: string;
  readonly checkpoints?: boolean;
  readonly after?: string;
}

export function watchPermissionsCommand(): Command {
  const command = new Command("watch-permissions")
    .description(
      "print the resources of a type the subject has the permission on, then every change (ADDED, CONDITIONAL, REMOVED, SYNCED, RESYNC) until interrupted",
    )
    .argument("<type>", "resource type, e.g. document")
    .argument("<permission>", "e.g. read")
    .argument("<subject>", "e.g. user:alice or group:eng#member")
    .option("--context <json>", "caveat context as a JSON object")
    .addOption(new Option("--checkpoints", "also print SYNCED after every revision, even without changes"))
    .option(
      "--after <token>",
      "resume after a SYNCED token printed earlier: print the changes since then instead of the whole set (or RESYNC and the whole set)",
    );
  addDelegationOptions(command);
  addTargetOptions(command);
  command.action(async (type: string, permission: string, subject: string, options: WatchOptions) => {
    await withTarget(options, async (client) => {
      if (options.delegatedOnly === true || options.actorToken !== undefined) {
        throw new UsageError("watch-permissions takes --on-behalf-of, not --delegated-only or --actor-token");
      }
      const context = parseJsonObject(options.context, "--context");
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        const events = client.watchPermissions(
          {
            resourceType: type,
            permission,
            subject,
            ...(options.onBehalfOf === undefined ? {} : { onBehalfOf: options.onBehalfOf }),
            ...(context === undefined ? {} : { context }),
            ...(options.checkpoints === true ? { checkpoints: true } : {}),
            ...(options.after === undefined ? {} : { after: options.after }),
          },
          { signal: controller.signal },
        );
        for await (const e of events) {
          if (options.json === true) printJson(e);
          else if (e.resourceId === "") printLine(`${e.kind} ${e.token}`);
          else {
            const missing = e.missing.length > 0 ? ` (missing: ${e.missing.join(", ")})` : "";
            printLine(`${e.kind} ${e.resourceId}${missing}`);
          }
        }
      } catch (error) {
        // Interrupted: a clean end, not a failure.
        if (!controller.signal.aborted) throw error;
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
  });
  return command;
}
