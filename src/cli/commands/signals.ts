/**
 * `latch signals`: security signals in (docs/signals.md), against a server (`--address`, through
 * SignalService) or a database (`--db`, `--datastore`, with the transmitter's `--ssf-*` flags and
 * `--signal-rules`): send one Security Event Token, list what was received and done.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { ReceivedSignal, SignalEffect } from "../../client/index.js";
import { addSharedFlags } from "../audit-flags.js";
import {
  addTargetOptions,
  positiveInt,
  printJson,
  printLine,
  type TargetOptions,
  withTarget,
} from "../options.js";
import { SIGNAL_FLAGS, type SignalFlags } from "../signal-flags.js";

function effectLine(e: SignalEffect): string {
  const what = e.action === "ignored" ? `ignored (${e.note ?? ""})` : `${e.action} ${e.subject ?? ""}`;
  const deleted = e.deleted === undefined ? "" : `, ${e.deleted} relationship(s) deleted`;
  return `  ${e.event}: ${what}${deleted}`;
}

function signalLine(s: ReceivedSignal): string {
  return `${new Date(s.receivedAt).toISOString()} ${s.issuer} jti=${s.jti} via ${s.via} at ${s.revisionToken}`;
}

function sendCommand(): Command {
  const command = new Command("send")
    .description("verify and apply one Security Event Token (a file holding the compact JWS)")
    .argument("<file>", "the SET, e.g. event.jwt");
  addTargetOptions(command);
  addSharedFlags(command, SIGNAL_FLAGS, "in-process");
  return command.action(async (file: string, options: TargetOptions & SignalFlags) => {
    await withTarget(options, async (client) => {
      const answer = await client.sendSignal(readFileSync(file, "utf8").trim());
      if (options.json === true) printJson(answer);
      else {
        printLine(`applied ${answer.jti} from ${answer.issuer} at ${answer.revisionToken}`);
        for (const e of answer.effects) printLine(effectLine(e));
      }
    });
  });
}

function listCommand(): Command {
  const command = new Command("list")
    .description("the signals received, newest first, with what each did")
    .option("--limit <n>", "most signals listed (default 100; a server lists 1,000 at most)");
  addTargetOptions(command);
  return command.action(async (options: TargetOptions & { limit?: string }) => {
    await withTarget(options, async (client) => {
      const signals = await client.listSignals(
        options.limit === undefined ? {} : { limit: positiveInt(options.limit, "--limit") },
      );
      if (options.json === true) printJson(signals);
      else {
        if (signals.length === 0) printLine("no signals received");
        for (const s of signals) {
          printLine(signalLine(s));
          for (const e of s.effects) printLine(effectLine(e));
        }
      }
    });
  });
}

export function signalsCommand(): Command {
  return new Command("signals")
    .description(
      "security signals in: Security Event Tokens (CAEP, RISC) that suspend subjects or set their attributes",
    )
    .addCommand(sendCommand())
    .addCommand(listCommand());
}
