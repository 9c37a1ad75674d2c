// SHA-256 against the FIPS 180-2 / NIST examples and ECDSA P-256 verification against signatures
// made by node:crypto (fixed here so the suite runs on XS too; host-tests/ota-crypto.test.ts
// cross-checks random keys and messages against node:crypto on Node).

import { test, equal, assert, throws } from "./api";
import { Sha256, sha256, toHex, fromHex } from "../../src/ota/sha256";
import { parsePublicKey, parseSignature, verifyP256, SignatureFormatError } from "../../src/ota/p256";
import { utf8Encode } from "../../src/util/utf8";

const ascii = (s: string) => utf8Encode(s);

test("ota sha256: NIST vectors (empty, abc, 448 and 896 bits)", () => {
  equal(toHex(sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  equal(toHex(sha256(ascii("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  equal(toHex(sha256(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  equal(
    toHex(sha256(ascii("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))),
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
  );
});

test("ota sha256: one million 'a' in uneven pieces, through one reused buffer", () => {
  const hash = new Sha256();
  const piece = new Uint8Array(997).fill(0x61);
  let left = 1_000_000;
  while (left > 0) {
    const n = Math.min(left, 1 + (left % 997));
    hash.update(piece, 0, n);
    left -= n;
  }
  equal(hash.byteLength, 1_000_000);
  equal(toHex(hash.digest()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

test("ota sha256: every split of a 130-byte message gives the same digest as one update", () => {
  const message = new Uint8Array(130);
  for (let i = 0; i < message.length; i++) message[i] = (i * 37 + 11) & 0xff;
  const whole = toHex(sha256(message));
  const hash = new Sha256();
  const out = new Uint8Array(40);
  for (let split = 0; split <= message.length; split++) {
    hash.reset().update(message, 0, split).update(message, split);
    hash.digest(out, 4);
    equal(toHex(out.subarray(4, 36)), whole, `split at ${split}`);
  }
  // padding edge cases: 55, 56 and 64 bytes
  equal(toHex(sha256(new Uint8Array(55))), "02779466cdec163811d078815c633f21901413081449002f24aa3e80f0b88ef7");
  equal(toHex(sha256(new Uint8Array(56))), "d4817aa5497628e7c77e6b606107042bbba3130888c5f47a375e6179be789fbb");
  equal(toHex(sha256(new Uint8Array(64))), "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
});

test("ota sha256: misuse is refused (update or digest after digest, range outside the buffer)", () => {
  const hash = new Sha256().update(ascii("x"));
  hash.digest();
  throws(() => hash.update(ascii("y")), Error, /after digest/);
  throws(() => hash.digest(), Error, /twice/);
  throws(() => new Sha256().update(new Uint8Array(4), 2, 3), RangeError);
  equal(fromHex("0g"), undefined);
  equal(fromHex("abc"), undefined);
  equal(toHex(fromHex("00FFa5")!), "00ffa5");
});

// Made with node:crypto (generateKeyPairSync("ec", {namedCurve: "P-256"}), sign("sha256", ...)).
const SPKI = "3059301306072a8648ce3d020106082a8648ce3d03010703420004d82458a7de3db8136488482ec4c03bf4703c29af9f8fdf5bb1dab12adad530335e1d64834af1c4a77e9c75e1c722265a8945f4f118ddc8f5468724caf5a7f7d3";
const MESSAGE = "iiot-node firmware 0.4.0";
const SIG_DER = "304402200a660e9a5ea39a9216ade285a1d00b7500d00e1978a1e158d1d25310aa40645102205e6a0a4282e5ff83859e28f776233ae357198b116fd8bb3f912507bd62feddd2";
const SIG_RAW = "913230023c9dbe0bc23793e990752f722c9e825f017f6750372693419dfc1261ad545c0094158d53dfc243cb27aa67a47155dc1bc0e35390007b69c33aff98db";

test("ota p256: node:crypto signatures verify, DER and raw r||s, SPKI and bare point", () => {
  const key = parsePublicKey(fromHex(SPKI)!);
  const bare = parsePublicKey(fromHex(SPKI)!.subarray(26));
  const digest = sha256(ascii(MESSAGE));
  assert(verifyP256(key, digest, fromHex(SIG_DER)!), "DER signature verifies");
  assert(verifyP256(bare, digest, fromHex(SIG_RAW)!), "raw signature verifies");
});

test("ota p256: a changed message, signature or key does not verify", () => {
  const key = parsePublicKey(fromHex(SPKI)!);
  const digest = sha256(ascii(MESSAGE));
  assert(!verifyP256(key, sha256(ascii(MESSAGE + ".")), fromHex(SIG_DER)!), "other message");
  const sig = fromHex(SIG_RAW)!;
  for (const at of [0, 31, 32, 63]) {
    const bad = sig.slice();
    bad[at] ^= 0x01;
    assert(!verifyP256(key, digest, bad), `bit flipped at ${at}`);
  }
  // r = 0, s = 0, s = n are out of range
  assert(!verifyP256(key, digest, new Uint8Array(64)), "zero signature");
  const sEqualsN = fromHex(SIG_RAW.slice(0, 64) + "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!;
  assert(!verifyP256(key, digest, sEqualsN), "s = n");
  // the generator as the key: a valid point, the wrong key
  const g = fromHex("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")!;
  assert(!verifyP256(parsePublicKey(g), digest, fromHex(SIG_DER)!), "other key");
});

test("ota p256: malformed keys are refused; malformed DER signatures do not verify", () => {
  const spki = fromHex(SPKI)!;
  const offCurve = spki.slice();
  offCurve[90] ^= 1;
  throws(() => parsePublicKey(offCurve), SignatureFormatError, /not on P-256/);
  throws(() => parsePublicKey(spki.subarray(1)), SignatureFormatError, /90 bytes/);
  const otherCurve = spki.slice();
  otherCurve[22] ^= 1;
  throws(() => parsePublicKey(otherCurve), SignatureFormatError, /SubjectPublicKeyInfo/);
  const compressed = spki.slice(26);
  compressed[0] = 0x02;
  throws(() => parsePublicKey(compressed), SignatureFormatError, /uncompressed/);
  const key = parsePublicKey(spki);
  const digest = sha256(ascii(MESSAGE));
  const der = fromHex(SIG_DER)!;
  const cases: [string, Uint8Array][] = [
    ["truncated", der.subarray(0, der.length - 1)],
    ["trailing byte", Uint8Array.of(...der, 0)],
    ["wrong tag", Uint8Array.of(0x31, ...der.subarray(1))],
    ["empty", new Uint8Array(0)],
  ];
  for (const [name, bytes] of cases) assert(!verifyP256(key, digest, bytes), name);
  throws(() => parseSignature(Uint8Array.of(0x30, 6, 2, 1, 0x80, 2, 1, 1)), SignatureFormatError, /negative/);
  throws(() => parseSignature(Uint8Array.of(0x30, 7, 2, 2, 0, 1, 2, 1, 1)), SignatureFormatError, /minimally/);
});
