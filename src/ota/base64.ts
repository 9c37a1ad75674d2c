// Standard base64 (RFC 4648, with padding) to bytes, pure: the signature in a job document.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The bytes, or undefined when text is not canonical padded base64. */
export function base64Decode(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let group = 0;
    for (let j = 0; j < 4; j++) {
      const c = text[i + j];
      let v: number;
      if (c === "=") {
        if (i + 4 !== text.length || j < 4 - padding) return undefined;
        v = 0;
      } else {
        v = ALPHABET.indexOf(c);
        if (v < 0) return undefined;
      }
      group = (group << 6) | v;
    }
    out[o++] = group >> 16;
    if (o < out.length) out[o++] = (group >> 8) & 0xff;
    if (o < out.length) out[o++] = group & 0xff;
    // canonical: the bits padding leaves over must be zero
    if (i + 4 === text.length && ((padding === 1 && (group & 0xff) !== 0) || (padding === 2 && (group & 0xffff) !== 0))) return undefined;
  }
  return out;
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
