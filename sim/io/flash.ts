// The Moddable `flash` module for the simulator and the host target: partitions of the simulated
// board's NOR flash, with the ESP32 module's API (offsets relative to the partition). With the
// `flash_dir` setting each partition's cells live in a file there (`flash-<label>.bin`), which
// survives restarts and a killed process; without it, in RAM.

// By specifier: the manifest maps this file to "flash" (see sim/io/i2c.ts).
import { simBoard } from "sim/board";
import config from "mc/config";
import type { SimNorFlash } from "../nor-flash";
import { FileCells } from "sim/io/file-cells";

type BufferSource = ArrayBuffer | ArrayBufferView;

export default class Flash {
  #flash: SimNorFlash;

  constructor(partition: string) {
    const dir = (config as Record<string, unknown>).flash_dir;
    this.#flash = simBoard().flashPartition(partition,
      typeof dir === "string" && dir !== "" ? (size, sector) => new FileCells(`${dir}flash-${partition}.bin`, size, sector) : undefined);
  }

  get byteLength(): number {
    return this.#flash.byteLength;
  }

  get blockSize(): number {
    return this.#flash.blockSize;
  }

  erase(sector: number): void {
    this.#flash.erase(sector);
  }

  read(offset: number, byteLength: number): ArrayBuffer {
    return this.#flash.read(offset, byteLength).buffer as ArrayBuffer;
  }

  write(offset: number, byteLength: number, buffer: BufferSource): void {
    const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (byteLength <= 0 || bytes.length < byteLength) throw new Error("invalid");
    this.#flash.write(offset, bytes.subarray(0, byteLength));
  }
}
