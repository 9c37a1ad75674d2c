// The pure SHA-256 and ECDSA P-256 of src/ota against node:crypto: random messages of every length
// around the block boundaries, random keys, signatures in both encodings, and tampering.
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { expect, test } from "vitest";
import { Sha256, sha256, toHex } from "../src/ota/sha256.ts";
import { parsePublicKey, verifyP256 } from "../src/ota/p256.ts";
import { random } from "./portable/api.ts";

test("ota sha256 equals node:crypto for every length 0..300 and random splits", () => {
  const rand = random(15);
  const hash = new Sha256();
  for (let length = 0; length <= 300; length++) {
    const message = Uint8Array.from({ length }, () => Math.floor(rand() * 256));
    const expected = createHash("sha256").update(message).digest("hex");
    expect(toHex(sha256(message)), `length ${length}`).toBe(expected);
    const split = Math.floor(rand() * (length + 1));
    expect(toHex(hash.reset().update(message.subarray(0, split)).update(message.subarray(split)).digest()), `length ${length} split ${split}`).toBe(expected);
  }
});

test("ota p256 verifies node:crypto signatures of random keys and messages, and refuses tampered ones", () => {
  const rand = random(256);
  for (let i = 0; i < 12; i++) {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = parsePublicKey(new Uint8Array(publicKey.export({ format: "der", type: "spki" })));
    const message = Uint8Array.from({ length: 1 + Math.floor(rand() * 2000) }, () => Math.floor(rand() * 256));
    const digest = sha256(message);
    const der = new Uint8Array(sign("sha256", message, privateKey));
    const raw = new Uint8Array(sign("sha256", message, { key: privateKey, dsaEncoding: "ieee-p1363" }));
    expect(verifyP256(key, digest, der), `DER ${i}`).toBe(true);
    expect(verifyP256(key, digest, raw), `raw ${i}`).toBe(true);
    const tampered = message.slice();
    tampered[Math.floor(rand() * tampered.length)] ^= 1 << Math.floor(rand() * 8);
    expect(verifyP256(key, sha256(tampered), der), `tampered ${i}`).toBe(false);
  }
});
