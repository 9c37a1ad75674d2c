// The simulated embedded:update: an image written through open/write/complete boots (pending, then
// confirmed) after a power cycle that reads the cells back from a file; an abandoned update does
// not; scattered "w" writes land where they were put.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { SimNorFlash, type NorCells } from "../sim/nor-flash.ts";
import { SimOtaDevice, buildSimImage } from "../sim/ota/dual-slot.ts";
import { simUpdateModule } from "../sim/ota/update.ts";
import { openSync, readSync, writeSync, closeSync, ftruncateSync, fstatSync } from "node:fs";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Cells in a file, as the host target keeps flash (a new device over the same file is a power cycle). */
class NodeFileCells implements NorCells {
  #fd: number;
  constructor(path: string, byteLength: number) {
    this.#fd = openSync(path, "a+");
    closeSync(this.#fd);
    this.#fd = openSync(path, "r+");
    if (fstatSync(this.#fd).size === 0) {
      ftruncateSync(this.#fd, byteLength);
      writeSync(this.#fd, new Uint8Array(byteLength).fill(0xff), 0, byteLength, 0);
    }
  }
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    readSync(this.#fd, out, 0, length, offset);
    return out;
  }
  write(offset: number, bytes: Uint8Array): void {
    writeSync(this.#fd, bytes, 0, bytes.length, offset);
  }
  close(): void {
    closeSync(this.#fd);
  }
}

function deviceOver(path: string): SimOtaDevice {
  const byteLength = 20 * 4096;
  return new SimOtaDevice(new SimNorFlash({ byteLength, blockSize: 4096, cells: new NodeFileCells(path, byteLength) }), 8);
}

test("sim embedded:update: an appended image completes, survives a power cycle through the file, boots pending, is confirmed", () => {
  const dir = mkdtempSync(join(tmpdir(), "ota-sim-"));
  dirs.push(dir);
  const path = join(dir, "flash.bin");
  let device = deviceOver(path);
  device.flashFactory(buildSimImage("0.3.0", 15000, 3));
  expect(device.powerOn()?.version).toBe("0.3.0");
  const image = buildSimImage("0.4.0", 20000, 9);
  const update = simUpdateModule(device).open({ partition: "nextota", byteLength: image.length });
  for (let at = 0; at < image.length; at += 1000) update.write(image.slice(at, at + 1000).buffer);
  expect(() => update.write(new Uint8Array(1), 0)).toThrow(/offset not allowed/);
  update.complete();
  expect(() => update.complete()).toThrow(/already complete/);
  update.close();
  device.flash.close();
  device = deviceOver(path);
  expect(device.powerOn()).toMatchObject({ slot: 1, version: "0.4.0", state: "pending" });
  device.bootControl().markValid();
  device.flash.close();
  device = deviceOver(path);
  expect(device.powerOn()).toMatchObject({ slot: 1, version: "0.4.0", state: "valid" });
  device.flash.close();
});

test("sim embedded:update: scattered 'w' writes in any order make the same image; close without complete changes nothing", () => {
  const device = new SimOtaDevice(new SimNorFlash({ byteLength: 20 * 4096, blockSize: 4096 }), 8);
  device.flashFactory(buildSimImage("0.3.0", 15000, 3));
  device.powerOn();
  const image = buildSimImage("0.4.0", 20000, 9);
  const abandoned = simUpdateModule(device).open({ partition: "nextota", mode: "w", byteLength: image.length });
  abandoned.write(image.subarray(0, 5000), 0);
  abandoned.close();
  expect(device.powerOn()?.version).toBe("0.3.0");
  const update = simUpdateModule(device).open({ partition: "nextota", mode: "w", byteLength: image.length });
  expect(() => update.write(image.subarray(0, 10))).toThrow(SyntaxError);
  const pieces = [];
  for (let at = 0; at < image.length; at += 3001) pieces.push(at);
  for (const at of pieces.reverse()) update.write(image.subarray(at, at + 3001), at);
  update.complete();
  expect(device.powerOn()).toMatchObject({ slot: 1, version: "0.4.0", state: "pending" });
  expect(() => simUpdateModule(device).open({ partition: "nextota", byteLength: 1 << 30 })).toThrow(RangeError);
  expect(() => simUpdateModule(device).open({ partition: "ota_7" as never })).toThrow(/partition not found/);
});
