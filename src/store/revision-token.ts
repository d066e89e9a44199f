/**
 * Revision tokens ("zookies"): the opaque form of a revision that travels to clients.
 *
 * Layout (base64url): version(1) | store fingerprint(8) | revision(8, big-endian) | mac(16), where
 * the fingerprint is the first 8 bytes of SHA-256(store id) and the mac is HMAC-SHA256 over
 * everything before it, keyed by a random per-store secret kept in the datastore. A token from
 * another store fails the fingerprint check (a clear "foreign" error); an edited token fails the
 * mac. Every backend shares this codec, so tokens look the same whatever stores them.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Revision } from "../core/index.js";
import { StoreError } from "./errors.js";

const VERSION = 1;
const FINGERPRINT_BYTES = 8;
const MAC_BYTES = 16;
const TOKEN_BYTES = 1 + FINGERPRINT_BYTES + 8 + MAC_BYTES;
const MAX_REVISION = (1n << 63n) - 1n;

export interface RevisionCodec {
  encode(revision: Revision): string;
  decode(token: string): Revision;
}

/** A new random store identity. */
export function newStoreId(): string {
  return randomUUID();
}

/** A new random token secret (32 bytes). */
export function newTokenSecret(): Buffer {
  return randomBytes(32);
}

function malformed(why: string): StoreError {
  return new StoreError(
    "revision/malformed-token",
    "invalid-argument",
    `revision token is not valid: ${why}. Pass a token exactly as this store returned it.`,
  );
}

export function createRevisionCodec(storeId: string, secret: Uint8Array): RevisionCodec {
  if (secret.length < 16) throw new Error("revision token secret must be at least 16 bytes");
  const fingerprint = createHash("sha256").update(storeId).digest().subarray(0, FINGERPRINT_BYTES);
  const key = Buffer.from(secret);
  const mac = (body: Buffer) => createHmac("sha256", key).update(body).digest().subarray(0, MAC_BYTES);

  return {
    encode(revision: Revision): string {
      if (revision < 0n || revision > MAX_REVISION)
        throw new RangeError(`revision out of range: ${revision}`);
      const body = Buffer.alloc(TOKEN_BYTES - MAC_BYTES);
      body.writeUInt8(VERSION, 0);
      fingerprint.copy(body, 1);
      body.writeBigUInt64BE(revision, 1 + FINGERPRINT_BYTES);
      return Buffer.concat([body, mac(body)]).toString("base64url");
    },

    decode(token: string): Revision {
      if (typeof token !== "string" || !/^[A-Za-z0-9_-]+$/.test(token)) throw malformed("not base64url text");
      const bytes = Buffer.from(token, "base64url");
      if (bytes.length !== TOKEN_BYTES || bytes.toString("base64url") !== token)
        throw malformed("wrong length");
      if (bytes.readUInt8(0) !== VERSION) throw malformed(`unknown token version ${bytes.readUInt8(0)}`);
      if (!bytes.subarray(1, 1 + FINGERPRINT_BYTES).equals(fingerprint)) {
        throw new StoreError(
          "revision/foreign-token",
          "invalid-argument",
          "revision token was issued by another store: revisions of one datastore mean nothing in another. Use a token from this store, or none.",
          { storeId },
        );
      }
      const body = bytes.subarray(0, TOKEN_BYTES - MAC_BYTES);
      if (!timingSafeEqual(bytes.subarray(TOKEN_BYTES - MAC_BYTES), mac(body))) {
        throw malformed("it was altered (signature mismatch)");
      }
      const revision = body.readBigUInt64BE(1 + FINGERPRINT_BYTES);
      if (revision > MAX_REVISION) throw malformed("revision out of range");
      return revision;
    },
  };
}
