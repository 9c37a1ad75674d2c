// The manifest preloads every firmware module: a module left out is built in RAM at start-up, which
// an ESP32 board's fixed heap cannot afford (the firmware stopped with "memory full" before it was).

import { test, expect } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8"));

function modules(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => relative(root, join(root, dir, f)).replace(/\.ts$/, ""));
}

/** The simulator maps these files to the SDK's specifiers; preloaded under those. */
const MAPPED: Record<string, string> = { "sim/ota/platform": "ota-platform", "sim/io/i2c": "embedded:io/i2c", "sim/io/spi": "embedded:io/spi", "sim/io/digital": "embedded:io/digital", "sim/io/flash": "flash", "sim/io/preference": "preference", "sim/io/system": "system", "sim/io/reset-reason": "resetReason" };

/** Firmware files each target maps to a specifier of its own (preloaded under it in the platform's section). */
const ESP32_MAPPED: Record<string, string> = {};

test("manifest: every firmware module is preloaded, and nothing that does not exist", () => {
  const firmware = [...modules("src"), ...modules("drivers")].filter((m) => !ESP32_MAPPED[m]).sort();
  expect([...manifest.preload].sort()).toEqual(firmware);
  for (const [file, specifier] of Object.entries(ESP32_MAPPED)) {
    expect(manifest.platforms.esp32.modules[specifier]).toBe(`./${file}`);
    expect(manifest.platforms.esp32.preload).toContain(specifier);
  }
});

/** SDK modules the simulator build maps itself (on ESP32 their own manifests preload them). */
const SDK_ON_LIN: string[] = [];

test("manifest: the simulator build preloads every simulated-board module", () => {
  const sim = [...modules("sim").filter((m) => !m.startsWith("sim/device-limits/")).map((m) => MAPPED[m] ?? m), ...SDK_ON_LIN].sort();
  expect([...manifest.platforms.lin.preload].sort()).toEqual(sim);
});

test("one firmware version: the status messages' and package.json's", async () => {
  const { FIRMWARE_VERSION } = await import("../src/version.ts");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  expect(FIRMWARE_VERSION).toBe(pkg.version);
});
