// The Moddable `preference` module for the simulator and the host target, with the ESP32's NVS limits
// (keys up to 15 characters, values up to 4000 bytes, no floats), kept in `flash_dir`/preference.json
// through the `file` module and replaced by rename, so a power cut leaves the old or the new file.
// The SDK's own Linux preference reads its file when its module is evaluated: preloaded (as the
// firmware is) that happens at build time, and every start of mcsim would see the build's empty
// preferences (the boot id stayed 1). This one reads the file at each call.

import { File } from "file";
import config from "mc/config";

type Value = string | boolean | number | ArrayBuffer;
type Stored = Record<string, Record<string, string | boolean | number | { bytes: number[] }>>;

function path(): string {
  const dir = (config as Record<string, unknown>).flash_dir;
  return `${typeof dir === "string" ? dir : "/tmp/"}preference.json`;
}

function load(): Stored {
  if (!File.exists(path())) return {};
  const file = new File(path());
  try {
    return JSON.parse(file.read(String)) as Stored;
  } catch {
    return {}; // unreadable: as an erased NVS partition
  } finally {
    file.close();
  }
}

function save(all: Stored): void {
  const temporary = `${path()}.new`;
  if (File.exists(temporary)) File.delete(temporary);
  const file = new File(temporary, true);
  try {
    file.write(JSON.stringify(all));
  } finally {
    file.close();
  }
  // A bare name: the SDK's rename resolves it in the folder of `from` (not every SDK takes a path).
  if (!File.rename(temporary, "preference.json")) throw new Error(`preference: cannot replace ${path()}`);
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > 15) throw new Error(`preference ${what} "${name}" must be 1..15 characters`);
}

export default class Preference {
  static get(domain: string, key: string): Value | undefined {
    const value = load()[domain]?.[key];
    if (value && typeof value === "object") return Uint8Array.from(value.bytes).buffer;
    return value;
  }

  static set(domain: string, key: string, value: Value): void {
    checkName("domain", domain);
    checkName("key", key);
    if (typeof value === "number" && !Number.isInteger(value)) throw new Error("preference values cannot be floats on ESP32");
    const size = value instanceof ArrayBuffer ? value.byteLength : typeof value === "string" ? value.length : 4;
    if (size > 4000) throw new Error(`preference value of ${size} bytes exceeds 4000`);
    const all = load();
    (all[domain] ??= {})[key] = value instanceof ArrayBuffer ? { bytes: Array.from(new Uint8Array(value)) } : value;
    save(all);
  }

  static delete(domain: string, key: string): void {
    const all = load();
    if (all[domain]) delete all[domain][key];
    save(all);
  }

  static keys(domain: string): string[] {
    return Object.keys(load()[domain] ?? {});
  }
}
