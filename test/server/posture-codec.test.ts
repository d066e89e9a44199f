/** PostureService.Report's answer written in one buffer: the same bytes as protobuf-es's toBinary. */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { PostureServiceReportResponseSchema } from "../../src/gen/latch/v1/posture_service_pb.js";
import { encodePostureReportResponse } from "../../src/server/posture-codec.js";
import { useNodeTextEncoding } from "../../src/server/text-encoding.js";

// As the server runs.
beforeAll(() => useNodeTextEncoding());

const text = fc.oneof(
  fc.constant(""),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }),
  fc.string({ minLength: 200, maxLength: 20_000 }),
);

describe("the posture report's answer", () => {
  it("is written as toBinary writes it", () => {
    fc.assert(
      fc.property(text, text, (reportJson, revisionToken) => {
        const msg = create(PostureServiceReportResponseSchema, { reportJson, revisionToken });
        expect(
          encodePostureReportResponse(msg).equals(
            Buffer.from(toBinary(PostureServiceReportResponseSchema, msg)),
          ),
        ).toBe(true);
      }),
    );
  });

  it("writes a report of megabytes with a length of several bytes", () => {
    const reportJson = JSON.stringify({
      identities: Array.from({ length: 40_000 }, (_, k) => ({ id: `agent:a${k}`, note: "é" })),
    });
    const msg = create(PostureServiceReportResponseSchema, { reportJson, revisionToken: "42" });
    const bytes = encodePostureReportResponse(msg);
    expect(bytes.length).toBeGreaterThan(1_000_000);
    expect(bytes.equals(Buffer.from(toBinary(PostureServiceReportResponseSchema, msg)))).toBe(true);
  });
});
