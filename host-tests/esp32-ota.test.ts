// The ESP32 half of the OTA update, as far as it can be checked without a board or ESP-IDF: the
// partition table (format, alignment, overlap, 4 MB, the partitions the firmware opens, app slots
// at least the image size), the manifest wiring of the native module and the rollback sdkconfig,
// the natives the TypeScript binds against the C that defines them, and the TypeScript's types. With
// the Moddable SDK installed, `npm run sim -- --esp32-natives` also runs the module on the simulator
// over a fake ESP-IDF (esp32/ota/host-check/).

import { test, expect } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");

const MiB = 1024 * 1024;
const SECTOR = 0x1000;
const APP_ALIGN = 0x10000;
/** The partition table itself is at 0x8000 and takes one sector. */
const FIRST_FREE = 0x9000;

/**
 * The image until an ESP-IDF build measures xs_esp32.bin (src/ota/README.md, "Image size"): a release
 * build's XS preload compiled for Xtensa (0.51 MiB, measured) and XS engine (0.60 MiB for the LX106,
 * taken as 0.52 for the ESP32's denser LX6), plus the least ESP-IDF with Wi-Fi and lwIP (0.65 MiB)
 * and the SDK's natives (0.08 MiB) are assumed to take: the low end of the estimate, which the slots
 * must hold at the very least. Set ESP32_IMAGE to a built xs_esp32.bin to check them against it.
 */
const IMAGE_LOW_ESTIMATE_BYTES = Math.round((0.51 + 0.52 + 0.65 + 0.08) * MiB);

/** BENCHMARKS.md flashlog.offline_hours_per_mb: hours of the reference device per MiB of log. */
const LOG_HOURS_PER_MIB = 7.31;

interface Partition {
  name: string;
  type: string;
  subtype: string;
  offset: number;
  size: number;
}

function parseTable(csv: string): Partition[] {
  return csv
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [name, type, subtype, offset, size] = line.split(",").map((field) => field.trim());
      const number = (text: string) => {
        expect(text, `${name}: offsets and sizes are written out in hex`).toMatch(/^0x[0-9a-fA-F]+$/);
        return parseInt(text, 16);
      };
      return { name, type, subtype, offset: number(offset), size: number(size) };
    });
}

/** The tables with update slots: 4 MB (esp32/partitions-ota-4mb.csv) and 8 MB (esp32/partitions-8mb.csv). */
const TABLES = [
  { file: "esp32/partitions-ota-4mb.csv", flash: 4 * MiB },
  { file: "esp32/partitions-8mb.csv", flash: 8 * MiB },
].map(({ file, flash }) => {
  const table = parseTable(read(file));
  const byName = new Map(table.map((p) => [p.name, p]));
  const get = (name: string): Partition => {
    const p = byName.get(name);
    expect(p, `${file}: partition ${name}`).toBeDefined();
    return p!;
  };
  return { file, flash, table, get };
});
const [four] = TABLES;

for (const { file, flash, table, get } of TABLES) {
  test(`${file}: aligned, in order, no overlap, inside ${flash / MiB} MB`, () => {
    expect(new Set(table.map((p) => p.name)).size).toBe(table.length);
    let end = FIRST_FREE;
    for (const p of table) {
      expect(p.offset % (p.type === "app" ? APP_ALIGN : SECTOR), `${p.name} offset`).toBe(0);
      expect(p.size % SECTOR, `${p.name} size`).toBe(0);
      expect(p.size).toBeGreaterThan(0);
      expect(p.offset, `${p.name} starts after the one before`).toBeGreaterThanOrEqual(end);
      end = p.offset + p.size;
    }
    expect(end).toBe(flash);
  });

  test(`${file}: two OTA app slots of one size, otadata, no factory app`, () => {
    const apps = table.filter((p) => p.type === "app");
    expect(apps.map((p) => [p.name, p.subtype])).toEqual([["ota_0", "ota_0"], ["ota_1", "ota_1"]]);
    expect(get("ota_0").size).toBe(get("ota_1").size);
    const otadata = get("otadata");
    expect([otadata.type, otadata.subtype, otadata.size]).toEqual(["data", "ota", 0x2000]);
  });

  test(`${file}: nvs and phy_init where they were, the small partitions at the top of the flash`, () => {
    expect([get("nvs").type, get("nvs").subtype, get("nvs").offset, get("nvs").size]).toEqual(["data", "nvs", 0x9000, 0x6000]);
    expect([get("phy_init").offset, get("phy_init").size]).toEqual([0xf000, 0x1000]);
    expect(table.slice(-3).map((p) => [p.name, p.offset - flash])).toEqual([["otadata", -0x6000], ["iiotota", -0x4000], ["iiotid", -0x2000]]);
  });

  test(`${file}: the app slots hold the image`, () => {
    const slot = get("ota_0").size;
    const image = process.env.ESP32_IMAGE;
    const bytes = image ? statSync(image).size : IMAGE_LOW_ESTIMATE_BYTES;
    expect(slot, image ? `${image}` : "the low end of the estimated image").toBeGreaterThanOrEqual(bytes);
    // and anything that fitted the single factory app of the table before OTA (0x1E0000) still fits
    expect(slot).toBeGreaterThanOrEqual(0x1e0000);
  });

  test(`${file}: every data partition the firmware opens is there, large enough`, () => {
    const config = read("src/config.ts");
    const manifest = JSON.parse(read("manifest.json"));
    const boot = read("esp32/ota/boot-control.ts");
    // the defaults in src/config.ts, the manifest's setting, and the OTA record's partition
    const logName = /text\("log_partition", "([^"]+)"\)/.exec(config)![1];
    const identityName = /text\("identity_partition", "([^"]+)"\)/.exec(config)![1];
    const recordName = /OTA_RECORD_PARTITION = "([^"]+)"/.exec(boot)![1];
    expect(manifest.config.log_partition).toBe(logName);
    expect([logName, identityName, recordName]).toEqual(["iiotlog", "iiotid", "iiotota"]);
    for (const name of [logName, identityName, recordName]) expect(get(name).type, name).toBe("data");
    // identity-store.ts: two slots of one sector; ota-record.ts FlashRecordStore: two sectors; flash-log.ts: at least 3
    expect(get(identityName).size).toBeGreaterThanOrEqual(2 * SECTOR);
    expect(get(recordName).size).toBeGreaterThanOrEqual(2 * SECTOR);
    expect(get(logName).size).toBeGreaterThanOrEqual(3 * SECTOR);
    // the subtypes of the partitions that existed before OTA are unchanged
    expect(get(logName).subtype).toBe("0x80");
    expect(get(identityName).subtype).toBe("0x81");
  });
}

test("partitions.csv, the default: a factory app as large as an update slot, the identity and a 2 MiB log, no update slots", () => {
  const table = parseTable(read("partitions.csv"));
  const get = (name: string) => table.find((p) => p.name === name)!;
  expect(table.filter((p) => p.type === "app").map((p) => p.subtype)).toEqual(["factory"]);
  expect(get("factory").size).toBe(TABLES[0].get("ota_0").size);
  expect(table.some((p) => p.subtype === "ota" || p.name === "iiotota")).toBe(false);
  expect([get("iiotlog").subtype, get("iiotlog").size]).toEqual(["0x80", 2 * MiB]);
  expect([get("iiotid").subtype, get("iiotid").size]).toEqual(["0x81", 0x2000]);
  for (const doc of ["README.md", "src/ota/README.md"]) expect(read(doc), doc).toContain(`about ${((2 * LOG_HOURS_PER_MIB)).toFixed(1)} hours`);
});

test("esp32 partitions: the documented log capacities are the tables'", () => {
  const hours = (file: string) => ((TABLES.find((t) => t.file === file)!.get("iiotlog").size / MiB) * LOG_HOURS_PER_MIB).toFixed(1);
  const log = four.get("iiotlog");
  for (const doc of ["README.md", "src/ota/README.md"]) {
    const text = read(doc);
    expect(text, doc).toContain(`about ${hours("esp32/partitions-ota-4mb.csv")} hours`);
    expect(text, doc).toContain(`${log.size / 1024} KB`);
    expect(text, doc).toContain(`about ${hours("esp32/partitions-8mb.csv")} hours`);
  }
  expect(read("esp32/partitions-8mb.csv")).toContain(`about ${hours("esp32/partitions-8mb.csv")} hours`);
});

test("esp32 partitions: the 8 MB variant has its own sdkconfig, with the flash size and rollback", () => {
  const sdkconfig = read("esp32/ota/sdkconfig-8mb/sdkconfig.defaults");
  expect(sdkconfig).toMatch(/^CONFIG_ESPTOOLPY_FLASHSIZE_8MB=y$/m);
  expect(sdkconfig).toMatch(/^CONFIG_ESPTOOLPY_FLASHSIZE_4MB=n$/m);
  expect(sdkconfig).toMatch(/^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m);
  // everything the 4 MB sdkconfig sets, the 8 MB one sets too
  for (const line of read("esp32/ota/sdkconfig/sdkconfig.defaults").split("\n").filter((l) => /^CONFIG_/.test(l))) expect(sdkconfig).toContain(line);
});

test("esp32 manifest: the OTA fragment is included on esp32 only, with the partition table", () => {
  const manifest = JSON.parse(read("manifest.json"));
  expect(manifest.platforms.esp32.include).toContain("./esp32/ota/manifest.json");
  // "?=": the environment's PARTITIONS_FILE, if set, wins (the 8 MB variant); mcconfig's parseBuild
  expect(manifest.platforms.esp32.build["PARTITIONS_FILE ?="]).toBe("./partitions.csv");
  for (const [name, platform] of Object.entries<{ include?: string[] }>(manifest.platforms))
    if (name !== "esp32") expect(platform.include ?? [], name).not.toContain("./esp32/ota/manifest.json");
  expect(JSON.stringify(manifest.modules)).not.toContain("esp32/");
  expect(manifest.preload).not.toContain("esp32/ota/boot-control");
});

test("esp32 manifest: the fragment names the native module, preloads it, and sets the rollback sdkconfig", () => {
  const fragment = JSON.parse(read("esp32/ota/manifest.json"));
  const esp32 = fragment.platforms.esp32;
  expect(esp32.modules["esp32/ota/boot-control"]).toBe("./boot-control");
  expect(esp32.preload).toContain("esp32/ota/boot-control");
  // platform.ts is built once: as "esp32/ota/platform" here, or as the manifest's "ota-platform" on esp32
  const main = JSON.parse(read("manifest.json")).platforms.esp32;
  const asOtaPlatform = main.modules?.["ota-platform"] === "./esp32/ota/platform";
  const asOwn = esp32.modules["esp32/ota/platform"] === "./platform";
  expect(asOtaPlatform !== asOwn, "esp32/ota/platform.ts mapped exactly once").toBe(true);
  if (asOwn) expect(esp32.preload).toContain("esp32/ota/platform");
  expect(Object.keys(esp32.modules).length).toBe(asOwn ? 2 : 1);
  expect(fragment.platforms["..."].error).toMatch(/ESP32/);
  for (const file of ["boot-control.c", "boot-control.ts", "platform.ts"]) expect(existsSync(join(root, `esp32/ota/${file}`)), file).toBe(true);
  // platform.ts is the ESP32's "ota-platform": the same default export as sim/ota/platform.ts
  expect(read("esp32/ota/platform.ts")).toMatch(/^export default function openOtaPlatform\(\): OtaPlatform \{$/m);
  // mcconfig merges $(SDKCONFIGPATH)/sdkconfig.defaults over the SDK's (tools/mcmanifest.js)
  expect(esp32.build["SDKCONFIGPATH ?="]).toBe("./sdkconfig");
  const sdkconfig = read("esp32/ota/sdkconfig/sdkconfig.defaults");
  expect(sdkconfig).toMatch(/^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m);
});

test("esp32 natives: every function the module binds is defined in the C, with the XS signature", () => {
  const ts = read("esp32/ota/boot-control.ts");
  const c = read("esp32/ota/boot-control.c");
  const bound = [...ts.matchAll(/\bnative\("([A-Za-z0-9_]+)"\)/g)].map((m) => m[1]);
  const destructors = [...ts.matchAll(/\bNative\("([A-Za-z0-9_]+)"\)/g)].map((m) => m[1]);
  expect(bound.length).toBeGreaterThan(10);
  expect(destructors).toEqual(["xs_iiot_ota_slot_destructor"]);
  for (const name of bound) expect(c, name).toMatch(new RegExp(`^void ${name}\\(xsMachine \\*the\\)$`, "m"));
  for (const name of destructors) expect(c, name).toMatch(new RegExp(`^void ${name}\\(void \\*data\\)$`, "m"));
  // and nothing in the C that nothing binds (a stale native would still link, unused)
  const defined = [...c.matchAll(/^void (xs_[A-Za-z0-9_]+)\(xsMachine \*the\)$/gm)].map((m) => m[1]);
  expect(defined.sort()).toEqual([...new Set(bound)].sort());
});

test("esp32 natives: each ESP-IDF call that reports an esp_err_t is checked", () => {
  const c = read("esp32/ota/boot-control.c");
  for (const call of ["esp_partition_erase_range", "esp_partition_write", "esp_partition_read", "esp_ota_set_boot_partition", "esp_ota_mark_app_valid_cancel_rollback"]) {
    const uses = [...c.matchAll(new RegExp(`\\b${call}\\(`, "g"))].length;
    const checked = [...c.matchAll(new RegExp(`throwIfFailed\\(the, "${call}", ${call}\\(`, "g"))].length;
    expect(uses, call).toBeGreaterThan(0);
    expect(checked, call).toBe(uses);
  }
  expect(c).toMatch(/esp_ota_get_state_partition\(running, &state\)/);
});

test("esp32 module: type-checks against the Moddable typings and src/ota/slot.ts", () => {
  const tsc = join(root, "node_modules/.bin/tsc");
  expect(() => execFileSync(tsc, ["-p", join(root, "esp32/tsconfig.json")], { encoding: "utf8", stdio: "pipe" })).not.toThrow();
});
