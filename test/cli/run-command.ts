/** Runs a CLI command in process and returns what it printed and the exit code it set. */
import type { Command } from "commander";
import { vi } from "vitest";

export interface Output {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function runCommand(command: Command, args: string[]): Promise<Output> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  process.exitCode = 0;
  try {
    await command.parseAsync(args, { from: "user" });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stdout, stderr, exitCode };
}
