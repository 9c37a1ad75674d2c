// Just enough DER for the device's own certificate and key: a bounded TLV reader, the validity of an
// X.509 certificate (RFC 5280 4.1.2.5), PEM to DER, and an RSA key in PKCS#1 (what AWS's
// CreateKeysAndCertificate returns) wrapped as PKCS#8 (what the SDK's TLS takes). Every length is
// checked against its parent, so a truncated or hostile input throws DerError and never reads past
// the buffer. Pure: runs on XS unchanged.

export class DerError extends Error {
  override name = "DerError";
  constructor(message: string) {
    super(message);
  }
}

export interface Tlv {
  tag: number;
  /** Where the contents start and end in the buffer. */
  start: number;
  end: number;
}

/** The TLV at offset, whose end must not pass limit. Single-byte tags only (all X.509 needs here). */
export function readTlv(der: Uint8Array, offset: number, limit = der.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated at ${offset}`);
  const tag = der[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3) throw new DerError(`unsupported length form at ${offset}`);
    if (start + bytes > limit) throw new DerError(`truncated length at ${offset}`);
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i];
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new DerError(`element at ${offset} runs past its container (${end} > ${limit})`);
  return { tag, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(der, at, parent.end);
    out.push(t);
    at = t.end;
    if (out.length > 64) throw new DerError("too many elements");
  }
  return out;
}

function digits(der: Uint8Array, from: number, count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) {
    const c = der[from + i] - 0x30;
    if (c < 0 || c > 9) throw new DerError("time with a non-digit");
    n = n * 10 + c;
  }
  return n;
}

/** UTCTime (YYMMDDHHMMSSZ, 1950..2049) or GeneralizedTime (YYYYMMDDHHMMSSZ) as ms since 1970. */
export function readTime(der: Uint8Array, t: Tlv): number {
  const length = t.end - t.start;
  let year: number;
  let at = t.start;
  if (t.tag === 0x17 && length === 13) {
    const yy = digits(der, at, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    at += 2;
  } else if (t.tag === 0x18 && length === 15) {
    year = digits(der, at, 4);
    at += 4;
  } else throw new DerError(`not a DER time (tag ${t.tag}, ${length} bytes)`);
  if (der[t.end - 1] !== 0x5a) throw new DerError("time not in UTC (no Z)");
  const month = digits(der, at, 2), day = digits(der, at + 2, 2), hour = digits(der, at + 4, 2), minute = digits(der, at + 6, 2), second = digits(der, at + 8, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) throw new DerError("time out of range");
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

export interface Validity {
  notBefore: number;
  notAfter: number;
}

/** The validity of an X.509 certificate (DER), in ms since 1970. */
export function certificateValidity(der: Uint8Array): Validity {
  const certificate = readTlv(der, 0);
  if (certificate.tag !== 0x30) throw new DerError("a certificate is a SEQUENCE");
  const [tbs] = children(der, certificate);
  if (!tbs || tbs.tag !== 0x30) throw new DerError("no tbsCertificate");
  const fields = children(der, tbs);
  // [0] version is optional (v1 certificates): serial, signature, issuer, validity follow it.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const validity = fields[first + 3];
  if (!validity || validity.tag !== 0x30) throw new DerError("no validity");
  const [notBefore, notAfter] = children(der, validity);
  if (!notBefore || !notAfter) throw new DerError("validity needs two times");
  return { notBefore: readTime(der, notBefore), notAfter: readTime(der, notAfter) };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function base64Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let bits = 0, value = 0, n = 0, padding = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\n" || ch === "\r" || ch === " " || ch === "\t") continue;
    if (ch === "=") {
      padding = true;
      continue;
    }
    const v = B64.indexOf(ch);
    if (v < 0 || padding) throw new DerError(`not base64 at ${i}`);
    value = ((value << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  return out.slice(0, n);
}

/** The DER inside the first PEM block with this label ("CERTIFICATE", "PRIVATE KEY", ...). */
export function pemToDer(pem: string, label: string): Uint8Array {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const from = pem.indexOf(begin);
  const to = pem.indexOf(end, from + begin.length);
  if (from < 0 || to < 0) throw new DerError(`no PEM block ${label}`);
  const der = base64Decode(pem.slice(from + begin.length, to));
  readTlv(der, 0); // at least one well-formed element
  return der;
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length < 0x100) return [0x81, length];
  if (length < 0x10000) return [0x82, length >> 8, length & 0xff];
  throw new DerError("element too long");
}

function tlv(tag: number, contents: Uint8Array): Uint8Array {
  const head = [tag, ...encodeLength(contents.length)];
  const out = new Uint8Array(head.length + contents.length);
  out.set(head, 0);
  out.set(contents, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters. */
const RSA_ALGORITHM = Uint8Array.of(0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

/** An RSA private key as PKCS#8 DER, from PEM in PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). */
export function rsaKeyToPkcs8(pem: string): Uint8Array {
  if (pem.includes("-----BEGIN PRIVATE KEY-----")) return pemToDer(pem, "PRIVATE KEY");
  const pkcs1 = pemToDer(pem, "RSA PRIVATE KEY");
  const outer = readTlv(pkcs1, 0);
  if (outer.tag !== 0x30 || outer.end !== pkcs1.length) throw new DerError("an RSA private key is one SEQUENCE");
  return tlv(0x30, concat([Uint8Array.of(0x02, 0x01, 0x00), RSA_ALGORITHM, tlv(0x04, pkcs1)]));
}
