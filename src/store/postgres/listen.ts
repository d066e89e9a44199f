/**
 * The changes feed across replicas: writers NOTIFY the revision they committed; each replica
 * LISTENs on one dedicated connection (outside the pool) and tells its subscribers. When that
 * connection is down, the replica polls the revision counter instead, and reconnects with backoff;
 * subscribers see each new revision at most once and in increasing order either way (they should
 * treat it as "changes up to here exist" and read them with changesSince).
 */
import pg from "pg";
import type { Revision } from "../../core/index.js";

export interface ListenerOptions {
  readonly url: string;
  readonly channel: string;
  /** Reads the committed revision; used when LISTEN is down. */
  readonly poll: () => Promise<Revision>;
  readonly pollIntervalMs: number;
  /** While listening: how often to check the LISTEN connection is alive. */
  readonly heartbeatMs: number;
  readonly connectionTimeoutMillis: number;
  readonly applicationName: string;
}

export interface ChangeListener {
  subscribe(listener: (revision: Revision) => void): () => void;
  close(): Promise<void>;
  /** True while LISTEN is established (false: polling). */
  readonly listening: boolean;
}

export function createChangeListener(options: ListenerOptions): ChangeListener {
  const listeners = new Set<(revision: Revision) => void>();
  let client: pg.Client | undefined;
  let listening = false;
  let closed = false;
  let last: Revision | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoff = 100;

  const emit = (revision: Revision): void => {
    if (last !== undefined && revision <= last) return;
    last = revision;
    for (const listener of [...listeners]) {
      try {
        listener(revision);
      } catch {
        // A failing subscriber must not stop the others or the feed.
      }
    }
  };

  const pollOnce = async (): Promise<void> => {
    try {
      emit(await options.poll());
    } catch {
      // Still down: keep polling until the database answers.
    }
  };

  // One timer while anyone subscribes. LISTEN down: poll the counter every pollIntervalMs. LISTEN
  // up: every heartbeatMs, ping the LISTEN connection (a silent network would otherwise go
  // unnoticed for TCP keepalive's minutes) and poll once as a guard against a missed notification.
  const tick = async (): Promise<void> => {
    pollTimer = undefined;
    const current = client;
    if (listening && current !== undefined) {
      try {
        await current.query("SELECT 1");
      } catch {
        if (client === current) dropClient();
      }
    }
    await pollOnce();
    schedule();
  };

  const schedule = (): void => {
    if (pollTimer !== undefined || closed || listeners.size === 0) return;
    pollTimer = setTimeout(() => void tick(), listening ? options.heartbeatMs : options.pollIntervalMs);
    pollTimer.unref();
  };

  const startPolling = (): void => schedule();

  const stopPolling = (): void => {
    if (pollTimer !== undefined) clearTimeout(pollTimer);
    pollTimer = undefined;
  };

  const scheduleReconnect = (): void => {
    if (closed || reconnectTimer !== undefined || listeners.size === 0) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, backoff);
    reconnectTimer.unref();
    backoff = Math.min(backoff * 2, 5_000);
  };

  const dropClient = (): void => {
    const old = client;
    client = undefined;
    listening = false;
    if (old !== undefined) {
      old.removeAllListeners("notification");
      void old.end().catch(() => undefined);
    }
    if (!closed && listeners.size > 0) {
      // Back to the polling pace at once, not after a pending heartbeat interval.
      stopPolling();
      startPolling();
      scheduleReconnect();
    }
  };

  const connect = async (): Promise<void> => {
    if (closed || client !== undefined || listeners.size === 0) return;
    const next = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectionTimeoutMillis,
      application_name: options.applicationName,
      keepAlive: true,
      // Bounds the heartbeat: a LISTEN connection that cannot answer is replaced.
      query_timeout: options.connectionTimeoutMillis,
    });
    client = next;
    next.on("error", () => {
      if (client === next) dropClient();
    });
    next.on("end", () => {
      if (client === next) dropClient();
    });
    next.on("notification", (message) => {
      if (message.channel !== options.channel || message.payload === undefined) return;
      try {
        emit(BigInt(message.payload));
      } catch {
        // Not a revision: ignore rather than stop listening.
      }
    });
    try {
      await next.connect();
      await next.query(`LISTEN "${options.channel.replaceAll('"', '""')}"`);
      if (client !== next) return;
      listening = true;
      backoff = 100;
      stopPolling();
      // Anything committed while we were not listening.
      await pollOnce();
      schedule();
    } catch {
      if (client === next) dropClient();
    }
  };

  return {
    get listening() {
      return listening;
    },
    subscribe(listener) {
      listeners.add(listener);
      if (client === undefined && reconnectTimer === undefined) {
        startPolling();
        void connect();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          stopPolling();
          if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
          reconnectTimer = undefined;
          const old = client;
          client = undefined;
          listening = false;
          void old?.end().catch(() => undefined);
        }
      };
    },
    async close() {
      closed = true;
      listeners.clear();
      stopPolling();
      if (reconnectTimer !== undefined) clearTimeout(reconnectTimer);
      const old = client;
      client = undefined;
      listening = false;
      await old?.end().catch(() => undefined);
    },
  };
}
