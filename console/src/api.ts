/**
 * The console's only way to the server: Latch's own API in the Connect protocol, JSON over
 * POST on the page's own origin (the console port serves it too). The token lives in this
 * object only: never in a URL, a cookie or storage.
 */

import { EnvelopeReader, envelope, parseEnvelopes } from "./connect-stream.js";

/** An error answered by the server: Connect's code, its message, and Latch's stable code. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly code: string,
    message: string,
    readonly latchCode: string | undefined,
    /** The error's structured details (`details[].debug.details`): orphan counts, diagnostics ... */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface Api {
  call<T = Record<string, unknown>>(service: string, method: string, body: unknown): Promise<T>;
  /** A server-streaming method (ReadRelationships, the lookups): every message, once it ends. */
  stream<T = Record<string, unknown>>(service: string, method: string, body: unknown): Promise<T[]>;
  /** An endless server stream (WatchDecisions): each message as it comes, until `signal` aborts. */
  watch<T = Record<string, unknown>>(
    service: string,
    method: string,
    body: unknown,
    onMessage: (message: T) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** Latch's structured details of a Connect error (`details[].debug.details`), if present. */
export function latchDetailsOf(body: unknown): unknown {
  const details = (body as { details?: { debug?: { details?: unknown } }[] } | null)?.details;
  for (const d of details ?? []) if (d.debug?.details !== undefined) return d.debug.details;
  return undefined;
}

/** Latch's code from a Connect error's details (`details[].debug.code`), if present. */
export function latchCodeOf(body: unknown): string | undefined {
  const details = (body as { details?: { debug?: { code?: unknown } }[] } | null)?.details;
  for (const d of details ?? []) if (typeof d.debug?.code === "string") return d.debug.code;
  return undefined;
}

const streamHeaders = (token: string) => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/connect+json",
  "connect-protocol-version": "1",
});

/** A refusal before a stream began (a bad token): a plain JSON error. */
async function streamRefusal(res: Response): Promise<ApiError> {
  let e: { code?: string; message?: string } = {};
  try {
    e = JSON.parse(await res.text()) as typeof e;
  } catch {}
  return new ApiError(e.code ?? `http-${res.status}`, e.message ?? `HTTP ${res.status}`, latchCodeOf(e));
}

export function createApi(token: string, fetchImpl: Fetch, base = ""): Api {
  return {
    async watch<T>(
      service: string,
      method: string,
      body: unknown,
      onMessage: (message: T) => void,
      signal: AbortSignal,
    ): Promise<void> {
      const res = await fetchImpl(`${base}/latch.v1.${service}/${method}`, {
        method: "POST",
        headers: streamHeaders(token),
        body: envelope(body),
        signal,
      });
      if (!res.ok || res.body === null) throw await streamRefusal(res);
      const reader = new EnvelopeReader();
      const chunks = res.body.getReader();
      for (;;) {
        const { done, value } = await chunks.read();
        if (done) return;
        const { messages, end } = reader.push(value);
        for (const m of messages) onMessage(m as T);
        if (end?.error !== undefined)
          throw new ApiError(
            end.error.code ?? "unknown",
            end.error.message ?? "stream failed",
            latchCodeOf(end.error),
          );
      }
    },
    async stream<T>(service: string, method: string, body: unknown): Promise<T[]> {
      const res = await fetchImpl(`${base}/latch.v1.${service}/${method}`, {
        method: "POST",
        headers: streamHeaders(token),
        body: envelope(body),
      });
      if (!res.ok) throw await streamRefusal(res);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const { messages, end } = parseEnvelopes(bytes);
      if (end?.error !== undefined)
        throw new ApiError(
          end.error.code ?? "unknown",
          end.error.message ?? "stream failed",
          latchCodeOf(end.error),
        );
      return messages as T[];
    },
    async call<T>(service: string, method: string, body: unknown): Promise<T> {
      const res = await fetchImpl(`${base}/latch.v1.${service}/${method}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "connect-protocol-version": "1",
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === "" ? {} : JSON.parse(text);
      } catch {
        throw new ApiError("unknown", `HTTP ${res.status}: the server's answer is not JSON`, undefined);
      }
      if (!res.ok) {
        const e = parsed as { code?: string; message?: string };
        throw new ApiError(
          e.code ?? `http-${res.status}`,
          e.message ?? `HTTP ${res.status}`,
          latchCodeOf(parsed),
          latchDetailsOf(parsed),
        );
      }
      return parsed as T;
    },
  };
}
