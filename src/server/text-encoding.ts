/**
 * protobuf-es encodes strings with TextEncoder, which costs over a microsecond per short string on
 * Node 20 — more than the rest of a small message. Buffer's UTF-8 paths are several times faster
 * and give the same bytes, so the server and the client install them.
 */
import { configureTextEncoding, getTextEncoding } from "@bufbuild/protobuf/wire";

let installed = false;

export function useNodeTextEncoding(): void {
  if (installed) return;
  installed = true;
  const fallback = getTextEncoding();
  configureTextEncoding({
    encodeUtf8: (text) => Buffer.from(text, "utf8") as Uint8Array as Uint8Array<ArrayBuffer>,
    decodeUtf8: (bytes, strict) =>
      strict === true
        ? fallback.decodeUtf8(bytes, true)
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
    // Valid UTF-8 can encode any string without lone surrogates.
    checkUtf8: (text) => (text as string & { isWellFormed(): boolean }).isWellFormed(),
  });
}
