// What the update logic needs from the platform, as interfaces: the inactive app slot it writes
// the image into, and the boot control that activates, confirms or rolls back an image. On the
// simulator and the host target both come from sim/ota/dual-slot.ts; on ESP32 from
// esp32/ota/boot-control.ts (the slot written with esp_partition_*, so a download resumes after a
// reboot, which the SDK's embedded:update cannot: it erases the slot when opened).

export interface UpdateSlot {
  /** Bytes the slot holds. */
  readonly capacity: number;
  /** Flash sector size: blocks start on sector boundaries. */
  readonly sectorSize: number;
  /** Starts writing an image of byteLength bytes; resume keeps what the slot holds (no erase). */
  begin(byteLength: number, resume: boolean): void;
  /** Writes bytes at offset (sector-aligned; the sectors it covers are erased first). */
  write(offset: number, bytes: Uint8Array, length?: number): void;
  /** Reads the slot into buffer (length bytes, default all of it) from offset. */
  read(offset: number, buffer: Uint8Array, length?: number): void;
  /** The image is complete and verified: the slot becomes the next boot, pending confirmation. */
  activate(): void;
  /** Gives up writing; the slot is not bootable. */
  abort(): void;
}

export type RunningState = "valid" | "pending";

export interface BootControl {
  /** "pending": the first boot of a new image, which must confirm itself or be rolled back. */
  runningState(): RunningState;
  /** The running image confirms itself: it boots from now on. */
  markValid(): void;
  /** The running image gives up: the previous image boots next. Reboots (never returns on a device). */
  rollback(): void;
  /** Restarts the device (into the activated image, if any). */
  reboot(): void;
}

/** Where image blocks come from: HTTPS byte ranges or MQTT file delivery. */
export interface BlockSource {
  /**
   * Fetches length bytes at offset into buffer (from 0) and calls done once: with no error when
   * all length bytes are in buffer, else with a reason. May call done synchronously.
   */
  fetch(offset: number, length: number, buffer: Uint8Array, done: (error?: string) => void): void;
  /** Forgets a fetch under way; its done is not called. */
  cancel(): void;
}
