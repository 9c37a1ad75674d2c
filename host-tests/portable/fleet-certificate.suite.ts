// DER: times, a certificate's validity, hostile lengths; PEM and PKCS#1 -> PKCS#8; days left and the
// expiry warning. Real certificates from certs/generate.sh are read in host-tests/fleet-certificates.test.ts.

import { test, equal, deepEqual, throws, assert, random } from "./api";
import { DerError, base64Decode, certificateValidity, pemToDer, readTime, readTlv, rsaKeyToPkcs8 } from "../../src/fleet/der";
import { CertificateExpiry, daysLeft } from "../../src/fleet/certificate-expiry";

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const time = (tag: number, s: string) => [tag, s.length, ...ascii(s)];
const seq = (...parts: number[][]) => {
  const body = parts.flat();
  return body.length < 128 ? [0x30, body.length, ...body] : [0x30, 0x81, body.length, ...body];
};

/** A v3-shaped certificate skeleton: what the reader walks, with dummy contents elsewhere. */
function skeleton(notBefore: number[], notAfter: number[], version = true): Uint8Array {
  const tbs = seq(
    ...(version ? [[0xa0, 3, 2, 1, 2]] : []),
    [2, 1, 7], // serial
    seq([6, 1, 0]), // signature algorithm
    seq([0x31, 0]), // issuer
    seq(notBefore, notAfter),
    seq([0x31, 0]), // subject
  );
  return Uint8Array.from(seq(tbs, seq([6, 1, 0]), [3, 1, 0]));
}

test("der: UTCTime and GeneralizedTime, with the 1950/2049 pivot", () => {
  const cert = skeleton(time(0x17, "250101000000Z"), time(0x18, "20520630235959Z"));
  deepEqual(certificateValidity(cert), { notBefore: Date.UTC(2025, 0, 1), notAfter: Date.UTC(2052, 5, 30, 23, 59, 59) });
  const old = skeleton(time(0x17, "991231235959Z"), time(0x17, "491231235959Z"), false);
  deepEqual(certificateValidity(old), { notBefore: Date.UTC(1999, 11, 31, 23, 59, 59), notAfter: Date.UTC(2049, 11, 31, 23, 59, 59) });
  const d = Uint8Array.from(time(0x17, "250101000000+"));
  throws(() => readTime(d, readTlv(d, 0)), DerError, /UTC/);
  const m = Uint8Array.from(time(0x17, "251301000000Z"));
  throws(() => readTime(m, readTlv(m, 0)), DerError, /range/);
});

test("der: truncated and hostile input throws DerError and never reads past the end", () => {
  const good = skeleton(time(0x17, "250101000000Z"), time(0x17, "260101000000Z"));
  for (let n = 0; n < good.length; n++) throws(() => certificateValidity(good.subarray(0, n)), DerError);
  throws(() => readTlv(Uint8Array.of(0x30, 0x84, 1, 0, 0, 0), 0), DerError, /length form/);
  throws(() => readTlv(Uint8Array.of(0x1f, 0x01, 0), 0), DerError, /multi-byte/);
  throws(() => certificateValidity(Uint8Array.of(0x02, 0x00)), DerError, /SEQUENCE/);
  const rand = random(7);
  for (let i = 0; i < 2000; i++) {
    const bytes = good.slice();
    for (let k = 0; k < 3; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    try {
      const v = certificateValidity(bytes);
      assert(Number.isFinite(v.notAfter), "a finite time when it reads at all");
    } catch (error) {
      assert(error instanceof DerError, `case ${i}: ${error}`);
    }
  }
});

test("der: PEM to DER and a PKCS#1 RSA key wrapped as PKCS#8", () => {
  deepEqual(base64Decode("AQID\nBA=="), Uint8Array.of(1, 2, 3, 4));
  throws(() => base64Decode("AQ*D"), DerError);
  const pkcs1 = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00);
  const pem = "-----BEGIN RSA PRIVATE KEY-----\nMAMCAQA=\n-----END RSA PRIVATE KEY-----\n";
  deepEqual(pemToDer(pem, "RSA PRIVATE KEY"), pkcs1);
  deepEqual(rsaKeyToPkcs8(pem), Uint8Array.of(0x30, 0x19, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04, 0x05, ...pkcs1));
  deepEqual(rsaKeyToPkcs8("-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----"), pkcs1, "PKCS#8 stays as it is");
  throws(() => pemToDer("nothing", "CERTIFICATE"), DerError, /no PEM/);
});

test("certificate expiry: days left and a warning a day from 30 days out", () => {
  const notAfter = Date.UTC(2030, 0, 31);
  const cert = skeleton(time(0x17, "250101000000Z"), time(0x17, "300131000000Z"));
  const expiry = new CertificateExpiry(cert);
  equal(expiry.notAfter, notAfter);
  const day = 86_400_000;
  equal(daysLeft(notAfter, notAfter - 1), 0);
  equal(daysLeft(notAfter, notAfter + 1), -1);
  equal(expiry.daysLeft(notAfter - 40 * day, true), 40);
  equal(expiry.daysLeft(notAfter - 40 * day, false), undefined, "no days before the clock is set");
  equal(expiry.check(notAfter - 31 * day, true), undefined);
  equal(expiry.check(notAfter - 30 * day, false), undefined);
  deepEqual(expiry.check(notAfter - 30.5 * day, true), { event: "certificate-expiring", days_left: 30, not_after: "2030-01-31T00:00:00.000Z" });
  equal(expiry.check(notAfter - 30.1 * day, true), undefined, "once per day");
  equal(expiry.check(notAfter - 29 * day, true)?.days_left, 29);
  equal(expiry.check(notAfter + 1, true)?.event, "certificate-expired");
});
