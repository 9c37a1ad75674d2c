// The firmware-update job document: what an AWS IoT job gives the device, parsed and checked before
// anything is downloaded. Pure. A document that is not an update this firmware understands is
// refused with a reason that ends up in the job execution's statusDetails.
//
//   {
//     "operation": "iiot.firmware-update",
//     "version": "0.4.0",                        the image's FIRMWARE_VERSION
//     "image": {
//       "url": "https://...",                    HTTPS with byte ranges (an S3 presigned URL:
//                                                AWS substitutes ${aws:iot:s3-presigned-url:...})
//       "stream": { "id": "...", "fileId": 0 },  or AWS IoT MQTT-based file delivery (one of the two)
//       "size": 1441792,                         bytes
//       "sha256": "<64 hex digits>",
//       "signature": "<base64>",                 ECDSA P-256 over SHA-256 of the image, DER or r||s
//       "blockSize": 4096                        optional: download block, 4096 (a flash sector) to 32768, power of 2
//     },
//     "allowDowngrade": false                    optional
//   }

import { base64Decode } from "./base64";
import { fromHex } from "./sha256";

export const UPDATE_OPERATION = "iiot.firmware-update";
export const DEFAULT_BLOCK_SIZE = 4096;

export type ImageSource = { kind: "https"; url: string } | { kind: "stream"; streamId: string; fileId: number };

export interface UpdateDocument {
  version: string;
  source: ImageSource;
  size: number;
  sha256: Uint8Array;
  signature: Uint8Array;
  blockSize: number;
  allowDowngrade: boolean;
}

export type ParseResult = { ok: true; document: UpdateDocument } | { ok: false; reason: string };

export interface DocumentLimits {
  /** The largest image the update slot takes. */
  maxImageBytes: number;
}

const VERSION = /^(\d{1,5})\.(\d{1,5})\.(\d{1,5})(?:-[0-9A-Za-z.-]{1,20})?$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks an already-JSON-parsed job document (the jobDocument of a job execution). */
export function parseUpdateDocument(doc: unknown, limits: DocumentLimits): ParseResult {
  const fail = (reason: string): ParseResult => ({ ok: false, reason });
  if (!isObject(doc)) return fail("malformed: the job document is not an object");
  const operation = doc.operation;
  if (operation !== UPDATE_OPERATION) return fail(typeof operation === "string" ? `unknown job type: ${operation.slice(0, 40)}` : "unknown job type: no operation");
  const version = doc.version;
  if (typeof version !== "string" || !VERSION.test(version)) return fail("malformed: version must be MAJOR.MINOR.PATCH");
  const image = doc.image;
  if (!isObject(image)) return fail("malformed: no image");
  let source: ImageSource;
  if (image.url !== undefined && image.stream !== undefined) return fail("malformed: image has both url and stream");
  if (typeof image.url === "string") {
    if (!/^https:\/\/[^\s/]+\/\S*$/.test(image.url) || image.url.length > 2048) return fail("malformed: image.url must be an https URL");
    source = { kind: "https", url: image.url };
  } else if (isObject(image.stream)) {
    const { id, fileId } = image.stream;
    if (typeof id !== "string" || !/^[a-zA-Z0-9_-]{1,128}$/.test(id)) return fail("malformed: image.stream.id");
    if (!Number.isInteger(fileId) || (fileId as number) < 0 || (fileId as number) > 255) return fail("malformed: image.stream.fileId must be 0..255");
    source = { kind: "stream", streamId: id, fileId: fileId as number };
  } else return fail("malformed: image needs url or stream");
  const size = image.size;
  if (!Number.isInteger(size) || (size as number) <= 0) return fail("malformed: image.size must be a positive integer");
  if ((size as number) > limits.maxImageBytes) return fail(`image too large: ${size} bytes, the slot holds ${limits.maxImageBytes}`);
  const sha = typeof image.sha256 === "string" && image.sha256.length === 64 ? fromHex(image.sha256) : undefined;
  if (!sha) return fail("malformed: image.sha256 must be 64 hex digits");
  const signature = typeof image.signature === "string" && image.signature.length <= 200 ? base64Decode(image.signature) : undefined;
  if (!signature || signature.length < 8 || signature.length > 72) return fail("malformed: image.signature must be a base64 ECDSA P-256 signature");
  let blockSize = DEFAULT_BLOCK_SIZE;
  if (image.blockSize !== undefined) {
    const b = image.blockSize;
    // whole flash sectors, so a block rewritten after a power cut is erased alone
    if (!Number.isInteger(b) || (b as number) < 4096 || (b as number) > 32768 || ((b as number) & ((b as number) - 1)) !== 0)
      return fail("malformed: image.blockSize must be a power of 2 from 4096 to 32768");
    blockSize = b as number;
  }
  const allowDowngrade = doc.allowDowngrade === true;
  if (doc.allowDowngrade !== undefined && typeof doc.allowDowngrade !== "boolean") return fail("malformed: allowDowngrade must be true or false");
  return { ok: true, document: { version, source, size: size as number, sha256: sha, signature, blockSize, allowDowngrade } };
}

/** Compares MAJOR.MINOR.PATCH (a pre-release suffix sorts before its release): <0, 0 or >0. */
export function compareVersions(a: string, b: string): number {
  const pa = VERSION.exec(a);
  const pb = VERSION.exec(b);
  if (!pa || !pb) throw new RangeError(`not a version: ${pa ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  const sa = a.includes("-");
  const sb = b.includes("-");
  if (sa !== sb) return sa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
