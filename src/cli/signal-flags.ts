/**
 * `--ssf-listen HOST:PORT --ssf-jwks FILE|URL --ssf-issuer ISS --ssf-audience AUD --signal-rules
 * FILE` (env `LATCH_SSF_*`, `LATCH_SIGNAL_RULES`): the transmitter whose Security Event Tokens
 * this server accepts, where it pushes them, and the rules that say what they do. Shared by
 * `latch serve` and `latch signals send` (in process). Files are read and checked before anything
 * is opened.
 */
import { readFileSync } from "node:fs";
import type { JSONWebKeySet } from "jose";
import type { SignalsOptions } from "../signals/index.js";
import type { SharedFlag } from "./audit-flags.js";

export const SIGNAL_FLAGS: readonly SharedFlag[] = [
  {
    key: "ssfJwks",
    flags: "--ssf-jwks <file|url>",
    env: "LATCH_SSF_JWKS",
    help: {
      serve:
        "the SSF transmitter's JWKS: a file, or an https URL fetched and cached; needs --ssf-issuer and --ssf-audience",
      "in-process": "in process: the SSF transmitter's JWKS (file or URL)",
    },
  },
  {
    key: "ssfIssuer",
    flags: "--ssf-issuer <iss>",
    env: "LATCH_SSF_ISSUER",
    help: {
      serve: "the iss of the transmitter's SETs",
      "in-process": "in process: the iss of the transmitter's SETs",
    },
  },
  {
    key: "ssfAudience",
    flags: "--ssf-audience <aud>",
    env: "LATCH_SSF_AUDIENCE",
    help: {
      serve: "an aud every SET must carry (this receiver's name)",
      "in-process": "in process: an aud every SET must carry",
    },
  },
  {
    key: "signalRules",
    flags: "--signal-rules <file>",
    env: "LATCH_SIGNAL_RULES",
    help: {
      serve:
        "signal rules (YAML): subject mappings and what each event does; validated against the schema (docs/signals.md)",
      "in-process": "in process: signal rules (YAML)",
    },
  },
];

export interface SignalFlags {
  readonly ssfJwks?: string | undefined;
  readonly ssfIssuer?: string | undefined;
  readonly ssfAudience?: string | undefined;
  readonly signalRules?: string | undefined;
}

function readJwks(source: string, fail: (message: string) => Error): JSONWebKeySet | URL {
  if (/^https?:\/\//.test(source)) {
    try {
      return new URL(source);
    } catch {
      throw fail(`--ssf-jwks ${source}: not a valid URL`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(source, "utf8"));
  } catch (error) {
    throw fail(`--ssf-jwks ${source}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys))
    throw fail(`--ssf-jwks ${source}: not a JWKS (an object with a "keys" array)`);
  return parsed as JSONWebKeySet;
}

export function parseSignalFlags(flags: SignalFlags, fail: (message: string) => Error): SignalsOptions {
  const { ssfJwks: jwks, ssfIssuer: issuer, ssfAudience: audience, signalRules } = flags;
  const any = jwks !== undefined || issuer !== undefined || audience !== undefined;
  if (any && (jwks === undefined || issuer === undefined || audience === undefined))
    throw fail("--ssf-jwks, --ssf-issuer and --ssf-audience go together");
  let rules: string | undefined;
  if (signalRules !== undefined) {
    try {
      rules = readFileSync(signalRules, "utf8");
    } catch (error) {
      throw fail(`--signal-rules ${signalRules}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return {
    ...(any ? { transmitter: { jwks: readJwks(jwks!, fail), issuer: issuer!, audience: audience! } } : {}),
    ...(rules === undefined ? {} : { rules, rulesFile: signalRules! }),
  };
}
