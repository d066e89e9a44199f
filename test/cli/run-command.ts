/** Runs a CLI command in process and returns what it printed and the exit code it set. */
import type { Command } from "commander";
import { vi } from "vitest";

export interface Output {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What the process writes to stdout and stderr, kept (and not shown) until `restore()`. */
export interface CapturedOutput {
  readonly stdout: string;
  readonly stderr: string;
  restore(): void;
}

export function captureOutput(): CapturedOutput {
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
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    restore() {
      out.mockRestore();
      err.mockRestore();
    },
  };
}

export async function runCommand(command: Command, args: string[]): Promise<Output> {
  const output = captureOutput();
  process.exitCode = 0;
  try {
    await command.parseAsync(args, { from: "user" });
  } finally {
    output.restore();
  }
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stdout: output.stdout, stderr: output.stderr, exitCode };
}
