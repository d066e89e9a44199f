/**
 * PostureService.Report's answer written in one buffer. The report is a JSON document of megabytes
 * (1.85 MB on scale `m` with 1,000 agents); protobuf-es wrote it through its chunked writer, a
 * UTF-8 conversion and copies, about 20 ms inside a 65 ms stall of the server (bench/stall-data.ts,
 * CPU profile). The same bytes as `toBinary` (test/server/posture-codec.test.ts).
 */
import {
  PostureServiceReportRequestSchema,
  type PostureServiceReportResponse,
} from "../gen/latch/v1/posture_service_pb.js";
import { varintSize, writeVarint } from "./check-permission-codec.js";
import type { ServerCodec } from "./grpc-definition.js";
import { requestDecoder } from "./request-decoder.js";

// Tags of report_json (1) and revision_token (2), both length-delimited.
const REPORT_JSON = 0x0a;
const REVISION_TOKEN = 0x12;

export function encodePostureReportResponse(msg: PostureServiceReportResponse): Buffer {
  const fields: [number, string, number][] = [];
  for (const [tag, text] of [
    [REPORT_JSON, msg.reportJson],
    [REVISION_TOKEN, msg.revisionToken],
  ] as const) {
    // proto3: an empty string is not written.
    if (text !== "") fields.push([tag, text, Buffer.byteLength(text, "utf8")]);
  }
  let size = 0;
  for (const [, , bytes] of fields) size += 1 + varintSize(bytes) + bytes;
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [tag, text, bytes] of fields) {
    buf[pos++] = tag;
    pos = writeVarint(buf, pos, bytes);
    // As many bytes as characters: all ASCII (anything else takes two bytes or more), and Node
    // copies ASCII text at memory speed (2 MB: 0.1-0.3 ms against 6 ms through its UTF-8 writer).
    pos += buf.write(text, pos, bytes === text.length ? "ascii" : "utf8");
  }
  return buf;
}

/** For `served(PostureService, ..., { report: postureReportCodec })`. */
export const postureReportCodec: ServerCodec = {
  decodeRequest: requestDecoder(PostureServiceReportRequestSchema),
  encodeResponse: encodePostureReportResponse,
};
