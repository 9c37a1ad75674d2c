// Sensirion SHT3x-DIS temperature and humidity sensor on I2C (datasheet v7, 2019).
// ECMA-419 Sensor Class Pattern. The chip measures on its own in periodic mode (2 mps) so sample()
// only fetches the latest result: no conversion wait blocks the event loop.

import type { I2CDevice, I2CSensorConfig } from "../bus";
import { sensirionCrc8 } from "../sensirion-crc";
import { busFailureReason, type SampleQuality } from "../sample";

export const Sht3xCommand = Object.freeze({
  BREAK: 0x3093,
  SOFT_RESET: 0x30a2,
  READ_STATUS: 0xf32d,
  CLEAR_STATUS: 0x3041,
  FETCH_DATA: 0xe000,
  PERIODIC_2MPS_HIGH: 0x2236,
  PERIODIC_2MPS_MEDIUM: 0x2220,
  PERIODIC_2MPS_LOW: 0x222b,
});

export type Repeatability = "high" | "medium" | "low";

const periodicCommand: Record<Repeatability, number> = {
  high: Sht3xCommand.PERIODIC_2MPS_HIGH,
  medium: Sht3xCommand.PERIODIC_2MPS_MEDIUM,
  low: Sht3xCommand.PERIODIC_2MPS_LOW,
};

export interface Sht3xOptions {
  sensor: I2CSensorConfig;
  repeatability?: Repeatability;
}

export interface Sht3xSample extends SampleQuality {
  thermometer?: { temperature: number };
  hygrometer?: { humidity: number };
}

/** Datasheet 4.13: T = -45 + 175 * S / (2^16 - 1); RH = 100 * S / (2^16 - 1). */
export function sht3xTemperature(raw: number): number {
  return -45 + (175 * raw) / 65535;
}
export function sht3xHumidity(raw: number): number {
  return (100 * raw) / 65535;
}

export default class Sht3x {
  #io: I2CDevice;
  #command = new Uint8Array(2);
  #data = new Uint8Array(6);
  #repeatability: Repeatability;
  #measuring = false;

  constructor(options: Sht3xOptions) {
    const { io: IO, ...bus } = options.sensor;
    this.#repeatability = options.repeatability ?? "high";
    this.#io = new IO({ hz: 400_000, address: 0x44, ...bus });
    try {
      // A chip left in periodic mode by a previous boot only accepts BREAK.
      this.#send(Sht3xCommand.BREAK);
      this.#readStatus();
      this.#send(Sht3xCommand.CLEAR_STATUS);
      this.#startMeasuring();
    } catch (error) {
      this.#io.close();
      const address = `0x${(bus.address ?? 0x44).toString(16)}`;
      throw new Error(`SHT3x at ${address} did not respond as an SHT3x: ${error instanceof Error ? error.message : error}`);
    }
  }

  configure(options: { repeatability?: Repeatability }): void {
    if (options.repeatability && options.repeatability !== this.#repeatability) {
      if (!(options.repeatability in periodicCommand)) throw new RangeError(`repeatability ${options.repeatability}`);
      this.#repeatability = options.repeatability;
      this.#measuring = false;
    }
  }

  sample(): Sht3xSample {
    try {
      if (!this.#measuring) {
        this.#send(Sht3xCommand.BREAK);
        this.#startMeasuring();
        return { quality: "bad", reason: "restarting" };
      }
      this.#send(Sht3xCommand.FETCH_DATA);
    } catch (error) {
      // The chip refuses commands while reset or absent: restart periodic mode next time.
      this.#measuring = false;
      return { quality: "bad", reason: busFailureReason(error) };
    }
    try {
      this.#io.read(this.#data);
    } catch {
      // Datasheet 4.5: a read header is NACKed when no new measurement is ready.
      return { quality: "uncertain", reason: "no-data" };
    }
    const d = this.#data;
    if (sensirionCrc8(d, 0, 2) !== d[2] || sensirionCrc8(d, 3, 5) !== d[5]) return { quality: "bad", reason: "crc" };
    return {
      quality: "good",
      thermometer: { temperature: sht3xTemperature((d[0] << 8) | d[1]) },
      hygrometer: { humidity: sht3xHumidity((d[3] << 8) | d[4]) },
    };
  }

  close(): void {
    try {
      this.#send(Sht3xCommand.BREAK);
    } catch {
      // closing anyway
    }
    this.#io.close();
  }

  #startMeasuring(): void {
    this.#send(periodicCommand[this.#repeatability]);
    this.#measuring = true;
  }

  #readStatus(): number {
    this.#send(Sht3xCommand.READ_STATUS);
    const status = new Uint8Array(3);
    this.#io.read(status);
    if (sensirionCrc8(status, 0, 2) !== status[2]) throw new Error("status register CRC mismatch");
    return (status[0] << 8) | status[1];
  }

  #send(command: number): void {
    this.#command[0] = command >> 8;
    this.#command[1] = command & 0xff;
    this.#io.write(this.#command);
  }
}
