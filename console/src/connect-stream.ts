/**
 * Connect's server-streaming framing (connectrpc.com/docs/protocol): each message is an envelope
 * of one flag byte, a 4-byte big-endian length and the JSON; the last envelope (flag 0x02) ends
 * the stream and carries the error, if any. ReadRelationships and the lookups answer this way.
 */

export interface EndOfStream {
  readonly error?: { readonly code?: string; readonly message?: string; readonly details?: unknown[] };
}

export interface Envelopes {
  readonly messages: unknown[];
  readonly end: EndOfStream | undefined;
}

const END_STREAM = 0x02;

export function envelope(json: unknown): Uint8Array<ArrayBuffer> {
  const body = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

/** Splits a whole streamed answer; a truncated envelope is an error, never a message dropped. */
export function parseEnvelopes(bytes: Uint8Array): Envelopes {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const messages: unknown[] = [];
  let end: EndOfStream | undefined;
  let at = 0;
  while (at < bytes.length) {
    if (at + 5 > bytes.length) throw new Error(`stream cut inside an envelope header at byte ${at}`);
    const flags = bytes[at]!;
    const length = view.getUint32(at + 1);
    if (at + 5 + length > bytes.length) throw new Error(`stream cut inside a message at byte ${at}`);
    const json: unknown = JSON.parse(decoder.decode(bytes.subarray(at + 5, at + 5 + length)));
    if ((flags & END_STREAM) !== 0) end = json as EndOfStream;
    else messages.push(json);
    at += 5 + length;
  }
  return { messages, end };
}

/** Envelopes as the chunks of an endless stream arrive (WatchDecisions): whole ones out, the rest kept. */
export class EnvelopeReader {
  private pending = new Uint8Array(0);
  private readonly decoder = new TextDecoder();

  push(chunk: Uint8Array): Envelopes {
    const joined = new Uint8Array(this.pending.length + chunk.length);
    joined.set(this.pending);
    joined.set(chunk, this.pending.length);
    const view = new DataView(joined.buffer);
    const messages: unknown[] = [];
    let end: EndOfStream | undefined;
    let at = 0;
    while (at + 5 <= joined.length) {
      const length = view.getUint32(at + 1);
      if (at + 5 + length > joined.length) break;
      const json: unknown = JSON.parse(this.decoder.decode(joined.subarray(at + 5, at + 5 + length)));
      if ((joined[at]! & END_STREAM) !== 0) end = json as EndOfStream;
      else messages.push(json);
      at += 5 + length;
    }
    this.pending = joined.slice(at);
    return { messages, end };
  }
}
