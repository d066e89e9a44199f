/**
 * The RFC 8935 push endpoint (`latch serve --ssf-listen HOST:PORT`): a transmitter POSTs one SET
 * (`Content-Type: application/secevent+jwt`) and gets 202 Accepted once it is verified and
 * applied, or 400 with the RFC 8935 error body (`{"err": "invalid_key", "description": ...}`)
 * when it is refused, in which case nothing was applied. A failure of ours (the datastore down)
 * is a 503 without an `err`: the SET was not applied and the transmitter should retry it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isLatchError } from "../core/index.js";
import { MAX_SET_BYTES, type SignalReceiver, setErrorCode } from "../signals/index.js";
import { closeOnceAnswered } from "./http-close.js";
import { listenOn } from "./observability.js";

export const SET_CONTENT_TYPE = "application/secevent+jwt";

export interface SsfReceiverServer {
  listen(address: string): Promise<string>;
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, body?: object): void {
  closeOnceAnswered(res.req, res);
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** Whether a refusal is the SET's fault (400 with `err`) or ours (503, retry). */
function isSetFault(error: unknown): boolean {
  return (
    isLatchError(error) &&
    error.code.startsWith("signal/") &&
    error.kind !== "unavailable" &&
    error.code !== "signal/not-configured"
  );
}

/**
 * The body, or undefined past MAX_SET_BYTES (at once when Content-Length says so). Read by events,
 * not `for await`: leaving that loop early destroys the request, and with it the socket, before
 * the 400 is written.
 */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > MAX_SET_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: string | undefined, error?: unknown) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_SET_BYTES) done(undefined);
      else chunks.push(chunk);
    };
    const onEnd = () => done(Buffer.concat(chunks).toString("utf8"));
    const onError = (error: unknown) => done(undefined, error);
    const onClose = () =>
      done(undefined, new Error("the sender closed the connection before the end of the SET"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

async function handle(receiver: SignalReceiver, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    answer(res, 405, {
      err: "invalid_request",
      description: "POST one SET with Content-Type application/secevent+jwt",
    });
    return;
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== SET_CONTENT_TYPE) {
    answer(res, 400, {
      err: "invalid_request",
      description: `Content-Type is ${JSON.stringify(type)}; a SET is sent as ${SET_CONTENT_TYPE} (RFC 8935)`,
    });
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    answer(res, 400, {
      err: "invalid_request",
      description: `the SET is larger than ${MAX_SET_BYTES} bytes`,
    });
    return;
  }
  try {
    await receiver.receive(body, "push");
    answer(res, 202);
  } catch (error) {
    if (isSetFault(error)) {
      answer(res, 400, { err: setErrorCode(error), description: (error as Error).message });
    } else {
      answer(res, 503, { description: "the SET could not be applied now; nothing was applied, retry it" });
    }
  }
}

export function createSsfReceiverServer(receiver: SignalReceiver): SsfReceiverServer {
  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    // Never a crash: anything unexpected is a 500 for this request only.
    handle(receiver, req, res).catch(() => {
      if (!res.headersSent) answer(res, 500, { description: "internal error" });
      else res.destroy();
    });
  });
  return {
    listen: (address) => listenOn(server, address),
    async close() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
