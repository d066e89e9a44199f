/**
 * A thin typed layer over a grpc-js channel for protobuf-es methods: unary, server-streaming and
 * client-streaming calls with bearer auth, deadlines, cancellation from an AbortSignal and
 * retries on UNAVAILABLE for calls the caller marks idempotent.
 */
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type Client,
  type ClientReadableStream,
  type CallOptions as GrpcCallOptions,
  Metadata,
  status,
} from "@grpc/grpc-js";
import { fromServiceError } from "./errors.js";
import { retryPause } from "./retry-policy.js";
import type { CallOptions } from "./types.js";

export interface TransportOptions {
  readonly token?: string;
  /** Default deadline of unary calls (ms); streams have none unless a call gives one. */
  readonly timeoutMs: number;
  /** Attempts for idempotent calls that fail with UNAVAILABLE. */
  readonly maxAttempts: number;
}

type Method<I extends DescMessage, O extends DescMessage> = DescMethod & { input: I; output: O };

/** The unary half, which the node:http2 transport also implements (http2-transport.ts). */
export interface UnaryTransport {
  unary<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions | undefined,
    idempotent: boolean,
  ): Promise<MessageShape<O>>;
  close(): void;
}

export interface Transport extends UnaryTransport {
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions | undefined,
    idempotent: boolean,
  ): AsyncIterable<MessageShape<O>>;
  clientStream<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions | undefined,
  ): Promise<MessageShape<O>>;
  close(): void;
}

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function isUnavailable(error: unknown): boolean {
  return (error as { code?: unknown }).code === status.UNAVAILABLE;
}

/**
 * The longest deadline sent: grpc-js servers read a `grpc-timeout` past 2^31 ms (24.8 days, after
 * rounding up to whole seconds) as already expired, so a longer one is sent as 24 days.
 */
const MAX_DEADLINE_MS = 24 * 24 * 3_600_000;

export function createTransport(channel: Client, options: TransportOptions): Transport {
  // Built and validated once; each call gets a cheap copy (grpc-js may add to it).
  const base = new Metadata();
  if (options.token !== undefined) base.set("authorization", `Bearer ${options.token}`);
  const metadata = (opts: CallOptions | undefined): Metadata => {
    const copy = base.clone();
    if (opts?.requestId !== undefined) copy.set("x-request-id", opts.requestId);
    return copy;
  };
  /** The call's deadline, taken once: its retries share it (grpc-js sends what is left of it). */
  const callOptions = (
    opts: CallOptions | undefined,
    defaultTimeout: number | undefined,
  ): GrpcCallOptions & { readonly deadline?: number } => {
    const timeout = opts?.timeoutMs ?? defaultTimeout;
    return timeout === undefined ? {} : { deadline: Date.now() + Math.min(timeout, MAX_DEADLINE_MS) };
  };
  const backoff = (pause: number, signal: AbortSignal | undefined) =>
    sleep(pause, undefined, signal === undefined ? {} : { signal });

  const serializer = (desc: DescMessage) => (value: unknown) =>
    Buffer.from(toBinary(desc, value as MessageShape<DescMessage>));
  const deserializer = (desc: DescMessage) => (bytes: Buffer) => fromBinary(desc, bytes);

  return {
    async unary(method, request, opts, idempotent) {
      const message = create(method.input, request);
      const timing = callOptions(opts, options.timeoutMs);
      for (let attempt = 0; ; attempt++) {
        try {
          return await new Promise((resolve, reject) => {
            opts?.signal?.throwIfAborted();
            const call = channel.makeUnaryRequest(
              pathOf(method),
              serializer(method.input),
              deserializer(method.output),
              message,
              metadata(opts),
              timing,
              (error, response) =>
                error ? reject(error) : resolve(response as MessageShape<typeof method.output>),
            );
            opts?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
          });
        } catch (error) {
          const pause =
            idempotent && isUnavailable(error) && !opts?.signal?.aborted
              ? retryPause(attempt, options.maxAttempts, timing.deadline)
              : undefined;
          if (pause !== undefined) {
            await backoff(pause, opts?.signal);
            continue;
          }
          throw fromServiceError(error);
        }
      }
    },

    async *serverStream(method, request, opts, idempotent) {
      const message = create(method.input, request);
      const timing = callOptions(opts, undefined);
      for (let attempt = 0; ; attempt++) {
        opts?.signal?.throwIfAborted();
        const call: ClientReadableStream<unknown> = channel.makeServerStreamRequest(
          pathOf(method),
          serializer(method.input),
          deserializer(method.output),
          message,
          metadata(opts),
          timing,
        );
        const onAbort = () => call.cancel();
        opts?.signal?.addEventListener("abort", onAbort, { once: true });
        let received = 0;
        let finished = false;
        try {
          for await (const item of call) {
            received++;
            yield item as MessageShape<typeof method.output>;
          }
          finished = true;
          return;
        } catch (error) {
          finished = true;
          // Only a stream that has not delivered anything can be replayed without duplicates.
          const pause =
            idempotent && received === 0 && isUnavailable(error)
              ? retryPause(attempt, options.maxAttempts, timing.deadline)
              : undefined;
          if (pause !== undefined) {
            await backoff(pause, opts?.signal);
            continue;
          }
          if (opts?.signal?.aborted && (error as { code?: unknown }).code === status.CANCELLED) return;
          throw fromServiceError(error);
        } finally {
          opts?.signal?.removeEventListener("abort", onAbort);
          // The consumer stopped early: tell the server instead of leaving the stream open.
          if (!finished) call.cancel();
        }
      }
    },

    async clientStream(method, requests, opts) {
      let call: ReturnType<Client["makeClientStreamRequest"]> | undefined;
      const answer = new Promise<MessageShape<typeof method.output>>((resolve, reject) => {
        call = channel.makeClientStreamRequest(
          pathOf(method),
          serializer(method.input),
          deserializer(method.output),
          metadata(opts),
          callOptions(opts, undefined),
          (error, response) =>
            error ? reject(error) : resolve(response as MessageShape<typeof method.output>),
        );
      });
      // The server may answer (with an error) before we finish sending: stop sending then.
      let settled = false;
      answer.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      const stream = call!;
      const onAbort = () => stream.cancel();
      opts?.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        for await (const request of requests) {
          if (settled) break;
          if (!stream.write(create(method.input, request))) {
            await Promise.race([once(stream, "drain"), answer.catch(() => undefined)]);
          }
        }
        stream.end();
        return await answer;
      } catch (error) {
        stream.cancel();
        await answer.catch(() => undefined);
        throw fromServiceError(error);
      } finally {
        opts?.signal?.removeEventListener("abort", onAbort);
      }
    },

    close() {
      channel.close();
    },
  };
}
