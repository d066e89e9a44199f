/**
 * Closes accepted sockets that have not spoken HTTP/2 within a short time. grpc-js's idle timeout
 * (`grpc.max_connection_idle_ms`) closes them too, but only after minutes, which is too long to
 * hold a socket (and its session) for a peer that sent nothing.
 *
 * grpc-js owns its listening sockets and exposes neither them nor their HTTP/2 sessions, so the
 * accepted sockets are seen through Node's `net.server.socket` diagnostics channel (filtered by
 * port), and "spoke HTTP/2" is judged by bytes read alone, without touching the data: a client has
 * sent at least the 24-byte preface and a 9-byte SETTINGS frame header. Over TLS, a ClientHello is
 * already longer than that; a peer that stalls inside the TLS handshake is left to Node's TLS
 * handshake timeout (120 s), then to the idle timeout.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { Socket } from "node:net";

const CHANNEL = "net.server.socket";
/** HTTP/2 client preface (24 bytes) plus a SETTINGS frame header (9 bytes). */
const HTTP2_HELLO_BYTES = 33;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Starts watching the sockets accepted on `port`; returns the function that stops it. */
export function closeSilentSockets(port: number, timeoutMs: number): () => void {
  const onSocket = (message: unknown) => {
    const socket = (message as { socket?: Socket }).socket;
    if (socket === undefined || socket.localPort !== port) return;
    const timer = setTimeout(() => {
      if (socket.bytesRead < HTTP2_HELLO_BYTES) socket.destroy();
    }, timeoutMs);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  };
  subscribe(CHANNEL, onSocket);
  return () => unsubscribe(CHANNEL, onSocket);
}
