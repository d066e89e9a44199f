/**
 * `latch approvals`: human approval for high-risk actions (docs/approvals.md), against a server
 * (`--address`) or a database (`--db`, `--datastore`): write the rules, request an approval (and
 * wait for it), list and show requests, approve or deny one.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { Approval, ApprovalState } from "../../client/index.js";
import { LatchError } from "../../core/index.js";
import {
  addTargetOptions,
  parseJsonObject,
  positiveInt,
  printJson,
  printLine,
  type TargetOptions,
  UsageError,
  withTarget,
} from "../options.js";

const STATES: readonly ApprovalState[] = ["pending", "approved", "denied", "expired", "consumed"];

/** One line a person can read: id, state, what, who, why, and who decided. */
export function approvalLine(a: Approval): string {
  const chain = a.chain.length === 0 ? "" : ` for ${a.chain.join(" for ")}`;
  const decided =
    a.decidedBy === undefined ? "" : ` — ${a.state} by ${a.decidedBy}${a.reason ? `: ${a.reason}` : ""}`;
  const until = a.state === "pending" ? ` (expires ${new Date(a.expiresAt).toISOString()})` : "";
  return `${a.id} ${a.state}: ${a.subject}${chain} ${a.permission} on ${a.resource} [${a.ruleId}] "${a.message}"${decided}${until}`;
}

function withTargetOptions(command: Command): Command {
  addTargetOptions(command);
  return command;
}

function writeCommand(): Command {
  return withTargetOptions(
    new Command("write")
      .description("validate an approval rules file (YAML) against the schema and store it as a new version")
      .argument("<file>", "the rules file, e.g. rules.yaml"),
  ).action(async (file: string, options: TargetOptions) => {
    await withTarget(options, async (client) => {
      const text = readFileSync(file, "utf8");
      const written = await client.writeApprovalRules(text, { fileName: file });
      if (options.json === true) printJson(written);
      else
        printLine(`approval rules version ${written.version}: ${written.ruleIds.join(", ") || "no rules"}`);
    });
  });
}

interface RequestOptions extends TargetOptions {
  readonly onBehalfOf?: string[];
  readonly message?: string;
  readonly justification?: string;
  readonly context?: string;
  readonly wait?: boolean;
}

function requestCommand(): Command {
  return withTargetOptions(
    new Command("request")
      .description(
        "ask a person to approve a gated action; prints the approval id (with --wait, the decision)",
      )
      .argument("<resource>", "e.g. database:prod-orders")
      .argument("<permission>", "e.g. delete")
      .argument("<subject>", "e.g. agent:cleanup")
      .addOption(
        new Option(
          "--on-behalf-of <subject>",
          "the principal the subject acts for; repeat for a chain",
        ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
      )
      .requiredOption("--message <text>", "the short binding message the approver sees")
      .option("--justification <text>", "why the action is needed")
      .option("--context <json>", "the caveat context the action will use, as a JSON object")
      .option("--wait", "wait for the decision (or the expiry) and print it"),
  ).action(async (resource: string, permission: string, subject: string, options: RequestOptions) => {
    await withTarget(options, async (client) => {
      const context = parseJsonObject(options.context, "--context");
      const ticket = await client.requestApproval({
        resource,
        permission,
        subject,
        message: options.message ?? "",
        ...(options.onBehalfOf === undefined ? {} : { onBehalfOf: options.onBehalfOf }),
        ...(options.justification === undefined ? {} : { justification: options.justification }),
        ...(context === undefined ? {} : { context }),
      });
      const final = options.wait === true ? await client.awaitApproval(ticket.id) : undefined;
      if (options.json === true) printJson(final === undefined ? ticket : { ...ticket, approval: final });
      else {
        printLine(ticket.id);
        if (final !== undefined) printLine(approvalLine(final));
      }
      if (final !== undefined && final.state !== "approved") process.exitCode = 2;
    });
  });
}

interface ListOptions extends TargetOptions {
  readonly pending?: boolean;
  readonly state?: string;
  readonly resource?: string;
  readonly subject?: string;
  readonly limit?: string;
}

function listCommand(): Command {
  return withTargetOptions(
    new Command("list")
      .description("list approval requests, newest first")
      .option("--pending", "only pending requests (same as --state pending)")
      .addOption(new Option("--state <state>", "only requests in this state").choices(STATES))
      .option("--resource <object>", "only requests on this resource, e.g. database:prod-orders")
      .option("--subject <subject>", "only requests by this subject")
      .option("--limit <n>", "at most this many (default 100; a server lists 1,000 at most)"),
  ).action(async (options: ListOptions) => {
    await withTarget(options, async (client) => {
      if (options.pending === true && options.state !== undefined && options.state !== "pending")
        throw new UsageError("--pending and --state disagree: give one");
      const state = options.pending === true ? "pending" : (options.state as ApprovalState | undefined);
      const approvals = await client.listApprovals({
        ...(state === undefined ? {} : { state }),
        ...(options.resource === undefined ? {} : { resource: options.resource }),
        ...(options.subject === undefined ? {} : { subject: options.subject }),
        ...(options.limit === undefined ? {} : { limit: positiveInt(options.limit, "--limit") }),
      });
      if (options.json === true) printJson(approvals);
      else for (const a of approvals) printLine(approvalLine(a));
    });
  });
}

function showCommand(): Command {
  return withTargetOptions(
    new Command("show").description("show one approval request").argument("<id>", "the approval id"),
  ).action(async (id: string, options: TargetOptions) => {
    await withTarget(options, async (client) => {
      // Listed, not polled: a person looking must not trip the agent's slow_down clock.
      const approval = (await client.listApprovals({ id }))[0];
      if (approval === undefined)
        throw new LatchError("approval/not-found", "not-found", `no approval request has id ${id}`, { id });
      if (options.json === true) printJson(approval);
      else {
        printLine(approvalLine(approval));
        if (approval.justification !== "") printLine(`justification: ${approval.justification}`);
        if (Object.keys(approval.context).length > 0)
          printLine(`context: ${JSON.stringify(approval.context)}`);
        // Why the agent may act at all: the relationships that allowed its own check.
        if (approval.witness.length > 0) printLine(`witness: ${approval.witness.join(", ")}`);
      }
    });
  });
}

interface DecideOptions extends TargetOptions {
  readonly as: string;
  readonly reason?: string;
}

function decideCommand(name: "approve" | "deny"): Command {
  return withTargetOptions(
    new Command(name)
      .description(`${name} an approval request, as an approver (the rule's approver permission is checked)`)
      .argument("<id>", "the approval id")
      .requiredOption("--as <subject>", "the approver, e.g. user:olga")
      .option("--reason <text>", "why (recorded in the audit trail)"),
  ).action(async (id: string, options: DecideOptions) => {
    await withTarget(options, async (client) => {
      const approval = await client.decideApproval({
        id,
        approve: name === "approve",
        approver: options.as,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      });
      if (options.json === true) printJson(approval);
      else printLine(approvalLine(approval));
    });
  });
}

export function approvalsCommand(): Command {
  return new Command("approvals")
    .description("human approval for high-risk actions: rules, requests, decisions (docs/approvals.md)")
    .addCommand(writeCommand())
    .addCommand(requestCommand())
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(decideCommand("approve"))
    .addCommand(decideCommand("deny"));
}
