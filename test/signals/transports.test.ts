/**
 * Signals through both clients (embedded `sendSignal`, and SignalService over gRPC): the effects
 * of account-purged (suspend, revoke-delegations, delete-relationships), the older event-level
 * `subject`, refusals with their codes, and `listSignals`.
 */
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import { EVENT_TYPES } from "../../src/signals/index.js";
import { TRANSPORTS } from "../service/transports.js";
import { AUDIENCE, alice, createTransmitter, ISSUER, RULES, SCHEMA } from "./fixtures.js";

describe.each(TRANSPORTS)("signals through %s", (_name, transport) => {
  it("applies account-purged, reads the event-level subject, refuses a replay, lists what was done", async () => {
    const transmitter = await createTransmitter();
    await transport(
      {
        schema: SCHEMA,
        signals: {
          transmitter: { jwks: transmitter.jwks, issuer: ISSUER, audience: AUDIENCE },
          rules: RULES,
        },
      },
      async (client) => {
        await client.writeRelationships({
          updates: [
            "document:plan#viewer@user:alice",
            "document:notes#owner@user:alice",
            "folder:f1#viewer@user:alice",
            "user:alice#delegate@agent:bot",
            "agent:bot#owner@user:alice",
          ].map((relationship) => ({ operation: "touch" as const, relationship })),
        });
        // The older CAEP/RISC shape: the subject inside the event, no top-level sub_id.
        const set = await transmitter.sign({ [EVENT_TYPES.accountPurged]: { subject: alice } });
        const answer = await client.sendSignal(set);
        expect(answer.effects).toEqual([
          { event: EVENT_TYPES.accountPurged, action: "suspend", subject: "user:alice" },
          {
            event: EVENT_TYPES.accountPurged,
            action: "revoke-delegations",
            subject: "user:alice",
            deleted: 1,
          },
          {
            event: EVENT_TYPES.accountPurged,
            action: "delete-relationships",
            subject: "user:alice",
            deleted: 2,
          },
        ]);
        const left = [];
        for await (const item of client.readRelationships({
          filter: { resourceType: "folder" },
          consistency: { kind: "at-least-as-fresh", token: answer.revisionToken },
        }))
          left.push(item);
        // Only documents were named by the rule: the folder grant stays (and is DENIED below).
        expect(left.length).toBe(1);
        const check = await client.check({
          resource: "folder:f1",
          permission: "view",
          subject: "user:alice",
          consistency: { kind: "at-least-as-fresh", token: answer.revisionToken },
        });
        expect(check.state).toBe("DENIED");

        const error = await client.sendSignal(set).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isLatchError(error) ? error.code : error).toBe("signal/replayed");
        const bad = await client.sendSignal("not-a-set").then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isLatchError(bad) ? bad.code : bad).toBe("signal/invalid-request");

        const listed = await client.listSignals();
        expect(listed.length).toBe(1);
        expect(listed[0]).toMatchObject({
          issuer: ISSUER,
          events: [EVENT_TYPES.accountPurged],
          effects: answer.effects,
        });
      },
    );
  });
});
