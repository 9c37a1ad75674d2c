// Boots the firmware on the host target: the manifest's config plus overrides become mc/config,
// resources come from a certificate folder, and src/main.ts runs unchanged.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setConfig } from "./moddable/mc-config.ts";
import { setHostPaths } from "./moddable/runtime.ts";
import type { RunningNode } from "../src/app.ts";

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
  /** Folder for preferences. */
  state: string;
}

export async function bootFirmware(options: BootOptions): Promise<RunningNode> {
  setHostPaths({ resources: options.resources, state: options.state });
  setConfig({ ...manifestConfig(), ...options.config });
  const main = (await import("../src/main.ts")).default;
  return main();
}
