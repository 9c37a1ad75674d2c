// SHA-256 (FIPS 180-4), incremental, pure: hashes a firmware image block by block as it arrives,
// on ESP32, on the simulator and in tests. No allocation per update(): the message schedule and the
// partial block live in the instance and are reused, so hashing a 1.5 MB image makes no garbage.

const K = Uint32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);

const INITIAL = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);

export class Sha256 {
  readonly #h = new Uint32Array(8);
  readonly #w = new Uint32Array(64);
  readonly #block = new Uint8Array(64);
  #blockLength = 0;
  /** Message length in bytes so far (exact up to 2^53). */
  #length = 0;
  #finished = false;

  constructor() {
    this.reset();
  }

  reset(): this {
    this.#h.set(INITIAL);
    this.#blockLength = 0;
    this.#length = 0;
    this.#finished = false;
    return this;
  }

  /** Bytes hashed so far. */
  get byteLength(): number {
    return this.#length;
  }

  /** Adds bytes[offset, offset + length) to the message. */
  update(bytes: Uint8Array, offset = 0, length = bytes.length - offset): this {
    if (this.#finished) throw new Error("sha256: update after digest (reset first)");
    if (offset < 0 || length < 0 || offset + length > bytes.length) throw new RangeError("sha256: range outside the buffer");
    this.#length += length;
    const block = this.#block;
    let i = offset;
    const end = offset + length;
    if (this.#blockLength > 0) {
      while (i < end && this.#blockLength < 64) block[this.#blockLength++] = bytes[i++];
      if (this.#blockLength < 64) return this;
      this.#compress(block, 0);
      this.#blockLength = 0;
    }
    while (end - i >= 64) {
      this.#compress(bytes, i);
      i += 64;
    }
    while (i < end) block[this.#blockLength++] = bytes[i++];
    return this;
  }

  /** The 32-byte digest, into out (at outOffset) if given; the hash must be reset before reuse. */
  digest(out: Uint8Array = new Uint8Array(32), outOffset = 0): Uint8Array {
    if (this.#finished) throw new Error("sha256: digest twice (reset first)");
    this.#finished = true;
    const block = this.#block;
    const bitsHigh = Math.floor(this.#length / 0x20000000); // length * 8 / 2^32
    const bitsLow = (this.#length * 8) >>> 0;
    block[this.#blockLength++] = 0x80;
    if (this.#blockLength > 56) {
      block.fill(0, this.#blockLength);
      this.#compress(block, 0);
      this.#blockLength = 0;
    }
    block.fill(0, this.#blockLength, 56);
    writeU32(block, 56, bitsHigh);
    writeU32(block, 60, bitsLow);
    this.#compress(block, 0);
    for (let j = 0; j < 8; j++) writeU32(out, outOffset + j * 4, this.#h[j]);
    return out;
  }

  #compress(bytes: Uint8Array, at: number): void {
    const w = this.#w;
    for (let t = 0; t < 16; t++, at += 4) w[t] = (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.#h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
}

function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** One-shot SHA-256 of bytes. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Sha256().update(bytes).digest();
}

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  return s;
}

/** Lower- or upper-case hex to bytes; undefined when it is not whole hex bytes. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

/** Constant-time comparison of two digests (no early exit on the first difference). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
