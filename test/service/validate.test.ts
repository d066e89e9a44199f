/** The service's validation on plain values: what both transports refuse, and the field it names. */
import { describe, expect, it } from "vitest";
import { isLatchError } from "../../src/core/index.js";
import {
  checkObjectRef,
  checkSubjectRef,
  objectId,
  permissionName,
  RequestError,
  relationName,
  typeName,
} from "../../src/service/index.js";

function refusal(f: () => unknown): { code: string; kind: string; message: string; field: unknown } {
  try {
    f();
  } catch (error) {
    if (!isLatchError(error)) throw error;
    expect(error).toBeInstanceOf(RequestError);
    return { code: error.code, kind: error.kind, message: error.message, field: error.details.field };
  }
  throw new Error("not refused");
}

describe("names", () => {
  it("accepts valid names as they are", () => {
    expect(typeName("document", "t")).toBe("document");
    expect(typeName("acme/document", "t")).toBe("acme/document");
    expect(relationName("viewer", "r")).toBe("viewer");
    expect(permissionName("can_view", "p")).toBe("can_view");
  });

  it("refuses an empty name as required, naming the field", () => {
    expect(refusal(() => typeName("", "resource_object_type"))).toEqual({
      code: "request/invalid-argument",
      kind: "invalid-argument",
      message: "resource_object_type: is required",
      field: "resource_object_type",
    });
    expect(refusal(() => permissionName("", "permission")).message).toBe("permission: is required");
  });

  it("says which rule a malformed name breaks", () => {
    expect(refusal(() => typeName("Document!", "t")).message).toMatch(
      /^t: "Document!" is not a valid type name/,
    );
    expect(refusal(() => relationName("a b", "r")).message).toMatch(/is not a valid relation name/);
    expect(refusal(() => permissionName("a b", "p")).message).toMatch(/is not a valid permission name/);
  });

  it("clips a huge value in the message", () => {
    const { message } = refusal(() => typeName("X".repeat(100_000), "t"));
    expect(message.length).toBeLessThan(1000);
  });
});

describe("references", () => {
  it("accepts an object and refuses a wildcard object", () => {
    expect(checkObjectRef({ type: "document", id: "a" }, "resource")).toEqual({ type: "document", id: "a" });
    expect(refusal(() => checkObjectRef({ type: "document", id: "*" }, "resource")).field).toBe(
      "resource.object_id",
    );
    expect(refusal(() => checkObjectRef({ type: "", id: "a" }, "resource")).field).toBe(
      "resource.object_type",
    );
  });

  it("accepts a wildcard subject, but not one with a relation", () => {
    expect(checkSubjectRef({ type: "user", id: "*" }, "subject")).toEqual({ type: "user", id: "*" });
    expect(
      refusal(() => checkSubjectRef({ type: "user", id: "*", relation: "member" }, "subject")),
    ).toMatchObject({
      field: "subject.optional_relation",
      message: "subject.optional_relation: a wildcard subject has no relation",
    });
  });

  it("drops the ellipsis relation and checks any other", () => {
    expect(checkSubjectRef({ type: "group", id: "eng", relation: "..." }, "subject")).toEqual({
      type: "group",
      id: "eng",
    });
    expect(checkSubjectRef({ type: "group", id: "eng", relation: "member" }, "subject")).toEqual({
      type: "group",
      id: "eng",
      relation: "member",
    });
    expect(
      refusal(() => checkSubjectRef({ type: "group", id: "eng", relation: "Bad!" }, "items[2].subject"))
        .field,
    ).toBe("items[2].subject.optional_relation");
    expect(refusal(() => checkSubjectRef({ type: "user", id: "" }, "subject")).field).toBe(
      "subject.object.object_id",
    );
  });

  it("refuses ids that are not valid object ids", () => {
    expect(objectId("*", "f", true)).toBe("*");
    expect(refusal(() => objectId("a b", "f", false)).message).toBe('f: "a b" is not a valid object id');
  });
});
