/**
 * One HTTP/2 connection framed by hand over a `net.Socket` or a `tls.TLSSocket` (ALPN h2), for the
 * client's unary gRPC calls (h2-transport.ts) and server streams (stream-call.ts).
 *
 * Why not node:http2: per call, its ClientHttp2Stream objects, header objects and the crossings
 * between JS and nghttp2 cost more CPU than the rest of a call together (issue 22: a bare node:http2
 * client with no codec spent 197 µs of a 208 µs sequential check). A unary call needs little of
 * HTTP/2: HEADERS (a block built once per method, see hpack.ts) and DATA out, HEADERS, DATA and
 * trailers back. What is here is what a correct client must still do: the preface and SETTINGS
 * (theirs acknowledged and obeyed: concurrent streams, frame size, initial window), flow control
 * both ways (WINDOW_UPDATE for what we read; our DATA held back past the peer's windows), PING
 * answers and our own keepalive pings while calls are in flight, GOAWAY (streams above the last
 * id are refused unprocessed), RST_STREAM both ways, and stream-id exhaustion (the session stops
 * taking calls; the pool opens another).
 *
 * A connection-level protocol error (bad frame, bad header block) ends the connection with GOAWAY:
 * its calls fail UNAVAILABLE, as when the socket drops.
 */
import { isIP, connect as netConnect, type Socket } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { type HeaderMap, HpackDecoder, HpackError } from "./hpack.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

const H2_NO_ERROR = 0x0;
const H2_PROTOCOL_ERROR = 0x1;
const H2_FLOW_CONTROL_ERROR = 0x3;
const H2_FRAME_SIZE_ERROR = 0x6;
const H2_CANCEL = 0x8;
const H2_COMPRESSION_ERROR = 0x9;
const H2_ENHANCE_YOUR_CALM = 0xb;

/** The largest header block (HEADERS and its CONTINUATIONs) we buffer. */
const MAX_HEADER_BLOCK = 64 * 1024;
/** The largest frame we accept (our SETTINGS_MAX_FRAME_SIZE is the default). */
const OUR_MAX_FRAME = 16_384;
/** Our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's. */
const STREAM_WINDOW = 1 << 20;
const CONNECTION_WINDOW = 16 << 20;
/** The highest client stream id (2^31 - 1). */
const MAX_STREAM_ID = 0x7fff_ffff;

/**
 * A stream's state as the session keeps it, and its events. The call (h2-transport.ts) implements it,
 * so a call is its own stream: no object per stream beside it.
 */
export interface H2Stream {
  id: number;
  /** The body still to send (held back by flow control), from `sent`. */
  body: Buffer | undefined;
  sent: number;
  sendWindow: number;
  /** DATA bytes read since our last WINDOW_UPDATE of the stream. */
  unacked: number;
  headerBlock: Buffer | undefined;
  /**
   * The stream gives its receive window back itself (`acknowledge`) as its consumer reads, so a
   * slow consumer stops the server (stream-call.ts); else the session does as DATA arrives.
   */
  readonly manualWindow?: boolean;
  /** Response headers, or trailers when `endStream`. */
  onHeaders(headers: HeaderMap, endStream: boolean): void;
  onData(data: Buffer): void;
  /** The peer ended the stream (END_STREAM); it is closed. */
  onEnd(): void;
  /** The peer reset the stream with `code`. */
  onReset(code: number): void;
  /** The stream ended with its session; `refused` when the server cannot have processed it. */
  onLost(cause: string, refused: boolean): void;
}

export interface H2SessionOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly ca?: Buffer; readonly key?: Buffer; readonly cert?: Buffer } | undefined;
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
  /** The last stream id used before the session stops taking calls (tests lower it). */
  readonly streamIdLimit?: number;
  /** Our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE; default 1 MiB; tests lower it). */
  readonly streamWindow?: number;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer | undefined): Buffer {
  const length = payload === undefined ? 0 : payload.length;
  const out = Buffer.allocUnsafe(9 + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload !== undefined) payload.copy(out, 9);
  return out;
}

function writeFrameHeader(
  out: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId, at + 5);
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value, 0);
  return b;
}

/** The client connection: see the file comment. */
export class H2Session {
  /** Streams started or queued and not yet ended. */
  inflight = 0;
  /** Why the session was lost (socket error, GOAWAY, keepalive), for the calls that fail with it. */
  lost: string | undefined;
  private readonly socket: Socket | TLSSocket;
  private readonly streams = new Map<number, H2Stream>();
  /** Calls beyond the peer's SETTINGS_MAX_CONCURRENT_STREAMS, waiting for a stream to end. */
  private readonly queue: H2Stream[] = [];
  /** Streams with DATA held back by flow control. */
  private readonly blocked: H2Stream[] = [];
  private readonly decoder = new HpackDecoder();
  private readonly streamIdLimit: number;
  private readonly streamWindow: number;
  private nextId = 1;
  private connected = false;
  private destroyed = false;
  private goneAway = false;
  private closing = false;
  private corked = false;
  private pending: Buffer | undefined = undefined;
  // The peer's settings and our send windows.
  private maxConcurrent = Number.POSITIVE_INFINITY;
  private peerMaxFrame = 16_384;
  private peerInitialWindow = 65_535;
  private connectionSendWindow = 65_535;
  private connectionUnacked = 0;
  // A header block split over CONTINUATION frames.
  private continuing = 0;
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentsEnd = false;
  private readonly keepalive: NodeJS.Timeout;
  private pingTimer: NodeJS.Timeout | undefined = undefined;

  constructor(options: H2SessionOptions) {
    this.streamIdLimit = Math.min(options.streamIdLimit ?? MAX_STREAM_ID, MAX_STREAM_ID);
    this.streamWindow = Math.min(Math.max(options.streamWindow ?? STREAM_WINDOW, 1), MAX_STREAM_ID);
    const { host, port, tls } = options;
    if (tls === undefined) {
      this.socket = netConnect({ host, port, noDelay: true });
      this.socket.once("connect", () => this.onConnect());
    } else {
      const socket = tlsConnect({
        host,
        port,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ["h2"],
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.key === undefined ? {} : { key: tls.key }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      });
      socket.setNoDelay(true);
      socket.once("secureConnect", () => {
        if (socket.alpnProtocol !== "h2") this.destroy("the server did not agree to HTTP/2 (ALPN h2)");
        else this.onConnect();
      });
      this.socket = socket;
    }
    const socket = this.socket;
    socket.on("data", (chunk: Buffer) => this.onChunk(chunk));
    socket.on("error", (error: Error) => {
      this.lost ??= error.message;
    });
    socket.on("close", () => this.onClose());
    socket.unref();
    // The preface and our settings go first (buffered until the socket connects).
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH 0
    settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(this.streamWindow, 8);
    socket.write(
      Buffer.concat([
        PREFACE,
        frame(SETTINGS, 0, 0, settings),
        frame(WINDOW_UPDATE, 0, 0, u32(CONNECTION_WINDOW - 65_535)),
      ]),
    );
    this.keepalive = setInterval(() => this.ping(options.keepaliveTimeoutMs), options.keepaliveMs);
    this.keepalive.unref();
  }

  /** False once GOAWAY arrived, the socket failed or closed, or the stream ids ran out. */
  get usable(): boolean {
    return !this.goneAway && !this.destroyed && !this.closing && this.nextId <= this.streamIdLimit;
  }

  /** Starts `stream` (or queues it past the peer's concurrency limit): `headerBlock`, then `body`. */
  start(stream: H2Stream, headerBlock: Buffer, body: Buffer): void {
    if (this.inflight++ === 0) this.socket.ref();
    stream.headerBlock = headerBlock;
    stream.body = body;
    stream.sent = 0;
    stream.id = 0;
    if (this.streams.size < this.maxConcurrent) this.open(stream);
    else this.queue.push(stream);
  }

  /** Ends `stream` from our side (RST_STREAM CANCEL when it was sent); no event follows. */
  cancel(stream: H2Stream): void {
    if (stream.id === 0) {
      const at = this.queue.indexOf(stream);
      if (at < 0) return;
      this.queue.splice(at, 1);
    } else {
      if (this.streams.get(stream.id) !== stream) return;
      this.send(frame(RST_STREAM, 0, stream.id, u32(H2_CANCEL)));
    }
    this.ended(stream);
  }

  /** Gives `bytes` of a `manualWindow` stream's receive window back (WINDOW_UPDATE past half of it). */
  acknowledge(stream: H2Stream, bytes: number): void {
    if (this.streams.get(stream.id) !== stream) return;
    stream.unacked += bytes;
    if (stream.unacked >= this.streamWindow / 2) {
      this.send(frame(WINDOW_UPDATE, 0, stream.id, u32(stream.unacked)));
      stream.unacked = 0;
    }
  }

  /** Takes no more calls; the connection ends when its calls have. */
  close(): void {
    this.closing = true;
    if (this.inflight === 0) this.destroy(undefined);
  }

  private open(stream: H2Stream): void {
    if (this.nextId > this.streamIdLimit) {
      // Out of ids: the call was never sent, so it may go to another connection.
      this.inflight--;
      stream.onLost("the connection ran out of stream ids", true);
      this.settle();
      return;
    }
    const id = this.nextId;
    this.nextId += 2;
    stream.id = id;
    stream.sendWindow = this.peerInitialWindow;
    stream.unacked = 0;
    this.streams.set(id, stream);
    const block = stream.headerBlock!;
    stream.headerBlock = undefined;
    if (block.length <= this.peerMaxFrame) this.send(frame(HEADERS, END_HEADERS, id, block));
    else {
      for (let at = 0; at < block.length; at += this.peerMaxFrame) {
        const last = at + this.peerMaxFrame >= block.length;
        const part = block.subarray(at, at + this.peerMaxFrame);
        this.send(frame(at === 0 ? HEADERS : CONTINUATION, last ? END_HEADERS : 0, id, part));
      }
    }
    this.sendBody(stream);
    if (stream.body !== undefined) this.blocked.push(stream);
  }

  /** Sends what the windows allow of `stream`'s body; END_STREAM with its last byte. */
  private sendBody(stream: H2Stream): void {
    const body = stream.body!;
    for (;;) {
      const size = Math.min(
        body.length - stream.sent,
        stream.sendWindow,
        this.connectionSendWindow,
        this.peerMaxFrame,
      );
      if (size <= 0 && body.length > stream.sent) return;
      const last = stream.sent + size === body.length;
      this.send(
        frame(DATA, last ? END_STREAM : 0, stream.id, body.subarray(stream.sent, stream.sent + size)),
      );
      stream.sent += size;
      stream.sendWindow -= size;
      this.connectionSendWindow -= size;
      if (last) {
        stream.body = undefined;
        return;
      }
    }
  }

  private flushBlocked(): void {
    for (let i = 0; i < this.blocked.length; i++) {
      const stream = this.blocked[i]!;
      if (stream.body !== undefined && this.streams.get(stream.id) === stream) this.sendBody(stream);
      if (stream.body === undefined || this.streams.get(stream.id) !== stream) this.blocked.splice(i--, 1);
      if (this.connectionSendWindow <= 0) return;
    }
  }

  private send(bytes: Buffer): void {
    if (this.destroyed) return;
    if (!this.corked) {
      // Frames of one event-loop turn leave in one write.
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  /** A stream left the session: start a queued one in its place; close when draining. */
  private ended(stream: H2Stream): void {
    if (stream.id !== 0) this.streams.delete(stream.id);
    this.inflight--;
    while (this.queue.length > 0 && this.streams.size < this.maxConcurrent && !this.destroyed)
      this.open(this.queue.shift()!);
    this.settle();
  }

  private settle(): void {
    if (this.inflight > 0) return;
    if (!this.destroyed) this.socket.unref();
    if (this.closing || this.goneAway || this.nextId > this.streamIdLimit) this.destroy(undefined);
  }

  private onConnect(): void {
    this.connected = true;
  }

  private onChunk(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let at = 0;
    try {
      // Stops when the session is destroyed mid-chunk (a protocol error, GOAWAY after the last call).
      while (buf.length - at >= 9 && !this.destroyed) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > OUR_MAX_FRAME)
          throw new ProtocolError(H2_FRAME_SIZE_ERROR, `a frame of ${length} bytes`);
        if (buf.length - at < 9 + length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const id = buf.readUInt32BE(at + 5) & 0x7fff_ffff;
        this.onFrame(type, flags, id, buf.subarray(at + 9, at + 9 + length));
        at += 9 + length;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError || error instanceof HpackError)) throw error;
      const code = error instanceof ProtocolError ? error.code : H2_COMPRESSION_ERROR;
      this.destroy(`HTTP/2 protocol error: ${error.message}`, code);
      return;
    }
    if (at < buf.length && !this.destroyed) this.pending = buf.subarray(at);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuing !== 0 && (type !== CONTINUATION || id !== this.continuing))
      throw new ProtocolError(H2_PROTOCOL_ERROR, "a header block was interrupted");
    switch (type) {
      case DATA:
        this.onDataFrame(flags, id, payload);
        return;
      case HEADERS:
        this.onHeadersFrame(flags, id, payload);
        return;
      case CONTINUATION:
        if (this.continuing === 0) throw new ProtocolError(H2_PROTOCOL_ERROR, "CONTINUATION out of place");
        this.fragments.push(payload);
        this.fragmentBytes += payload.length;
        // A peer that never ends its header block must not make us buffer without end.
        if (this.fragmentBytes > MAX_HEADER_BLOCK)
          throw new ProtocolError(H2_ENHANCE_YOUR_CALM, "a header block over 64 KiB");
        if (flags & END_HEADERS) {
          this.continuing = 0;
          const block = Buffer.concat(this.fragments);
          this.fragments = [];
          this.onHeaderBlock(id, block, this.fragmentsEnd);
        }
        return;
      case RST_STREAM:
        this.onReset(id, payload);
        return;
      case SETTINGS:
        this.onSettings(flags, id, payload);
        return;
      case PING:
        if (payload.length !== 8 || id !== 0) throw new ProtocolError(H2_FRAME_SIZE_ERROR, "a bad PING");
        if (flags & ACK) this.answered();
        else this.send(frame(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        this.onGoaway(payload);
        return;
      case WINDOW_UPDATE:
        this.onWindowUpdate(id, payload);
        return;
      case PUSH_PROMISE:
        throw new ProtocolError(H2_PROTOCOL_ERROR, "PUSH_PROMISE though push is disabled");
      default:
        // PRIORITY and unknown frame types are ignored, as RFC 9113 asks.
        return;
    }
  }

  /** The payload less its padding (PADDED flag), and less the priority fields of HEADERS. */
  private unpad(flags: number, payload: Buffer, priority: boolean): Buffer {
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      if (payload.length < 1) throw new ProtocolError(H2_PROTOCOL_ERROR, "a padded frame without padding");
      end -= payload[0]!;
      start = 1;
    }
    if (priority) start += 5;
    if (end < start) throw new ProtocolError(H2_PROTOCOL_ERROR, "padding past the frame");
    return payload.subarray(start, end);
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ProtocolError(H2_PROTOCOL_ERROR, "DATA on stream 0");
    // Flow control counts the whole payload, padding included, whether or not the stream is ours.
    this.connectionUnacked += payload.length;
    if (this.connectionUnacked >= CONNECTION_WINDOW / 2) {
      this.send(frame(WINDOW_UPDATE, 0, 0, u32(this.connectionUnacked)));
      this.connectionUnacked = 0;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    const data = this.unpad(flags, payload, false);
    const end = (flags & END_STREAM) !== 0;
    // Padding is never the consumer's to read: given back at once either way.
    stream.unacked += stream.manualWindow === true ? payload.length - data.length : payload.length;
    if (!end && stream.unacked >= this.streamWindow / 2) {
      this.send(frame(WINDOW_UPDATE, 0, id, u32(stream.unacked)));
      stream.unacked = 0;
    }
    if (data.length > 0) stream.onData(data);
    if (end && this.streams.get(id) === stream) this.endStream(stream);
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ProtocolError(H2_PROTOCOL_ERROR, "HEADERS on stream 0");
    const fragment = this.unpad(flags, payload, (flags & PRIORITY) !== 0);
    const end = (flags & END_STREAM) !== 0;
    if (flags & END_HEADERS) this.onHeaderBlock(id, fragment, end);
    else {
      this.continuing = id;
      this.fragments = [fragment];
      this.fragmentBytes = fragment.length;
      this.fragmentsEnd = end;
    }
  }

  private onHeaderBlock(id: number, block: Buffer, end: boolean): void {
    // Decoded even for a stream we dropped: the dynamic table must follow every block.
    const headers = this.decoder.decode(block);
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    stream.onHeaders(headers, end);
    if (end && this.streams.get(id) === stream) this.endStream(stream);
  }

  private endStream(stream: H2Stream): void {
    // Answered before our body was all sent (an early error): the rest is not wanted.
    if (stream.body !== undefined) this.send(frame(RST_STREAM, 0, stream.id, u32(H2_NO_ERROR)));
    this.ended(stream);
    stream.onEnd();
  }

  private onReset(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ProtocolError(H2_FRAME_SIZE_ERROR, "a bad RST_STREAM");
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.ended(stream);
    stream.onReset(payload.readUInt32BE(0));
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ProtocolError(H2_PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & ACK) return;
    if (payload.length % 6 !== 0) throw new ProtocolError(H2_FRAME_SIZE_ERROR, "a bad SETTINGS frame");
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === 0x3) this.maxConcurrent = value;
      else if (key === 0x4) {
        if (value > MAX_STREAM_ID) throw new ProtocolError(H2_FLOW_CONTROL_ERROR, "a window above 2^31-1");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) stream.sendWindow += delta;
      } else if (key === 0x5) {
        if (value < 16_384 || value > 16_777_215)
          throw new ProtocolError(H2_PROTOCOL_ERROR, "a bad frame size");
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE bounds the peer's decoder, which our literal fields never add to.
    }
    this.send(frame(SETTINGS, ACK, 0, undefined));
    while (this.queue.length > 0 && this.streams.size < this.maxConcurrent) this.open(this.queue.shift()!);
    this.flushBlocked();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ProtocolError(H2_FRAME_SIZE_ERROR, "a bad WINDOW_UPDATE");
    const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
    if (id === 0) this.connectionSendWindow += increment;
    else {
      const stream = this.streams.get(id);
      if (stream === undefined) return;
      stream.sendWindow += increment;
    }
    this.flushBlocked();
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8) throw new ProtocolError(H2_FRAME_SIZE_ERROR, "a bad GOAWAY");
    const last = payload.readUInt32BE(0) & 0x7fff_ffff;
    const code = payload.readUInt32BE(4);
    this.goneAway = true;
    this.lost ??= `the server sent GOAWAY (code ${code})`;
    // Streams above `last` were not processed and never will be: they may be sent again elsewhere.
    const refused = [...this.queue, ...[...this.streams.values()].filter((s) => s.id > last)];
    this.queue.length = 0;
    for (const stream of refused) {
      if (stream.id !== 0) this.streams.delete(stream.id);
      this.inflight--;
      stream.onLost(this.lost, true);
    }
    this.settle();
  }

  private ping(timeoutMs: number): void {
    if (this.inflight === 0 || this.pingTimer !== undefined || this.destroyed) return;
    this.pingTimer = setTimeout(() => this.destroy("keepalive ping unanswered"), timeoutMs);
    this.pingTimer.unref();
    this.send(frame(PING, 0, 0, Buffer.alloc(8)));
  }

  private answered(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  /**
   * Ends the connection; `reason` (when given) is why its calls fail. A clean close, or one for a
   * protocol error (`goawayCode`), tells the server with GOAWAY and ends the socket once the frames
   * are out (`end` flushes what `send` corked; `destroy` would drop it).
   */
  private destroy(reason: string | undefined, goawayCode?: number): void {
    if (this.destroyed) return;
    if (reason !== undefined) this.lost ??= reason;
    if ((reason === undefined || goawayCode !== undefined) && this.connected) {
      const code = goawayCode ?? H2_NO_ERROR;
      this.socket.end(frame(GOAWAY, 0, 0, Buffer.concat([u32(0), u32(code)])));
      this.destroyed = true;
    } else {
      this.destroyed = true;
      this.socket.destroy();
    }
    // Streams still open fail now, not at the socket's close event.
    this.onClose();
  }

  private onClose(): void {
    this.destroyed = true;
    clearInterval(this.keepalive);
    this.answered();
    const cause = this.lost ?? "the connection closed";
    const queued = this.queue.splice(0);
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.length = 0;
    this.inflight = 0;
    // Bytes written before the socket connected never left: the server cannot have seen them.
    for (const stream of open) stream.onLost(cause, !this.connected);
    for (const stream of queued) stream.onLost(cause, true);
  }
}

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
