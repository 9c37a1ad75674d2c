// Standard base64 (RFC 4648, with padding) to bytes, pure: a job document's signature, and image blocks from MQTT file delivery.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The bytes, or undefined when text is not canonical padded base64. */
export function base64Decode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(base64DecodedLength(text));
  return base64DecodeInto(text, out, 0) === out.length ? out : undefined;
}

/** The number of bytes text decodes to (when it is valid base64). */
export function base64DecodedLength(text: string): number {
  if (text.length % 4 !== 0) return 0;
  return (text.length / 4) * 3 - (text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0);
}

/**
 * Decodes text into out from offset without allocating (a block of an image arrives as base64 in a
 * JSON message); returns the bytes written, or -1 when text is not canonical padded base64 or does
 * not fit.
 */
export function base64DecodeInto(text: string, out: Uint8Array, offset: number): number {
  if (text.length % 4 !== 0) return -1;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const length = (text.length / 4) * 3 - padding;
  if (offset < 0 || offset + length > out.length) return -1;
  const end = offset + length;
  let o = offset;
  for (let i = 0; i < text.length; i += 4) {
    let group = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      let v: number;
      if (c === 61 /* = */) {
        if (i + 4 !== text.length || j < 4 - padding) return -1;
        v = 0;
      } else {
        v = sextet(c);
        if (v < 0) return -1;
      }
      group = (group << 6) | v;
    }
    out[o++] = group >> 16;
    if (o < end) out[o++] = (group >> 8) & 0xff;
    if (o < end) out[o++] = group & 0xff;
    // canonical: the bits padding leaves over must be zero
    if (i + 4 === text.length && ((padding === 1 && (group & 0xff) !== 0) || (padding === 2 && (group & 0xffff) !== 0))) return -1;
  }
  return length;
}

/** The value of one base64 character code, or -1. */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  if (c === 43) return 62;
  if (c === 47) return 63;
  return -1;
}

export function base64Encode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    s += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : "=";
    s += i + 2 < bytes.length ? ALPHABET[n & 63] : "=";
  }
  return s;
}
