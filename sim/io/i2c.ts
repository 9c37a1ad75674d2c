// embedded:io/i2c for the simulator and the host target: the ECMA-419 I2C class on the simulated
// board's buses, with the ESP32 implementation's argument checks and error messages.

// By specifier, not "../board": the manifest maps this file to "embedded:io/i2c", and XS resolves
// relative imports against the importing module's specifier.
import { simBoard } from "sim/board";
import type { SimI2CBus } from "../i2c-bus";
import { bytesOf, type BufferSource } from "sim/io/common"; // by specifier, as sim/board

export interface I2COptions {
  data: number;
  clock: number;
  hz: number;
  address: number;
  port?: number;
  timeout?: number;
  pullup?: boolean;
}

export default class I2C {
  #bus: SimI2CBus | undefined;
  #address: number;

  constructor(options: I2COptions) {
    if (typeof options?.hz !== "number" || !(options.hz > 0)) throw new RangeError("invalid hz");
    if (!Number.isInteger(options.address) || options.address < 0 || options.address > 0x7f) throw new RangeError("invalid address");
    if (!Number.isInteger(options.data) || !Number.isInteger(options.clock)) throw new RangeError("invalid pin");
    const port = options.port ?? 0;
    const bus = simBoard().i2c.get(port);
    if (!bus) throw new RangeError(`invalid port ${port}`);
    this.#bus = bus;
    this.#address = options.address;
  }

  read(target: number | BufferSource, _stop?: boolean): any {
    const bus = this.#open();
    if (typeof target === "number") {
      if (!Number.isInteger(target) || target <= 0) throw new RangeError("invalid byteLength");
      return bus.read(this.#address, target).slice().buffer;
    }
    const view = bytesOf(target);
    view.set(bus.read(this.#address, view.length));
  }

  write(buffer: BufferSource, _stop?: boolean): void {
    this.#open().write(this.#address, bytesOf(buffer).slice());
  }

  writeRead(write: BufferSource, read: number | BufferSource): any {
    this.write(write, false);
    return this.read(read);
  }

  close(): void {
    this.#bus = undefined;
  }

  #open(): SimI2CBus {
    if (!this.#bus) throw new Error("closed");
    return this.#bus;
  }
}
