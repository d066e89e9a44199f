/** Conformance: signals (subject state history at revisions, received SETs, replay refusal). */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { NewSignal, Store } from "../../../src/store/index.js";
import { SCHEMA, type StoreFactory, touch } from "./helpers.js";

const T0 = Date.parse("2026-12-04T12:00:00Z");

function signal(jti: string, overrides: Partial<NewSignal> = {}): NewSignal {
  return {
    issuer: "https://idp.example.com",
    jti,
    receivedAt: T0,
    via: "push",
    events: ["https://schemas.openid.net/secevent/risc/event-type/account-disabled"],
    effects: [
      {
        event: "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
        action: "suspend",
        subject: "user:alice",
      },
    ],
    ...overrides,
  };
}

export function signalCases(factory: StoreFactory): void {
  let store: Store;
  beforeEach(async () => {
    store = await factory();
  });
  afterEach(async () => {
    await store.close();
  });

  it("records each signal at a new revision, after every relationship write", async () => {
    await store.writeSchema(SCHEMA);
    const written = await store.write([touch("document:d1#viewer@user:alice")]);
    const revision = await store.signals.record(signal("j1"), [
      { kind: "suspend", subject: "user:alice", reason: "disabled" },
    ]);
    expect(revision).toBe(written + 1n);
    expect(await store.currentRevision()).toBe(revision);
    expect(await store.signals.seen("https://idp.example.com", "j1")).toBe(true);
    expect(await store.signals.seen("https://idp.example.com", "j2")).toBe(false);
    expect(await store.signals.list({})).toEqual([{ ...signal("j1"), revision }]);
    // The next relationship write comes after it.
    expect(await store.write([touch("document:d2#viewer@user:alice")])).toBe(revision + 1n);
  });

  it("refuses a second record of one (issuer, jti) and writes nothing of it", async () => {
    const first = await store.signals.record(signal("j1"), [
      { kind: "suspend", subject: "user:alice", reason: "r" },
    ]);
    await expect(
      store.signals.record(signal("j1"), [{ kind: "resume", subject: "user:alice" }]),
    ).rejects.toMatchObject({ code: "signal/replayed" });
    expect(await store.currentRevision()).toBe(first);
    const { rows } = await store.signals.statesSince(-1n);
    expect(rows.map((r) => r.suspended)).toEqual([true]);
    // Another issuer's jti of the same text is another signal.
    await store.signals.record(signal("j1", { issuer: "https://other.example.com" }), []);
  });

  it("keeps each subject's whole state after every change, as a history by revision", async () => {
    const r1 = await store.signals.record(signal("a"), [
      { kind: "set-attributes", subject: "user:alice", attributes: { risk: 5, level: 1 } },
      { kind: "suspend", subject: "agent:bot", reason: "compromised" },
    ]);
    const r2 = await store.signals.record(signal("b"), [
      { kind: "suspend", subject: "user:alice", reason: "disabled" },
      { kind: "set-attributes", subject: "user:alice", attributes: { risk: 1 } },
    ]);
    const r3 = await store.signals.record(signal("c"), [{ kind: "resume", subject: "user:alice" }]);
    const all = await store.signals.statesSince(-1n);
    expect(all.revision).toBe(r3);
    // Within one revision the order is not part of the contract.
    const order = (rows: readonly { revision: bigint; subject: string }[]) =>
      [...rows].sort((x, y) => Number(x.revision - y.revision) || x.subject.localeCompare(y.subject));
    expect(order(all.rows)).toEqual([
      { subject: "agent:bot", revision: r1, suspended: true, reason: "compromised", attributes: {} },
      {
        subject: "user:alice",
        revision: r1,
        suspended: false,
        reason: "",
        attributes: { risk: 5, level: 1 },
      },
      {
        subject: "user:alice",
        revision: r2,
        suspended: true,
        reason: "disabled",
        attributes: { risk: 1, level: 1 },
      },
      {
        subject: "user:alice",
        revision: r3,
        suspended: false,
        reason: "",
        attributes: { risk: 1, level: 1 },
      },
    ]);
    const since = await store.signals.statesSince(r2);
    expect(since.rows.map((r) => r.revision)).toEqual([r3]);
  });

  it("lists signals newest first, at most `limit`", async () => {
    await store.signals.record(signal("old", { receivedAt: T0 }), []);
    await store.signals.record(signal("new", { receivedAt: T0 + 1000 }), []);
    expect((await store.signals.list({ limit: 1 })).map((s) => s.jti)).toEqual(["new"]);
    expect((await store.signals.list({})).map((s) => s.jti)).toEqual(["new", "old"]);
  });
}
