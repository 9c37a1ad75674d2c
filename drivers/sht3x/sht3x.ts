// Sensirion SHT3x-DIS temperature and humidity sensor on I2C (datasheet v7, 2019).
// ECMA-419 Sensor Class Pattern. The chip measures on its own in periodic mode so sample() only
// fetches the latest result: no conversion wait blocks the event loop.

import type { I2CDevice, I2CSensorConfig } from "../bus";
import { sensirionCrc8 } from "../sensirion-crc";
import { busFailureReason, type SampleQuality } from "../sample";

export const Sht3xCommand = Object.freeze({
  BREAK: 0x3093,
  SOFT_RESET: 0x30a2,
  READ_STATUS: 0xf32d,
  CLEAR_STATUS: 0x3041,
  FETCH_DATA: 0xe000,
});

export type Repeatability = "high" | "medium" | "low";
export type MeasurementsPerSecond = 0.5 | 1 | 2 | 4 | 10;

/** Datasheet table 9: periodic data acquisition commands by rate and repeatability. */
const periodicCommand: Record<MeasurementsPerSecond, Record<Repeatability, number>> = {
  0.5: { high: 0x2032, medium: 0x2024, low: 0x202f },
  1: { high: 0x2130, medium: 0x2126, low: 0x212d },
  2: { high: 0x2236, medium: 0x2220, low: 0x222b },
  4: { high: 0x2334, medium: 0x2322, low: 0x2329 },
  10: { high: 0x2737, medium: 0x2721, low: 0x272a },
};

/** The slowest rate that still gives fresh data at twice the given sampling rate. */
export function rateForSamplingPeriod(periodMs: number): MeasurementsPerSecond {
  const needed = 2000 / periodMs;
  for (const mps of [0.5, 1, 2, 4] as const) if (mps >= needed) return mps;
  return 10;
}

export interface Sht3xOptions {
  sensor: I2CSensorConfig;
  repeatability?: Repeatability;
  /** Chip measurement rate; sample at most at half of it (default 2, for 1 Hz sampling). */
  measurementsPerSecond?: MeasurementsPerSecond;
  /** Waits ms milliseconds (default: spins on Date.now()); only the 1 ms after BREAK uses it. */
  wait?: (ms: number) => void;
}

/** Datasheet 4.8: the chip needs up to 1 ms after BREAK before it accepts a command. */
const BREAK_MS = 1;

function spin(ms: number): void {
  const until = Date.now() + ms + 1; // +1: Date.now() has whole-millisecond steps
  while (Date.now() < until);
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

/** Consecutive fetches without data before the driver assumes the chip was reset. */
const MAX_MISSES = 3;

export default class Sht3x {
  #io: I2CDevice;
  #command = new Uint8Array(2);
  #data = new Uint8Array(6);
  #repeatability: Repeatability;
  #rate: MeasurementsPerSecond;
  #measuring = false;
  #misses = 0;
  #wait: (ms: number) => void;

  constructor(options: Sht3xOptions) {
    const { io: IO, ...bus } = options.sensor;
    this.#repeatability = options.repeatability ?? "high";
    this.#rate = options.measurementsPerSecond ?? 2;
    this.#wait = options.wait ?? spin;
    if (!(this.#rate in periodicCommand)) throw new RangeError(`SHT3x measures at 0.5, 1, 2, 4 or 10 per second, not ${this.#rate}`);
    this.#io = new IO({ hz: 400_000, address: 0x44, ...bus });
    try {
      // A chip left in periodic mode by a previous boot only accepts BREAK.
      this.#break();
      this.#readStatus();
      this.#send(Sht3xCommand.CLEAR_STATUS);
      this.#startMeasuring();
    } catch (error) {
      this.#io.close();
      const address = `0x${(bus.address ?? 0x44).toString(16)}`;
      throw new Error(`SHT3x at ${address} did not respond as an SHT3x: ${error instanceof Error ? error.message : error}`);
    }
  }

  configure(options: { repeatability?: Repeatability; measurementsPerSecond?: MeasurementsPerSecond }): void {
    const repeatability = options.repeatability ?? this.#repeatability;
    const rate = options.measurementsPerSecond ?? this.#rate;
    if (!(rate in periodicCommand) || !(repeatability in periodicCommand[rate])) throw new RangeError(`SHT3x cannot measure at ${rate}/s with ${repeatability} repeatability`);
    if (repeatability !== this.#repeatability || rate !== this.#rate) {
      this.#repeatability = repeatability;
      this.#rate = rate;
      this.#measuring = false; // restarted with the new command on the next sample
    }
  }

  sample(): Sht3xSample {
    try {
      if (!this.#measuring) {
        this.#break();
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
      // Datasheet 4.5: a read header is NACKed when no new measurement is ready. Sampling at half
      // the chip's rate, repeated misses mean it lost periodic mode (a brown-out): restart it.
      if (++this.#misses >= MAX_MISSES) this.#measuring = false;
      return { quality: "uncertain", reason: "no-data" };
    }
    this.#misses = 0;
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

  #break(): void {
    this.#send(Sht3xCommand.BREAK);
    this.#wait(BREAK_MS);
  }

  #startMeasuring(): void {
    this.#send(periodicCommand[this.#rate][this.#repeatability]);
    this.#measuring = true;
    this.#misses = 0;
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
