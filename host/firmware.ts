// Boots the firmware on the host target: the manifest's config plus overrides become mc/config,
// resources come from a certificate folder, and src/main.ts runs unchanged.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setConfig } from "./moddable/mc-config.ts";
import { setHostPaths } from "./moddable/runtime.ts";
import type { RunningNode } from "../src/app.ts";
import { board, boardClock, PARTITION_SIZES } from "../sim/board.ts";
import { firmwareClock } from "./moddable/clock.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The manifest's "config", as mcconfig would hand it to mc/config (before key=value arguments). */
export function manifestConfig(): Record<string, unknown> {
  const manifest = JSON.parse(readFileSync(`${root}manifest.json`, "utf8")) as { config?: Record<string, unknown> };
  return { ...(manifest.config ?? {}) };
}

export interface BootOptions {
  /** Like mcconfig key=value arguments. */
  config: Record<string, unknown>;
  /** Folder holding ca.der, device.der and device-key.der. */
  resources: string;
  /** Folder for preferences and the flash image: what survives a restart. */
  state: string;
}

let openImage: number | undefined;

/**
 * The simulated board's data partitions, kept in files under the state folder and written through on
 * every program and erase, so that a killed process leaves exactly what a powered-off chip would.
 */
export function attachFlashImages(state: string): Map<string, SimNorFlash> {
  if (openImage !== undefined) closeSync(openImage);
  mkdirSync(state, { recursive: true });
  for (const [label, size] of Object.entries(PARTITION_SIZES)) {
    const file = join(state, `flash-${label}.bin`);
    let image: Uint8Array | undefined;
    if (existsSync(file)) {
      image = readFileSync(file);
      if (image.length !== size) throw new Error(`${file} is ${image.length} bytes; partition ${label} is ${size}: move it away to start afresh`);
    }
    const flash = new SimNorFlash({ byteLength: size, image });
    const fd = openSync(file, image ? "r+" : "w+");
    if (!image) writeSync(fd, flash.image(), 0, size, 0);
    flash.onChange = (offset, bytes) => void writeSync(fd, bytes, 0, bytes.length, offset);
    openImage = fd;
    board.partitions.set(label, flash);
  }
  return board.partitions;
}

export async function bootFirmware(options: BootOptions): Promise<RunningNode> {
  setHostPaths({ resources: options.resources, state: options.state });
  // The chips live on the firmware's clock: a timer that fires late still reads them at its deadline.
  boardClock.now = () => firmwareClock.now();
  attachFlashImages(options.state);
  setConfig({ ...manifestConfig(), ...options.config });
  const main = (await import("../src/main.ts")).default;
  return main();
}
