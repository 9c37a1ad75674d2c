// Moddable's preference module on Node, with the ESP32 (NVS) limits: keys up to 15 characters,
// values up to 4000 bytes, no floats. Kept in a JSON file so values survive a restart.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostPaths } from "./runtime.ts";

type Value = string | boolean | number | ArrayBuffer;
type Stored = Record<string, Record<string, string | boolean | number | { base64: string }>>;

function file(): string {
  return join(hostPaths.state, "preference.json");
}

function load(): Stored {
  try {
    return JSON.parse(readFileSync(file(), "utf8")) as Stored;
  } catch {
    return {};
  }
}

function save(all: Stored): void {
  mkdirSync(hostPaths.state, { recursive: true });
  writeFileSync(file() + ".tmp", JSON.stringify(all));
  renameSync(file() + ".tmp", file());
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > 15) throw new Error(`preference ${what} "${name}" must be 1..15 characters`);
}

const Preference = {
  get(domain: string, key: string): Value | undefined {
    const value = load()[domain]?.[key];
    if (value && typeof value === "object") return new Uint8Array(Buffer.from(value.base64, "base64")).buffer;
    return value;
  },
  set(domain: string, key: string, value: Value): void {
    checkName("domain", domain);
    checkName("key", key);
    if (typeof value === "number" && !Number.isInteger(value)) throw new Error("preference values cannot be floats on ESP32");
    const stored = value instanceof ArrayBuffer ? { base64: Buffer.from(value).toString("base64") } : value;
    const size = value instanceof ArrayBuffer ? value.byteLength : typeof value === "string" ? Buffer.byteLength(value) : 4;
    if (size > 4000) throw new Error(`preference value of ${size} bytes exceeds 4000`);
    const all = load();
    (all[domain] ??= {})[key] = stored;
    save(all);
  },
  delete(domain: string, key: string): void {
    const all = load();
    if (all[domain]) delete all[domain][key];
    save(all);
  },
  keys(domain: string): string[] {
    return Object.keys(load()[domain] ?? {});
  },
};

export default Preference;
