// embedded:io/spi for the simulator and the host target: the ECMA-419 SPI class on the simulated
// board's SPI buses, with the ESP32 implementation's checks, errors and chip-select behaviour
// (SDK 8.2.3 modules/io/spi): pins are exclusive to one instance, select becomes active on the first
// read/write/transfer and stays active until flush(true) or until another instance uses SPI.

// By specifier: the manifest maps this file to "embedded:io/spi" (see sim/io/i2c.ts).
import { board } from "sim/board";
import type { SimSPIBus } from "../spi-bus";

type BufferSource = ArrayBuffer | ArrayBufferView;

export interface SPIOptions {
  clock: number;
  out?: number;
  in?: number;
  select?: number;
  active?: 0 | 1;
  hz: number;
  mode?: number;
  port?: number;
}

const pinsInUse = new Set<number>();
/** The instance whose chip select is active, as the SDK's single active SPI configuration. */
let selected: SPI | undefined;

export default class SPI {
  #bus: SimSPIBus | undefined;
  #pins: number[];
  #select: number | undefined;
  #mode: number;

  constructor(options: SPIOptions) {
    const pin = (name: keyof SPIOptions): number | undefined => {
      const value = options[name];
      if (value === undefined) return undefined;
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 48) throw new RangeError(`invalid ${name}`);
      if (pinsInUse.has(value as number)) throw new Error("in use");
      return value as number;
    };
    const clock = pin("clock");
    if (clock === undefined) throw new RangeError("invalid clock");
    if (typeof options.hz !== "number" || !(options.hz >= 1 && options.hz <= 40_000_000)) throw new RangeError("invalid hz");
    const out = pin("out");
    const input = pin("in");
    const select = pin("select");
    if (options.active !== undefined && options.active !== 0 && options.active !== 1) throw new RangeError("invalid active");
    const mode = options.mode ?? 0;
    if (!Number.isInteger(mode) || (mode & ~3) !== 0) throw new RangeError("invalid mode");
    if (out === undefined && input === undefined) throw new Error("in or out required");
    const bus = board.spi.get(options.port ?? 0);
    if (!bus) throw new RangeError("invalid port");
    this.#bus = bus;
    this.#mode = mode;
    this.#select = select;
    this.#pins = [clock, out, input, select].filter((p): p is number => p !== undefined);
    for (const p of this.#pins) pinsInUse.add(p);
  }

  read(target: number | BufferSource): any {
    if (typeof target === "number") {
      if (!Number.isInteger(target) || target <= 0 || target > 65535) throw new RangeError("unsupported byteLength");
      const bytes = new Uint8Array(target);
      this.#exchange(bytes);
      return bytes.buffer;
    }
    // As on the device, a buffer's own bytes are clocked out while it fills.
    this.#exchange(bytesOf(target));
  }

  write(buffer: BufferSource): void {
    this.#exchange(bytesOf(buffer).slice());
  }

  transfer(buffer: BufferSource): void {
    this.#exchange(bytesOf(buffer));
  }

  flush(deselect?: boolean): void {
    this.#open();
    if (deselect && selected === this) this.#deselect();
  }

  close(): void {
    if (!this.#bus) return;
    if (selected === this) this.#deselect();
    for (const p of this.#pins) pinsInUse.delete(p);
    this.#bus = undefined;
  }

  #exchange(bytes: Uint8Array): void {
    const bus = this.#open();
    if (bytes.length > 65535) throw new RangeError("unsupported byteLength");
    if (selected !== this) {
      if (selected) selected.#deselect();
      selected = this;
      if (this.#select !== undefined) bus.select(this.#select);
    }
    bus.exchange(this.#select ?? -1, this.#mode, bytes);
  }

  #deselect(): void {
    selected = undefined;
    if (this.#select !== undefined) this.#bus?.deselect(this.#select);
  }

  #open(): SimSPIBus {
    if (!this.#bus) throw new Error("closed");
    return this.#bus;
  }
}

function bytesOf(buffer: BufferSource): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError("invalid buffer");
}
