/**
 * Where the recorder's decisions go. The decision path only captures (`CaptureBuffer`: a few
 * numbers written into the open batch's reused buffer, capture-buffer.ts); batches are appended one at a time by a `BatchWriter`, the writer
 * thread (writer-thread.ts) when the log can be opened there, else this thread.
 *
 * - `async`: a batch closes after `flushMs` or when full; while one is being appended the next
 *   ones wait, up to `queueLimit` records, beyond which new ones are dropped and counted.
 * - `sync`: every caller waits for its batch. A batch closes at the end of the event-loop turn
 *   when the writer is idle, else when the writer acknowledges the batch before it (group commit:
 *   whatever gathered meanwhile goes in one transaction). Batches are appended in order, so the
 *   chain holds decisions in the order they were captured.
 *
 * The counts behind `AuditRecorder.stats()` live here.
 */
import { LatchError } from "../core/index.js";
import type { CheckRequest, CheckResult } from "../engine/index.js";
import type { DecisionLog } from "../store/index.js";
import { CaptureBuffer, type CapturedBatch, capturedOf } from "./capture-buffer.js";
import { type AuditCallInfo, type DecisionFacts, recordsOf } from "./record.js";

/** Appends captured batches, one at a time. */
export interface BatchWriter {
  append(batch: CapturedBatch): Promise<Appended>;
  /** Makes ready what appends need (a writer thread and its connection) before the first batch. */
  start?(): Promise<void>;
  close(): Promise<void>;
}

/** An append done. */
export interface Appended {
  /** How long it took. */
  readonly seconds: number;
  /** The batch's buffer, given back once read: later batches are captured into it (`reuse`). */
  readonly numbers: Float64Array | undefined;
}

/** The fallback writer: builds and appends the records on this thread. */
export function inThreadWriter(log: DecisionLog): BatchWriter {
  return {
    async append(batch) {
      const records = recordsOf(capturedOf(batch, batch.names));
      const started = performance.now();
      await log.append(records);
      return { seconds: (performance.now() - started) / 1000, numbers: batch.numbers };
    },
    close: async () => undefined,
  };
}

export interface SinkSettings {
  readonly writer: BatchWriter;
  readonly mode: "async" | "sync";
  readonly failure: "deny" | "allow-and-alert";
  readonly queueLimit: number;
  readonly batchSize: number;
  readonly flushMs: number;
  readonly onError: (error: unknown) => void;
  readonly onAppend: ((seconds: number, records: number) => void) | undefined;
  /** Caveat parameters whose values are recorded. */
  readonly loggable: ReadonlySet<string>;
  /** The caller recorded when a call's options name none. */
  readonly caller?: string | undefined;
}

/** A closed batch waiting for the writer, or being written. */
interface Batch {
  readonly captured: CapturedBatch;
  /** `sync`: what its callers wait for. */
  readonly done: Waiting | undefined;
}

interface Waiting {
  readonly promise: Promise<void>;
  readonly settle: (error?: unknown) => void;
}

function waitFor(): Waiting {
  let settle: (error?: unknown) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  return { promise, settle };
}

export class DecisionSink {
  dropped = 0;
  written = 0;
  failed = 0;
  /** Records captured and not yet handed to the writer. */
  queued = 0;
  /** The open batch: its decisions, and (`sync`) what their callers wait for. */
  private readonly open: CaptureBuffer;
  private openDone: Waiting | undefined;
  private readonly waiting: Batch[] = [];
  private writing: Batch | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private turnEnd = false;
  private idle: (() => void)[] = [];

  constructor(private readonly settings: SinkSettings) {
    this.open = new CaptureBuffer(settings.loggable, settings.caller);
  }

  /**
   * Captures one decision made at `at` (ms since the epoch). `sync`: returns what the caller waits
   * for (its commit, or its refusal, see `failure`); `async`: nothing to wait for.
   */
  record(facts: DecisionFacts, info: AuditCallInfo | undefined, at: number): Promise<void> | undefined {
    if (!this.admits()) return undefined;
    this.open.capture(facts, info, at);
    return this.captured();
  }

  /** As `record`, for a Check without rare parts (`plainCheck`), from its request and answer. */
  recordCheck(
    request: CheckRequest,
    result: CheckResult,
    latencyUs: number | undefined,
    info: AuditCallInfo | undefined,
    at: number,
  ): Promise<void> | undefined {
    if (!this.admits()) return undefined;
    this.open.captureCheck(request, result, latencyUs, info, at);
    return this.captured();
  }

  /** `async`: whether the queue has room for one more record (else it is dropped and counted). */
  private admits(): boolean {
    if (this.settings.mode === "sync" || this.queued < this.settings.queueLimit) return true;
    this.dropped += 1;
    return false;
  }

  /** After a capture: closes the batch when full; `sync`: what the caller waits for. */
  private captured(): Promise<void> | undefined {
    this.queued += 1;
    if (this.settings.mode === "sync") this.openDone ??= waitFor();
    // Read before the batch may close below (closing hands its waiting on with it).
    const done = this.openDone;
    if (this.open.count >= this.settings.batchSize) this.closeBatch();
    else this.schedule();
    return done?.promise;
  }

  /** Starts the writer ahead of the first batch; a failure is reported, and the first batch tries again. */
  start(): void {
    this.settings.writer.start?.().catch(this.settings.onError);
  }

  /** Resolves once every decision captured so far has been appended (or failed). */
  flush(): Promise<void> {
    this.closeBatch();
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Flushes, then closes the writer. */
  async close(): Promise<void> {
    await this.flush();
    await this.settings.writer.close();
  }

  private isIdle(): boolean {
    return this.writing === undefined && this.waiting.length === 0 && this.open.count === 0;
  }

  private schedule(): void {
    if (this.settings.mode === "sync") {
      // A writer at work closes the batch when it is done; an idle one gets it after this turn.
      if (this.writing !== undefined || this.turnEnd) return;
      this.turnEnd = true;
      setImmediate(this.closeAtTurnEnd);
      return;
    }
    // After a short wait, so that the decisions of many calls share one append.
    this.timer ??= setTimeout(this.closeAfterWait, this.settings.flushMs);
  }

  /*
   * The callbacks `schedule` hands to the timers, made once: an arrow written in `schedule` made
   * V8 allocate a context for it on every call (every capture: 40 bytes), used or not.
   */
  private readonly closeAtTurnEnd = (): void => {
    this.turnEnd = false;
    if (this.writing === undefined) this.closeBatch();
  };

  private readonly closeAfterWait = (): void => {
    this.timer = undefined;
    this.closeBatch();
  };

  /** Ends the open batch and starts writing if the writer is idle. */
  private closeBatch(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.open.count > 0) {
      this.waiting.push({ captured: this.open.take(), done: this.openDone });
      this.openDone = undefined;
    }
    this.pump();
  }

  private pump(): void {
    if (this.writing !== undefined) return;
    const batch = this.waiting.shift();
    if (batch === undefined) {
      if (this.isIdle()) for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const count = batch.captured.count;
    this.queued -= count;
    this.writing = batch;
    this.settings.writer.append(batch.captured).then(
      ({ seconds, numbers }) => {
        if (numbers !== undefined) this.open.reuse(numbers);
        this.written += count;
        this.settings.onAppend?.(seconds, count);
        batch.done?.settle();
        this.next();
      },
      (error: unknown) => {
        this.failed += count;
        this.settings.onError(error);
        batch.done?.settle(this.refusal(error));
        this.next();
      },
    );
  }

  private next(): void {
    this.writing = undefined;
    // sync: what gathered while this batch was written goes now, in one append.
    if (this.settings.mode === "sync") this.closeBatch();
    else this.pump();
  }

  /** What a `sync` caller whose record failed gets: nothing (allow-and-alert) or a refusal. */
  private refusal(error: unknown): LatchError | undefined {
    // Answered anyway: onError raised the alert and `failed` counts the decision.
    if (this.settings.failure === "allow-and-alert") return undefined;
    return new LatchError(
      "audit/unavailable",
      "unavailable",
      "the decision could not be recorded in the audit trail, so it is refused (auditing is sync); retry.",
      {},
      { cause: error },
    );
  }
}
