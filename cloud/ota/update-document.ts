// The firmware-update job document as the cloud writes it, in one place: the update script fills it
// for one image, the CDK job template carries it with placeholders. The device's reading of it is
// src/ota/job-document.ts (parseUpdateDocument); host-tests/cloud-ota-job.test.ts checks that the
// two agree.

export const UPDATE_OPERATION = "iiot.firmware-update";
/** One flash sector: the device's download block. */
export const DEFAULT_BLOCK_SIZE = 4096;

export type ImageLocation = { stream: { id: string; fileId: number } } | { url: string };

export interface UpdateImage {
  size: number;
  /** 64 hex digits. */
  sha256: string;
  /** base64 of the DER ECDSA P-256 signature over the image's SHA-256. */
  signature: string;
  blockSize: number;
}

export interface UpdateDocument {
  operation: typeof UPDATE_OPERATION;
  version: string;
  image: ImageLocation & UpdateImage;
  allowDowngrade?: boolean;
}

export function updateDocument(version: string, location: ImageLocation, image: UpdateImage, allowDowngrade = false): UpdateDocument {
  return { operation: UPDATE_OPERATION, version, image: { ...location, ...image }, ...(allowDowngrade && { allowDowngrade: true }) };
}

/**
 * The document's shape with placeholders in every image-specific field. AWS fills placeholders
 * only in AWS-managed templates (documentParameters), not in custom ones, so a job made from the
 * template must bring its own document (create-job --document-source); one that does not is refused
 * by every device (the placeholders are not a version, a size or a hash).
 */
export function placeholderDocument(): Record<string, unknown> {
  return {
    operation: UPDATE_OPERATION,
    version: "{{version}}",
    image: { stream: { id: "{{streamId}}", fileId: 0 }, size: "{{size}}", sha256: "{{sha256}}", signature: "{{signature}}", blockSize: DEFAULT_BLOCK_SIZE },
  };
}
