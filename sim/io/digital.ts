// embedded:io/digital for the simulator and the host target: ECMA-419 Digital on the simulated
// board's GPIO lines, with the SDK's mode constants, initialValue and pin ownership.

// By specifier: the manifest maps this file to "embedded:io/digital" (see sim/io/i2c.ts).
import { simBoard } from "sim/board";
import { claimPins, releasePins } from "sim/io/common"; // by specifier, as sim/board

export interface DigitalOptions {
  pin: number;
  mode: number;
  initialValue?: number;
}

export default class Digital {
  static readonly Input = 0;
  static readonly InputPullUp = 1;
  static readonly InputPullDown = 2;
  static readonly InputPullUpDown = 3;
  static readonly Output = 8;
  static readonly OutputOpenDrain = 9;
  #pin: number | undefined;
  #output: boolean;

  constructor(options: DigitalOptions) {
    const { pin, mode } = options ?? ({} as DigitalOptions);
    if (!Number.isInteger(pin)) throw new Error("invalid");
    if (![0, 1, 2, 3, 8, 9].includes(mode)) throw new RangeError("invalid mode");
    this.#output = mode === Digital.Output || mode === Digital.OutputOpenDrain;
    claimPins([[pin, this.#output ? "output" : "input"]]);
    this.#pin = pin;
    if (this.#output) simBoard().gpio.drive(pin, options.initialValue ? 1 : 0);
  }

  read(): 0 | 1 {
    const pin = this.#open();
    if (this.#output) throw new Error("can't read output");
    return simBoard().gpio.level(pin);
  }

  write(value: number): void {
    const pin = this.#open();
    if (!this.#output) throw new Error("not an output");
    simBoard().gpio.drive(pin, value ? 1 : 0);
  }

  close(): void {
    if (this.#pin === undefined) return;
    simBoard().gpio.release(this.#pin);
    releasePins([this.#pin]);
    this.#pin = undefined;
  }

  #open(): number {
    if (this.#pin === undefined) throw new Error("closed");
    return this.#pin;
  }
}
