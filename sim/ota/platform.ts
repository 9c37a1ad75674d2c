// "ota-platform" on the simulator and the host target: the simulated two-slot device
// (sim/ota/dual-slot.ts) on the board's "iiotota" partition, whose cells live in a file beside the
// log's when flash_dir is set, so slots, boot selector and update record survive restarts. Each
// boot runs the simulated bootloader first; a board with nothing bootable is "flashed at the
// factory" with an image of the firmware's own version. The running version is the booted image's.

import config from "mc/config";
import { simBoard } from "sim/board";
import { FileCells } from "sim/io/file-cells";
import { SimOtaDevice, buildSimImage } from "sim/ota/dual-slot";
import { FIRMWARE_VERSION } from "src/version";
import type { OtaPlatform } from "src/ota/update-service";

/** Sectors per simulated app slot (256 KB: simulated images are small). */
export const SIM_SLOT_SECTORS = 64;
/** The factory image's size: the bootloader hashes it at every power-on. */
const FACTORY_IMAGE_BYTES = 16 * 1024;

export default function openOtaPlatform(): OtaPlatform {
  const dir = (config as Record<string, unknown>).flash_dir;
  const flash = simBoard().flashPartition("iiotota",
    typeof dir === "string" && dir !== "" ? (size, sector) => new FileCells(`${dir}flash-iiotota.bin`, size, sector) : undefined);
  const device = new SimOtaDevice(flash, SIM_SLOT_SECTORS);
  let booted = device.powerOn();
  if (!booted) {
    device.flashFactory(buildSimImage(FIRMWARE_VERSION, FACTORY_IMAGE_BYTES));
    booted = device.powerOn()!;
  }
  if (booted.rolledBack) trace(`ota: the bootloader went back to slot ${booted.slot} (${booted.version})\n`);
  return { runningVersion: booted.version, slot: device.updateSlot(), boot: device.bootControl(), records: device.recordFlash };
}
