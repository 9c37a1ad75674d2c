// "ota-platform" on ESP32 (src/ota/update-service.ts OtaPlatform): the OTA app slot not running and
// ESP-IDF's app rollback (boot-control.ts), the update record in the "iiotota" data partition
// through the SDK's flash module, and the SDK's native SHA-256 (crypt Digest) for verifying an
// image. A partition table without OTA slots makes it throw: src/main.ts then runs the node
// without updates and says why to every update job.

import { flashPartition } from "src/flash-partition";
import { Digest } from "crypt";
import { FIRMWARE_VERSION } from "src/version";
import type { ImageHash } from "src/ota/agent";
import type { OtaPlatform } from "src/ota/update-service";
import { Esp32BootControl, Esp32UpdateSlot, OTA_RECORD_PARTITION } from "esp32/ota/boot-control";

/** The SDK's SHA-256 in C as the agent's ImageHash (the pure sha256.ts: about 270 M computrons per MiB). */
class NativeSha256 implements ImageHash {
  readonly #digest = new Digest("SHA256");
  update(bytes: Uint8Array, offset: number, length: number): void {
    const view = offset === 0 && length === bytes.length ? bytes : bytes.subarray(offset, offset + length);
    // The native write takes any buffer or view (xsmcGetBufferReadable); the SDK's typing says ArrayBuffer.
    this.#digest.write(view as unknown as ArrayBuffer);
  }
  digest(): Uint8Array {
    return new Uint8Array(this.#digest.close());
  }
}

export default function openOtaPlatform(): OtaPlatform {
  const slot = new Esp32UpdateSlot();
  return {
    runningVersion: FIRMWARE_VERSION,
    slot,
    boot: new Esp32BootControl(),
    records: flashPartition(OTA_RECORD_PARTITION),
    hash: () => new NativeSha256(),
  };
}
