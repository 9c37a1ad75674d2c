// A data partition of the board's flash (the Moddable flash module, found by its label) as the
// FlashDevice the log, the identity store and the update record are written through.

import Flash from "flash";
import type { FlashDevice } from "./log/flash-log";

export function flashPartition(name: string): FlashDevice {
  const flash = new Flash(name);
  return {
    byteLength: flash.byteLength,
    blockSize: flash.blockSize,
    read: (offset, length) => new Uint8Array(flash.read(offset, length) as ArrayBuffer),
    write: (offset, data) => flash.write(offset, data.length, data),
    erase: (sector) => flash.erase(sector),
  };
}
