// AWS IoT MQTT-based file delivery (streams), GetStream in its JSON form, pure: a request on
// `$aws/things/<thing>/streams/<streamId>/get/json` is answered by one message per block on
// `.../data/json`, or by one error on `.../rejected/json`, as the developer guide's "Using AWS IoT
// MQTT-based file delivery in devices" describes:
//   request  {"c"?: client token (<= 64), "s"?: stream version, "f": file id 0..255, "l": block size
//             256..131072, "o"?: first block 0..98304, "n"?: blocks 0..98304 (default 131072 / l),
//             "b"?: bitmap of the blocks wanted, from block o (hex text, bit 0 = lowest bit of the first byte)}
//   data     {"c"?, "f", "l": this block's length, "i": block index, "p": the bytes in base64}
//   rejected {"o": error code, "m": message, "c"?}
// One request returns at most 128 KB of blocks (the service limit): the device asks again for more.
// The guide calls "p" hexadecimal; AWS's own downloader (aws-iot-core-mqtt-file-streams-embedded-c)
// base64-decodes it, and so does this one's device side (src/ota).

export const MAX_REQUEST_BYTES = 131_072;
const MAX_BLOCK_INDEX = 98_304;
const MAX_BITMAP_BYTES = 12_288;

export interface Stream {
  version: number;
  files: ReadonlyMap<number, Uint8Array>;
}

export type StreamErrorCode =
  | "InvalidJson"
  | "InvalidRequest"
  | "BlockSizeOutOfBounds"
  | "OffsetOutOfBounds"
  | "BlockCountLimitExceeded"
  | "BlockBitmapLimitExceeded"
  | "ResourceNotFound"
  | "VersionMismatch";

export type GetStreamAnswer = { data: Record<string, unknown>[] } | { rejected: { o: StreamErrorCode; m: string; c?: string } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isIndex = (v: unknown, max: number): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;

/** The bit offsets (from block o) a GetStream bitmap sets, or undefined when it is not hex bytes. */
function bitmapBlocks(text: string): number[] | undefined {
  const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  const blocks: number[] = [];
  for (let byte = 0; byte < hex.length / 2; byte++) {
    const value = parseInt(hex.slice(byte * 2, byte * 2 + 2), 16);
    for (let bit = 0; bit < 8; bit++) if (value & (1 << bit)) blocks.push(byte * 8 + bit);
  }
  return blocks;
}

/** The answer to one GetStream request for a stream (undefined: no such stream). */
export function getStream(stream: Stream | undefined, payload: string): GetStreamAnswer {
  let request: unknown;
  try {
    request = JSON.parse(payload);
  } catch {
    return { rejected: { o: "InvalidJson", m: "The stream request is not a valid JSON document" } };
  }
  if (!isObject(request)) return { rejected: { o: "InvalidRequest", m: "The stream request must be a JSON object" } };
  // A client token that is not valid is not returned in the error.
  if (request.c !== undefined && (typeof request.c !== "string" || Buffer.byteLength(request.c) > 64)) return { rejected: { o: "InvalidRequest", m: "The client token must be a string of at most 64 bytes" } };
  const token = request.c === undefined ? {} : { c: request.c };
  const fail = (o: StreamErrorCode, m: string): GetStreamAnswer => ({ rejected: { o, m, ...token } });
  const { s, f, l } = request;
  const o = request.o ?? 0;
  if (!isIndex(f, 255)) return fail("InvalidRequest", "f (the stream file id) must be an integer from 0 to 255");
  if (!Number.isInteger(l)) return fail("InvalidRequest", "l (the block size) must be an integer");
  if ((l as number) < 256 || (l as number) > MAX_REQUEST_BYTES) return fail("BlockSizeOutOfBounds", "The block size is out of bounds (256 to 131072)");
  if (!Number.isInteger(o)) return fail("InvalidRequest", "o (the block offset) must be an integer");
  if (!isIndex(o, MAX_BLOCK_INDEX)) return fail("OffsetOutOfBounds", "The offset is out of bounds (0 to 98304)");
  const blockSize = l as number;
  const perRequest = Math.floor(MAX_REQUEST_BYTES / blockSize);
  const n = request.n ?? perRequest;
  if (!Number.isInteger(n)) return fail("InvalidRequest", "n (the number of blocks) must be an integer");
  if (!isIndex(n, MAX_BLOCK_INDEX)) return fail("BlockCountLimitExceeded", "The number of blocks requested is out of bounds (0 to 98304)");
  let wanted: number[];
  if (request.b !== undefined) {
    if (typeof request.b !== "string") return fail("InvalidRequest", "b (the block bitmap) must be a hex string");
    if ((request.b.length - (/^0x/i.test(request.b) ? 2 : 0)) / 2 >= MAX_BITMAP_BYTES) return fail("BlockBitmapLimitExceeded", "The block bitmap must be less than 12288 bytes");
    const bits = bitmapBlocks(request.b);
    if (!bits) return fail("InvalidRequest", "b (the block bitmap) must be hex bytes");
    wanted = bits.map((bit) => o + bit);
  } else wanted = Array.from({ length: Math.min(n as number, perRequest) }, (_, k) => o + k);
  if (!stream) return fail("ResourceNotFound", "The stream was not found");
  if (s !== undefined && s !== stream.version) return fail("VersionMismatch", `The stream version is ${stream.version}, the request names ${String(s)}`);
  const file = stream.files.get(f);
  if (!file) return fail("ResourceNotFound", `The stream has no file ${f}`);
  const blocks = Math.ceil(file.length / blockSize);
  const present = wanted.filter((i) => i < blocks).slice(0, Math.min(n as number, perRequest));
  if (present.length === 0 && wanted.length > 0) return fail("ResourceNotFound", `The file has ${blocks} blocks of ${blockSize} bytes; none of those requested`);
  return {
    data: present.map((i) => {
      const bytes = file.subarray(i * blockSize, Math.min(file.length, (i + 1) * blockSize));
      return { ...token, f, l: bytes.length, i, p: Buffer.from(bytes).toString("base64") };
    }),
  };
}
