// Boots the firmware on the host target: the manifest's config plus overrides become mc/config,
// resources come from a certificate folder, and src/main.ts runs unchanged.

import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setConfig } from "./moddable/mc-config.ts";
import { setHostPaths } from "./moddable/runtime.ts";
import type { RunningNode } from "../src/app.ts";
import { simBoard, boardClock } from "../sim/board.ts";
import { firmwareClock } from "./moddable/clock.ts";
import { setRestartHandler } from "../sim/io/system.ts";
import Timer from "./moddable/timer.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The manifest's "config", as mcconfig would hand it to mc/config (before key=value arguments). */
export function manifestConfig(): Record<string, unknown> {
  const manifest = JSON.parse(readFileSync(`${root}manifest.json`, "utf8")) as { config?: Record<string, unknown> };
  return { ...(manifest.config ?? {}) };
}

export interface BootOptions {
  /**
   * Lets the firmware restart itself (the reboot command, an update): its clean stop, then a power
   * cycle in this process and main() again, whose node is handed here.
   */
  onRestart?(node: RunningNode): void;
  /** Like mcconfig key=value arguments. */
  config: Record<string, unknown>;
  /** Folder holding ca.der, device.der and device-key.der. */
  resources: string;
  /** Folder for preferences and the flash image: what survives a restart. */
  state: string;
}

/**
 * Forgets the partitions of an earlier boot in this process, as a power cycle would: the next boot
 * opens them again from their files in its state folder.
 */
export function releaseFlash(): void {
  for (const flash of simBoard().partitions.values()) flash.close();
  simBoard().partitions.clear();
}

export async function bootFirmware(options: BootOptions): Promise<RunningNode> {
  setHostPaths({ resources: options.resources, state: options.state });
  // The chips live on the firmware's clock: a timer that fires late still reads them at its deadline.
  boardClock.now = () => firmwareClock.now();
  releaseFlash();
  mkdirSync(options.state, { recursive: true });
  // The board's flash lives in files there (sim/io/flash.ts), written through on every program and erase.
  setConfig({ ...manifestConfig(), flash_dir: `${options.state}/`, ...options.config });
  const main = (await import("../src/main.ts")).default;
  // The restart boots from a firmware timer, as everything on the device runs: inside a callback the
  // firmware clock follows the wall clock, so a driver that waits (the SHT3x's 1 ms after BREAK) sees
  // the time pass. The chips keep their state, as a software reset leaves them powered.
  setRestartHandler(options.onRestart && (() => {
    Timer.set(() => {
      releaseFlash();
      options.onRestart!(main());
    }, 0);
  }));
  return main();
}
