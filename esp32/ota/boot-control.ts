// The ESP32 side of src/ota/slot.ts, over ESP-IDF's OTA partitions and app rollback (natives in
// boot-control.c). Esp32UpdateSlot writes the OTA app slot that is not running, block by block,
// without erasing what a download wrote before a reboot; Esp32BootControl reports whether the running
// image is on its first, unconfirmed boot, confirms it or rolls it back. The update record lives in
// the data partition OTA_RECORD_PARTITION (esp32/partitions-ota-4mb.csv, esp32/partitions-8mb.csv), opened with the SDK's flash module.
// Only the esp32 build has this module (esp32/ota/manifest.json).

import type { BootControl, RunningState, UpdateSlot } from "../../src/ota/slot";

/** The data partition holding the update record (src/ota/ota-record.ts FlashRecordStore, 2 sectors). */
export const OTA_RECORD_PARTITION = "iiotota";

/**
 * The running image's entry in ESP-IDF's otadata: "pending-verify" on the first boot of an update
 * (ESP_OTA_IMG_PENDING_VERIFY), "none" when otadata is blank (flashed by cable), "factory" when the
 * image runs from a factory partition; the rest are ESP_OTA_IMG_* states.
 */
export type OtaImageState = "new" | "pending-verify" | "valid" | "invalid" | "aborted" | "undefined" | "none" | "factory";

export class Esp32BootControl implements BootControl {
  /** The running image's otadata state, for diagnostics. */
  get imageState(): OtaImageState {
    return native("xs_iiot_ota_running_state").call(this);
  }

  /** The label of the partition the running image boots from ("ota_0" or "ota_1"). */
  get runningPartition(): string {
    return native("xs_iiot_ota_running_partition").call(this);
  }

  runningState(): RunningState {
    return this.imageState === "pending-verify" ? "pending" : "valid";
  }

  /** Confirms a pending image (esp_ota_mark_app_valid_cancel_rollback); nothing to do otherwise. */
  markValid(): void {
    native("xs_iiot_ota_mark_valid").call(this);
  }

  /**
   * The running image gives up; the previous image boots at the next restart. ESP-IDF 6 (what the
   * SDK expects): esp_ota_mark_app_invalid_rollback, then returns, so the caller restarts after its
   * clean stop (src/main.ts does). ESP-IDF 5: esp_ota_mark_app_invalid_rollback_and_reboot, which
   * restarts at once. On the first update after a cable flash ESP-IDF knows no previous image (blank
   * otadata): a pending image then only needs the restart, after which the bootloader aborts it and
   * boots ota_0, the old image. Throws when a valid image has nothing to roll back to.
   */
  rollback(): void {
    native("xs_iiot_ota_rollback").call(this);
  }

  /** esp_restart. */
  reboot(): void {
    native("xs_iiot_ota_reboot").call(this);
  }
}

/**
 * The OTA app slot that is not running (esp_ota_get_next_update_partition). begin with resume keeps
 * what the slot holds; write erases the sectors it covers and programs them; activate hands the slot
 * to esp_ota_set_boot_partition, which checks the ESP image (header, segments, appended SHA-256)
 * and makes it the next boot, pending confirmation. Refuses to begin while the running image is
 * pending: the slot then holds the image a rollback returns to.
 */
export class Esp32UpdateSlot extends Native("xs_iiot_ota_slot_destructor") implements UpdateSlot {
  constructor() {
    super();
    native("xs_iiot_ota_slot").call(this);
  }

  /** Bytes the slot holds (the partition's size). */
  get capacity(): number {
    return native("xs_iiot_ota_slot_get_capacity").call(this);
  }

  /** The flash erase unit, 4096. */
  get sectorSize(): number {
    return native("xs_iiot_ota_slot_get_sectorSize").call(this);
  }

  /** "ota_0" or "ota_1". */
  get label(): string {
    return native("xs_iiot_ota_slot_get_label").call(this);
  }

  begin(byteLength: number, resume: boolean): void {
    native("xs_iiot_ota_slot_begin").call(this, byteLength, resume);
  }

  write(offset: number, bytes: Uint8Array, length?: number): void {
    native("xs_iiot_ota_slot_write").call(this, offset, bytes, length);
  }

  read(offset: number, buffer: Uint8Array, length?: number): void {
    native("xs_iiot_ota_slot_read").call(this, offset, buffer, length);
  }

  activate(): void {
    native("xs_iiot_ota_slot_activate").call(this);
  }

  abort(): void {
    native("xs_iiot_ota_slot_abort").call(this);
  }
}
