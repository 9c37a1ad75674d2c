// One SPI bus shared by several chips, each selected by its own digital output.
//
// Why: the SDK's ECMA-419 SPI on ESP32 (8.2.3) initialises one SPI bus, for its first instance, and
// an instance owns its clock and data pins, so a second chip can neither open a second bus nor share
// the first instance's pins. Chips therefore share one SPI instance, created without `select`, and
// this module drives their select lines, every one of them inactive from the start and for the bus's
// lifetime (a select left floating can select a chip). It then clocks one byte with every chip
// deselected: SCLK idles low until the first transfer, and a mode 3 chip selected before then sees
// the clock polarity change under it (datasheets: bring CS high before changing CPOL).

import type { DigitalConstructor, DigitalOutput, ByteBuffer, SPIBusOptions, SPIConstructor, SPIDevice } from "./bus";

export interface SharedSPIOptions {
  /** The bus: an ECMA-419 SPI instance created without a select pin, in `mode` at `hz`. */
  spi: SPIDevice;
  hz: number;
  mode: number;
  digital: DigitalConstructor;
  /** Every chip's select pin on this bus, and its active level (default 0). */
  selects: { pin: number; active?: 0 | 1 }[];
}

export class SharedSPI {
  readonly hz: number;
  readonly mode: number;
  /** An ECMA-419 style IO class for one chip on this bus: `sensor: { io: shared.io, select: 5 }`. */
  readonly io: SPIConstructor;
  #spi: SPIDevice;
  #selects = new Map<number, ChipSelect>();
  #selected: ChipSelect | undefined;

  constructor(options: SharedSPIOptions) {
    this.#spi = options.spi;
    this.hz = options.hz;
    this.mode = options.mode;
    const Digital = options.digital;
    try {
      for (const { pin, active = 0 } of options.selects) {
        const output = new Digital({ pin, mode: Digital.Output, initialValue: (1 - active) as 0 | 1 });
        this.#selects.set(pin, new ChipSelect(output, active));
      }
      this.#spi.transfer(new Uint8Array(1)); // settle SCLK at the mode's idle level, nobody selected
      this.#spi.flush(true);
    } catch (error) {
      this.close();
      throw error;
    }
    const bus = this;
    this.io = class SharedSPIDevice implements SPIDevice {
      #cs: ChipSelect | undefined;

      constructor(device: SPIBusOptions & { hz: number }) {
        const cs = device.select === undefined ? undefined : bus.#selects.get(device.select);
        if (!cs) throw new RangeError(`select pin ${device.select} is not one of this SPI bus's chip selects`);
        if (cs.inUse) throw new Error(`select pin ${device.select}: in use`);
        if ((device.active ?? 0) !== cs.active) throw new RangeError(`select pin ${device.select} is active ${cs.active}`);
        if (device.mode !== undefined && device.mode !== bus.mode) throw new RangeError(`the SPI bus runs in mode ${bus.mode}; this chip asks for mode ${device.mode}`);
        if (device.hz < bus.hz) throw new RangeError(`the SPI bus runs at ${bus.hz} Hz, faster than this chip's ${device.hz} Hz`);
        cs.inUse = true;
        this.#cs = cs;
      }

      transfer(buffer: Uint8Array): void {
        bus.#select(this.#open());
        bus.#spi.transfer(buffer);
      }

      write(buffer: ByteBuffer): void {
        bus.#select(this.#open());
        bus.#spi.write(buffer);
      }

      flush(deselect?: boolean): void {
        const cs = this.#open();
        bus.#spi.flush();
        if (deselect && bus.#selected === cs) bus.#select(undefined);
      }

      /** Deselects the chip; its select output stays driven inactive. */
      close(): void {
        const cs = this.#cs;
        if (!cs) return;
        if (bus.#selected === cs) bus.#select(undefined);
        cs.inUse = false;
        this.#cs = undefined;
      }

      #open(): ChipSelect {
        if (!this.#cs) throw new Error("closed");
        return this.#cs;
      }
    };
  }

  /** Closes the select outputs and the SPI instance; close the chips' devices first. */
  close(): void {
    try {
      this.#select(undefined);
    } finally {
      for (const cs of this.#selects.values()) cs.close();
      this.#selects.clear();
      this.#spi.close();
    }
  }

  #select(cs: ChipSelect | undefined): void {
    if (this.#selected === cs) return;
    this.#selected?.set(false);
    this.#selected = cs;
    cs?.set(true);
  }
}

class ChipSelect {
  inUse = false;
  constructor(readonly output: DigitalOutput, readonly active: 0 | 1) {}

  set(selected: boolean): void {
    this.output.write((selected ? this.active : 1 - this.active) as 0 | 1);
  }

  close(): void {
    this.output.close();
  }
}
