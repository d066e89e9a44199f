/** `latch check RESOURCE PERMISSION SUBJECT`: one permission check, against a server or a database. */
import { Command } from "commander";
import type { ExplainNode } from "../../engine/index.js";
import {
  addDelegationOptions,
  addInProcessDecisionOptions,
  addTargetOptions,
  type DelegationFlags,
  delegationParams,
  type InProcessDecisionOptions,
  parseConsistency,
  parseJsonObject,
  printJson,
  printLine,
  type TargetOptions,
  withTarget,
} from "../options.js";

interface CheckOptions extends TargetOptions, DelegationFlags, InProcessDecisionOptions {
  readonly context?: string;
  readonly explain?: boolean;
  readonly consistency?: string;
  readonly consumeApproval?: boolean;
}

function renderExplain(node: ExplainNode, depth = 0): string[] {
  const caveats = (node.caveats ?? [])
    .map((c) => ` [${c.name}: ${c.result}${c.missing?.length ? ` missing ${c.missing.join(", ")}` : ""}]`)
    .join("");
  const line = `${"  ".repeat(depth)}${node.label} → ${node.state.toLowerCase()}${node.cached ? " (cached)" : ""}${caveats}`;
  return [line, ...(node.children ?? []).flatMap((child) => renderExplain(child, depth + 1))];
}

export function checkCommand(): Command {
  const command = new Command("check")
    .description("check whether a subject has a permission on a resource (exit code 0 whatever the answer)")
    .argument("<resource>", "e.g. document:q3")
    .argument("<permission>", "e.g. view")
    .argument("<subject>", "e.g. user:alice or group:eng#member")
    .option("--context <json>", "caveat context as a JSON object")
    .option("--explain", "print why the answer came out as it did")
    .option(
      "--consume-approval",
      "use up the single-use approval that makes this check allowed (the check made right before acting)",
    )
    .option(
      "--consistency <mode>",
      "minimize-latency | fully-consistent | at-least-as-fresh:TOKEN | at-exact-snapshot:TOKEN",
    );
  addDelegationOptions(command);
  addInProcessDecisionOptions(command);
  addTargetOptions(command);
  command.action(async (resource: string, permission: string, subject: string, options: CheckOptions) => {
    await withTarget(options, async (client) => {
      const context = parseJsonObject(options.context, "--context");
      const consistency = parseConsistency(options.consistency);
      const answer = await client.check({
        resource,
        permission,
        subject,
        ...(context === undefined ? {} : { context }),
        ...(consistency === undefined ? {} : { consistency }),
        ...(options.explain === true ? { explain: true } : {}),
        ...(options.consumeApproval === true ? { consumeApproval: true } : {}),
        ...delegationParams(options),
      });
      if (options.json === true) {
        printJson(answer);
        return;
      }
      printLine(
        answer.state === "CONDITIONAL"
          ? `conditional (missing context: ${answer.missing.join(", ")})`
          : answer.state === "APPROVAL_REQUIRED"
            ? `approval required (rule ${answer.approvalRule}): latch approvals request ${resource} ${permission} ${subject} --message ...`
            : answer.approvalId === undefined
              ? answer.state.toLowerCase()
              : `${answer.state.toLowerCase()} (approval ${answer.approvalId})`,
      );
      if (answer.explain !== undefined) for (const line of renderExplain(answer.explain)) printLine(line);
    });
  });
  return command;
}
