/**
 * Where the recorder's records go: `sync` commits them before the answer leaves (concurrent
 * records share one transaction), `async` queues them and appends in batches after a short wait.
 * The counts behind `AuditRecorder.stats()` live here.
 */
import { LatchError } from "../core/index.js";
import { type DecisionLog, type DecisionRecord, groupCommit } from "../store/index.js";

export interface SinkSettings {
  readonly log: DecisionLog;
  readonly mode: "async" | "sync";
  readonly failure: "deny" | "allow-and-alert";
  readonly queueLimit: number;
  readonly batchSize: number;
  readonly flushMs: number;
  readonly onError: (error: unknown) => void;
  readonly onAppend: ((seconds: number, records: number) => void) | undefined;
}

export class DecisionSink {
  dropped = 0;
  written = 0;
  failed = 0;
  private queue: DecisionRecord[] = [];
  private draining: Promise<void> | undefined;
  /** Ends the wait before the next drain early (a full batch, a flush). */
  private wake: (() => void) | undefined;
  private readonly appendNow: (records: readonly DecisionRecord[]) => Promise<unknown>;

  constructor(private readonly settings: SinkSettings) {
    this.appendNow = groupCommit((records) => this.append(records), settings.batchSize);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** `sync`: resolves once committed (or refuses, see `failure`); `async`: queued at once. */
  record(records: readonly DecisionRecord[]): Promise<void> {
    if (this.settings.mode === "sync") return this.commit(records);
    this.enqueue(records);
    return Promise.resolve();
  }

  async flush(): Promise<void> {
    this.wake?.();
    while (this.draining !== undefined) await this.draining;
  }

  private async append(records: readonly DecisionRecord[]) {
    const onAppend = this.settings.onAppend;
    if (onAppend === undefined) return this.settings.log.append(records);
    const started = performance.now();
    try {
      return await this.settings.log.append(records);
    } finally {
      onAppend((performance.now() - started) / 1000, records.length);
    }
  }

  private async commit(records: readonly DecisionRecord[]): Promise<void> {
    try {
      await this.appendNow(records);
      this.written += records.length;
    } catch (error) {
      this.failed += records.length;
      this.settings.onError(error);
      // Answered anyway: onError raised the alert and `failed` counts the decision.
      if (this.settings.failure === "allow-and-alert") return;
      throw new LatchError(
        "audit/unavailable",
        "unavailable",
        "the decision could not be recorded in the audit trail, so it is refused (auditing is sync); retry.",
        {},
        { cause: error },
      );
    }
  }

  private enqueue(records: readonly DecisionRecord[]): void {
    const { queueLimit, batchSize, flushMs } = this.settings;
    for (const record of records) {
      if (this.queue.length >= queueLimit) this.dropped += 1;
      else this.queue.push(record);
    }
    // After a short wait (or at once when a batch is full), so that the records of many calls go
    // in one append: an append per call cost a transaction per decision on the event loop.
    if (this.draining === undefined) {
      this.draining = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, flushMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }).then(() => {
        this.wake = undefined;
        return this.drain();
      });
    }
    if (this.queue.length >= batchSize) this.wake?.();
  }

  private async drain(): Promise<void> {
    const batchSize = this.settings.batchSize;
    while (this.queue.length > 0) {
      const batch = this.queue.length <= batchSize ? this.queue : this.queue.slice(0, batchSize);
      this.queue = this.queue.length <= batchSize ? [] : this.queue.slice(batchSize);
      try {
        await this.append(batch);
        this.written += batch.length;
      } catch (error) {
        this.failed += batch.length;
        this.settings.onError(error);
      }
    }
    this.draining = undefined;
  }
}
