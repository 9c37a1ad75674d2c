// ECDSA signature verification on NIST P-256 with SHA-256 (FIPS 186-5, SEC 1), pure, with BigInt:
// the firmware checks an image's signature against a public key built into it before the image may
// boot. Only verification: the device never signs, so nothing here is secret and constant time is
// not needed. Points are in Jacobian coordinates (no inversion per step); u1*G + u2*Q is computed in
// one pass (Shamir's trick). A verification allocates a few thousand short-lived BigInts; it runs
// once per update, after the image is written, so the garbage is collected before anything else
// needs the heap.

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const GX = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n;
const GY = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n;

/** A point in Jacobian coordinates (x = X/Z^2, y = Y/Z^3); Z = 0 is the point at infinity. */
interface Jacobian {
  x: bigint;
  y: bigint;
  z: bigint;
}

export interface PublicKey {
  x: bigint;
  y: bigint;
}

export class SignatureFormatError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "SignatureFormatError";
  constructor(message: string) {
    super(message);
  }
}

const mod = (a: bigint, m: bigint): bigint => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

/** a^-1 mod m for m prime and a not 0 mod m (extended Euclid: much cheaper than a^(m-2)). */
function invert(a: bigint, m: bigint): bigint {
  let r0 = m;
  let r1 = mod(a, m);
  let t0 = 0n;
  let t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const t2 = t0 - q * t1;
    t0 = t1;
    t1 = t2;
  }
  if (r0 !== 1n) throw new RangeError("not invertible");
  return mod(t0, m);
}

const INFINITY: Jacobian = { x: 1n, y: 1n, z: 0n };

/** 2P, for a = -3 (dbl-2001-b). */
function double(p: Jacobian): Jacobian {
  if (p.z === 0n || p.y === 0n) return INFINITY;
  const delta = (p.z * p.z) % P;
  const gamma = (p.y * p.y) % P;
  const beta = (p.x * gamma) % P;
  const alpha = (3n * mod((p.x - delta) * (p.x + delta), P)) % P;
  const x = mod(alpha * alpha - 8n * beta, P);
  const z = mod((p.y + p.z) * (p.y + p.z) - gamma - delta, P);
  const y = mod(alpha * (4n * beta - x) - 8n * ((gamma * gamma) % P), P);
  return { x, y, z };
}

/** P + Q (add-2007-bl), falling back to doubling when P = Q. */
function add(p: Jacobian, q: Jacobian): Jacobian {
  if (p.z === 0n) return q;
  if (q.z === 0n) return p;
  const z1z1 = (p.z * p.z) % P;
  const z2z2 = (q.z * q.z) % P;
  const u1 = (p.x * z2z2) % P;
  const u2 = (q.x * z1z1) % P;
  const s1 = (((p.y * q.z) % P) * z2z2) % P;
  const s2 = (((q.y * p.z) % P) * z1z1) % P;
  if (u1 === u2) return s1 === s2 ? double(p) : INFINITY;
  const h = mod(u2 - u1, P);
  const i = (4n * h * h) % P;
  const j = (h * i) % P;
  const r = mod(2n * (s2 - s1), P);
  const v = (u1 * i) % P;
  const x = mod(r * r - j - 2n * v, P);
  const y = mod(r * (v - x) - 2n * ((s1 * j) % P), P);
  const z = mod(((p.z + q.z) * (p.z + q.z) - z1z1 - z2z2) * h, P);
  return { x, y, z };
}

function toAffineX(p: Jacobian): bigint {
  const zi = invert(p.z, P);
  return (p.x * ((zi * zi) % P)) % P;
}

export function isOnCurve(x: bigint, y: bigint): boolean {
  if (x < 0n || x >= P || y < 0n || y >= P) return false;
  return mod(y * y - (x * x * x - 3n * x + B), P) === 0n;
}

export function bytesToBigInt(bytes: Uint8Array, offset = 0, length = bytes.length - offset): bigint {
  let v = 0n;
  for (let i = offset; i < offset + length; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** DER SubjectPublicKeyInfo prefix for an id-ecPublicKey on prime256v1, uncompressed point follows. */
const SPKI_PREFIX = Uint8Array.of(
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
);

/**
 * A P-256 public key from an uncompressed SEC 1 point (65 bytes, 0x04 X Y) or a DER
 * SubjectPublicKeyInfo holding one (91 bytes, what `openssl ec -pubout -outform der` writes).
 */
export function parsePublicKey(bytes: Uint8Array): PublicKey {
  let at = 0;
  if (bytes.length === SPKI_PREFIX.length + 65) {
    for (let i = 0; i < SPKI_PREFIX.length; i++) if (bytes[i] !== SPKI_PREFIX[i]) throw new SignatureFormatError("public key: not a P-256 SubjectPublicKeyInfo");
    at = SPKI_PREFIX.length;
  } else if (bytes.length !== 65) throw new SignatureFormatError(`public key: ${bytes.length} bytes, expected 65 or 91`);
  if (bytes[at] !== 0x04) throw new SignatureFormatError("public key: not an uncompressed point");
  const x = bytesToBigInt(bytes, at + 1, 32);
  const y = bytesToBigInt(bytes, at + 33, 32);
  if (!isOnCurve(x, y)) throw new SignatureFormatError("public key: point not on P-256");
  return { x, y };
}

/** One DER INTEGER at bytes[at]: value and the offset after it. Strict: minimal length, non-negative. */
function derInteger(bytes: Uint8Array, at: number): { value: bigint; next: number } {
  if (bytes[at] !== 0x02) throw new SignatureFormatError("signature: INTEGER expected");
  const length = bytes[at + 1];
  if (length === undefined || length < 1 || length > 33 || at + 2 + length > bytes.length) throw new SignatureFormatError("signature: bad INTEGER length");
  const first = bytes[at + 2];
  if (first & 0x80) throw new SignatureFormatError("signature: negative INTEGER");
  if (first === 0 && length > 1 && !(bytes[at + 3] & 0x80)) throw new SignatureFormatError("signature: INTEGER not minimally encoded");
  return { value: bytesToBigInt(bytes, at + 2, length), next: at + 2 + length };
}

/**
 * (r, s) from a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs, what OpenSSL, node:crypto and AWS
 * Signer produce) or from 64 raw bytes r || s (IEEE P1363, WebCrypto's form).
 */
export function parseSignature(bytes: Uint8Array): { r: bigint; s: bigint } {
  if (bytes.length === 64 && bytes[0] !== 0x30) return { r: bytesToBigInt(bytes, 0, 32), s: bytesToBigInt(bytes, 32, 32) };
  if (bytes.length < 8 || bytes[0] !== 0x30 || bytes[1] !== bytes.length - 2) throw new SignatureFormatError("signature: not a DER SEQUENCE of its length");
  const r = derInteger(bytes, 2);
  const s = derInteger(bytes, r.next);
  if (s.next !== bytes.length) throw new SignatureFormatError("signature: trailing bytes");
  return { r: r.value, s: s.value };
}

/**
 * Whether signature (DER or raw) is a valid ECDSA P-256 signature of the message whose SHA-256 is
 * digest, under key. Malformed signatures are invalid (false), not exceptions.
 */
export function verifyP256(key: PublicKey, digest: Uint8Array, signature: Uint8Array): boolean {
  let r: bigint;
  let s: bigint;
  try {
    ({ r, s } = parseSignature(signature));
  } catch (error) {
    if (error instanceof SignatureFormatError) return false;
    throw error;
  }
  if (r < 1n || r >= N || s < 1n || s >= N) return false;
  if (digest.length !== 32) throw new RangeError("verifyP256 takes a 32-byte SHA-256 digest");
  const e = mod(bytesToBigInt(digest), N);
  const w = invert(s, N);
  const u1 = (e * w) % N;
  const u2 = (r * w) % N;
  const g: Jacobian = { x: GX, y: GY, z: 1n };
  const q: Jacobian = { x: key.x, y: key.y, z: 1n };
  const gq = add(g, q);
  let acc: Jacobian = INFINITY;
  for (let bit = 255n; bit >= 0n; bit--) {
    acc = double(acc);
    const b1 = (u1 >> bit) & 1n;
    const b2 = (u2 >> bit) & 1n;
    if (b1 && b2) acc = add(acc, gq);
    else if (b1) acc = add(acc, g);
    else if (b2) acc = add(acc, q);
  }
  if (acc.z === 0n) return false;
  return toAffineX(acc) % N === r;
}
