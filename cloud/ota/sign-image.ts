// Signs a firmware image for an update job: its size, its SHA-256 and an ECDSA P-256 signature over
// that SHA-256 (DER, base64), which the device checks with the public key built into it
// (src/ota/p256.ts verifyP256 over the digest). node:crypto's sign("sha256", image, key) hashes the
// image with SHA-256 and signs the digest: the same value `openssl dgst -sha256 -sign` writes.

import { createHash, createPrivateKey, sign, type KeyObject } from "node:crypto";

export interface SignedImage {
  size: number;
  /** 64 lowercase hex digits. */
  sha256: string;
  /** base64 of the DER ECDSA-Sig-Value. */
  signature: string;
}

/** The signing key from PKCS#8 PEM; refuses anything but an EC key on P-256 (the only curve the device verifies). */
export function signingKey(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw new Error(`the signing key must be ECDSA P-256 (prime256v1), this one is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ""}`.trim());
  return key;
}

export function signImage(image: Uint8Array, key: KeyObject): SignedImage {
  if (image.length === 0) throw new Error("the image is empty");
  return {
    size: image.length,
    sha256: createHash("sha256").update(image).digest("hex"),
    signature: sign("sha256", image, { key, dsaEncoding: "der" }).toString("base64"),
  };
}
