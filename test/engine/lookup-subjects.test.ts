/** LookupSubjects: nested groups, folders, caveats, wildcards with exclusions, subject sets. */
import { describe, expect, it } from "vitest";
import { formatSubjectRef } from "../../src/core/index.js";
import { collectAll, loadLookupFixture, rels } from "./lookup-harness.js";
import { createMemoryStore } from "./memory-store.js";

const setup = async (...lines: string[]) => loadLookupFixture(await createMemoryStore(), rels(...lines));

const show = (r: {
  subject: Parameters<typeof formatSubjectRef>[0];
  state: string;
  excluded?: readonly unknown[];
}) =>
  `${formatSubjectRef(r.subject)} ${r.state}${
    r.excluded === undefined
      ? ""
      : ` -[${(r.excluded as Parameters<typeof formatSubjectRef>[0][]).map(formatSubjectRef).join(",")}]`
  }`;

describe("LookupSubjects", () => {
  it("lists subjects through nested groups and folders, with caveats, minus exclusions", async () => {
    const engine = await setup(
      "group:eng#member@user:alice",
      "group:all#member@group:eng#member",
      "group:all#member@user:bob",
      "folder:root#viewer@group:all#member",
      "folder:sub#parent@folder:root",
      "document:doc#parent@folder:sub",
      "document:doc#viewer@user:carol",
      'document:doc#viewer@user:dave[on_network:{"allowed":"10.0.0.1"}]',
      "document:doc#banned@user:bob",
    );
    const request = {
      resource: { type: "document", id: "doc" },
      permission: "view",
      subjectType: "user",
    } as const;
    const all = await collectAll(engine.lookupSubjects(request));
    expect(all.map(show)).toEqual(["user:alice ALLOWED", "user:carol ALLOWED", "user:dave CONDITIONAL"]);
    expect(all.find((r) => r.subject.id === "dave")?.missing).toEqual(["ip"]);
    const onNetwork = await collectAll(engine.lookupSubjects({ ...request, context: { ip: "10.0.0.1" } }));
    expect(onNetwork.map(show)).toEqual(["user:alice ALLOWED", "user:carol ALLOWED", "user:dave ALLOWED"]);
    const groups = await collectAll(
      engine.lookupSubjects({ ...request, subjectType: "group", subjectRelation: "member" }),
    );
    expect(groups.map(show)).toEqual(["group:all#member ALLOWED", "group:eng#member ALLOWED"]);
  });

  it("reports a wildcard with the subjects it excludes", async () => {
    const engine = await setup(
      "document:pub#viewer@user:*",
      "document:pub#viewer@user:erin",
      "document:pub#banned@user:bob",
      "document:pub#banned@group:blocked#member",
      "group:blocked#member@user:mallory",
    );
    const results = await collectAll(
      engine.lookupSubjects({
        resource: { type: "document", id: "pub" },
        permission: "view",
        subjectType: "user",
      }),
    );
    expect(results.map(show)).toEqual(["user:* ALLOWED -[user:bob,user:mallory]", "user:erin ALLOWED"]);
    const check = await engine.check({
      resource: { type: "document", id: "pub" },
      permission: "view",
      subject: { type: "user", id: "someone-else" },
    });
    expect(check.state).toBe("ALLOWED");
  });

  it("refuses unknown types and ends with deadline-exceeded on an aborted signal", async () => {
    const engine = await setup("document:doc#viewer@user:alice");
    await expect(
      collectAll(
        engine.lookupSubjects({
          resource: { type: "document", id: "doc" },
          permission: "view",
          subjectType: "robot",
        }),
      ),
    ).rejects.toMatchObject({ code: "check/unknown-type" });
    await expect(
      collectAll(
        engine.lookupSubjects({
          resource: { type: "document", id: "doc" },
          permission: "edit",
          subjectType: "user",
        }),
      ),
    ).rejects.toMatchObject({ code: "check/unknown-permission" });
    const controller = new AbortController();
    controller.abort();
    await expect(
      collectAll(
        engine.lookupSubjects(
          { resource: { type: "document", id: "doc" }, permission: "view", subjectType: "user" },
          { signal: controller.signal },
        ),
      ),
    ).rejects.toMatchObject({ code: "request/deadline-exceeded", kind: "deadline-exceeded" });
  });
});
