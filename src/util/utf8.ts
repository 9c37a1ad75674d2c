// UTF-8 without TextEncoder/TextDecoder: those are optional modules on Moddable, not globals,
// and pure code must run the same on every engine.

// XS turns a string primitive into a String object for every property it reads on it: text.length
// and text.charCodeAt(i) in a loop allocate about four slots per character (measured on XS), which
// for a 5 KB batch is eight times an ESP32 board's whole slot heap of garbage. So the length is read
// once, and charCodeAt is called through the function itself, which reads nothing on the primitive.
const charCodeAt = String.prototype.charCodeAt;

export function utf8Length(text: string): number {
  const n = text.length;
  let length = 0;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt.call(text, i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (charCodeAt.call(text, i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i++;
    } else length += 3; // BMP character, or a lone surrogate encoded as U+FFFD
  }
  return length;
}

export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(utf8Length(text));
  utf8EncodeInto(text, out, 0);
  return out;
}

/**
 * Writes text's UTF-8 into out from offset (out must have room: utf8Length(text) bytes); returns
 * the offset after it. Lets a message be written from its parts without joining them into one string.
 */
export function utf8EncodeInto(text: string, out: Uint8Array, offset: number): number {
  const n = text.length;
  let o = offset;
  for (let i = 0; i < n; i++) {
    let c = charCodeAt.call(text, i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? charCodeAt.call(text, i + 1) : 0;
      if (c <= 0xdbff && (next & 0xfc00) === 0xdc00) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[o++] = 0xf0 | (cp >> 18);
        out[o++] = 0x80 | ((cp >> 12) & 0x3f);
        out[o++] = 0x80 | ((cp >> 6) & 0x3f);
        out[o++] = 0x80 | (cp & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  }
  return o;
}

/** Strict decoding: throws RangeError on malformed, overlong or surrogate sequences. */
export function utf8Decode(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    let cp: number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      text += String.fromCharCode(b);
      i++;
      continue;
    } else if ((b & 0xe0) === 0xc0) [cp, need, min] = [b & 0x1f, 1, 0x80];
    else if ((b & 0xf0) === 0xe0) [cp, need, min] = [b & 0x0f, 2, 0x800];
    else if ((b & 0xf8) === 0xf0) [cp, need, min] = [b & 0x07, 3, 0x10000];
    else throw new RangeError(`invalid UTF-8 lead byte at ${i}`);
    if (i + need >= bytes.length) throw new RangeError(`truncated UTF-8 at ${i}`);
    for (let k = 1; k <= need; k++) {
      const cont = bytes[i + k];
      if ((cont & 0xc0) !== 0x80) throw new RangeError(`invalid UTF-8 continuation at ${i + k}`);
      cp = (cp << 6) | (cont & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new RangeError(`invalid UTF-8 code point at ${i}`);
    text += String.fromCodePoint(cp);
    i += need + 1;
  }
  return text;
}
