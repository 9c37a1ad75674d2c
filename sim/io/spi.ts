// embedded:io/spi for the simulator and the host target: the ECMA-419 SPI class on the simulated
// board's SPI buses, modelled on the SDK's ESP32 implementation (8.2.3: modules/io/spi/esp/spi.c and
// modules/pins/spi/esp32/modSPI.c):
// - pins are owned by one instance; hz 1..40 MHz, mode 0..3, `in` or `out` required, `port` required;
// - the SDK initialises one SPI bus, for its first instance: an instance on another port does not
//   work there (it fails silently, then crashes on close). Here it throws, so the mistake shows;
// - a `select` pin is driven low when the instance is created (so the chip is selected from then
//   on: the first transfer of a CPOL 1 mode garbles, as on the device), is active from the first
//   read/write/transfer until flush(true) or until another instance uses the bus.

// By specifier: the manifest maps this file to "embedded:io/spi" (see sim/io/i2c.ts).
import { simBoard } from "sim/board";
import type { SimSPIBus } from "../spi-bus";
import { bytesOf, claimPins, releasePins, type BufferSource } from "sim/io/common"; // by specifier, as sim/board

export interface SPIOptions {
  clock: number;
  out?: number;
  in?: number;
  select?: number;
  active?: 0 | 1;
  hz: number;
  mode?: number;
  port: number;
}

/** The instance whose select is active, as the SDK's single active SPI configuration. */
let selected: SPI | undefined;
/** The port the SDK initialised, while any instance is open. */
let busPort: number | undefined;
let instances = 0;

export default class SPI {
  #bus: SimSPIBus | undefined;
  #pins: number[];
  #select: number | undefined;
  #active: 0 | 1;
  #mode: number;

  constructor(options: SPIOptions) {
    const pin = (name: "clock" | "out" | "in" | "select", output: boolean): number | undefined => {
      const value = options[name];
      if (value === undefined) return undefined;
      if (!Number.isInteger(value) || value < 0 || value > 48 || (output && value >= 34 && value <= 39)) throw new RangeError(`invalid ${name}`);
      return value;
    };
    const clock = pin("clock", true);
    if (clock === undefined) throw new RangeError("invalid clock");
    if (typeof options.hz !== "number" || !(options.hz >= 1 && options.hz <= 40_000_000)) throw new RangeError("invalid hz");
    const out = pin("out", true);
    const input = pin("in", false);
    const select = pin("select", true);
    if (options.active !== undefined && options.active !== 0 && options.active !== 1) throw new RangeError("invalid active");
    const mode = options.mode ?? 0;
    if (!Number.isInteger(mode) || (mode & ~3) !== 0) throw new RangeError("invalid mode");
    if (out === undefined && input === undefined) throw new Error("in or out required");
    const bus = simBoard().spi.get(options.port);
    if (!bus) throw new RangeError("invalid port");
    if (busPort !== undefined && busPort !== options.port)
      throw new Error(`SPI port ${options.port}: the SDK drives one SPI bus, already port ${busPort}; put every SPI chip on it`);
    const claims: [number, "input" | "output"][] = [[clock, "output"]];
    if (out !== undefined) claims.push([out, "output"]);
    if (input !== undefined && input !== out) claims.push([input, "input"]);
    if (select !== undefined) claims.push([select, "output"]);
    claimPins(claims);
    this.#pins = claims.map(([p]) => p);
    busPort = options.port;
    instances++;
    this.#bus = bus;
    this.#mode = mode;
    this.#select = select;
    this.#active = options.active ?? 0;
    if (select !== undefined) simBoard().gpio.drive(select, 0); // the SDK's GPIO init leaves the pin low
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
    const bytes = bytesOf(buffer);
    // The SDK copies the source with 32-bit loads: an unaligned view faults the Xtensa core.
    if (bytes.byteOffset % 4 !== 0) throw new Error("unaligned buffer: the device would fault");
    this.#exchange(bytes.slice());
  }

  transfer(buffer: BufferSource): void {
    this.#exchange(bytesOf(buffer));
  }

  /** With deselect, the SDK deactivates whichever instance is active. */
  flush(deselect?: boolean): void {
    this.#open();
    if (deselect && selected) selected.#setSelect(false);
  }

  close(): void {
    if (!this.#bus) return;
    if (selected === this) this.#setSelect(false);
    if (this.#select !== undefined) simBoard().gpio.release(this.#select);
    releasePins(this.#pins);
    this.#bus = undefined;
    if (--instances === 0) busPort = undefined;
  }

  #exchange(bytes: Uint8Array): void {
    const bus = this.#open();
    // IDF's max_transfer_sz in the SDK's bus set-up: a longer transfer fails there (only logged).
    if (bytes.length > 1024) throw new RangeError("transfer over 1024 bytes fails on the device");
    if (selected !== this) {
      if (selected) selected.#setSelect(false);
      this.#setSelect(true);
    }
    bus.exchange(this.#mode, bytes);
  }

  #setSelect(active: boolean): void {
    selected = active ? this : undefined;
    if (this.#select !== undefined) simBoard().gpio.drive(this.#select, (active ? this.#active : 1 - this.#active) as 0 | 1);
  }

  #open(): SimSPIBus {
    if (!this.#bus) throw new Error("closed");
    return this.#bus;
  }
}
