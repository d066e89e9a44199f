/**
 * Closing an HTTP/1.1 connection whose request was refused before its body was read (the SSF
 * receiver, the HTTP API): in a module of its own so that the SSF receiver does not load Connect.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";

/** How long a refused request's connection stays open, unread, after its answer went out. */
const LINGER_MS = 1000;

/**
 * For an answer given before the request's body was read (a refusal): the body is not drained,
 * which Node would otherwise do for as long as the sender sends, to keep the connection alive.
 * The answer says `connection: close`, and the socket lingers (`lingerOnClose`).
 */
export function closeOnceAnswered(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.setHeader("connection", "close");
  lingerOnClose(req);
}

/**
 * Node closes a `connection: close` socket with `destroySoon` once the answer is flushed, which
 * destroys it at once. With the request's body not all read, that is a reset, which can reach a
 * sender still sending before it read the answer: it sees ECONNRESET instead of the status. So
 * this socket's `destroySoon` ends our side, stops reading (the sender's writes stall on TCP's
 * window: nothing more is taken) and destroys the socket LINGER_MS later.
 */
export function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket;
  // Installed once a socket; a kept-alive socket's later requests only become its current one.
  const installed = current.has(socket);
  current.set(socket, req);
  if (installed) return;
  socket.destroySoon = () => {
    if (current.get(socket)?.complete !== false) {
      Socket.prototype.destroySoon.call(socket);
      return;
    }
    socket.pause();
    if (socket.writable) socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  };
}

/** The request each lingering socket serves now (see `lingerOnClose`). */
const current = new WeakMap<Socket, IncomingMessage>();
