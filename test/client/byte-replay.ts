/**
 * What the framing tests share: a recording proxy between a client and a real HTTP/2 server (the
 * server's bytes, kept), and a server that replays those bytes cut at given points, a turn between
 * pieces, so a client reads them in any split.
 */
import { once } from "node:events";
import type { Http2Server } from "node:http2";
import { connect, createServer, type Server, type Socket } from "node:net";
import { setImmediate as turn } from "node:timers/promises";

/** Listens on a free loopback port: `host:port`. */
export async function listen(server: Server | Http2Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A proxy to `target` that keeps every byte the server sends (`received`, in order). */
export function recordingProxy(target: string): { readonly proxy: Server; readonly received: Buffer[] } {
  const [host, port] = target.split(":");
  const received: Buffer[] = [];
  const proxy = createServer((client: Socket) => {
    const upstream = connect(Number(port), host!);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => received.push(chunk));
    upstream.pipe(client);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  return { proxy, received };
}

/** A server that writes `recorded` to each connection, cut at `cuts` (sorted offsets inside it). */
export function cutReplay(recorded: Buffer, cuts: readonly number[]): Server {
  const points = [0, ...cuts, recorded.length];
  return createServer(async (socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.resume();
    for (let i = 1; i < points.length; i++) {
      if (socket.destroyed) return;
      socket.write(recorded.subarray(points[i - 1], points[i]));
      // A turn between writes, so the pieces arrive as separate reads.
      await turn();
    }
  });
}
