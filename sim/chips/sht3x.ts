// Register-level model of a Sensirion SHT3x-DIS (datasheet v7): commands, periodic measurement
// timing, NACK when no data is ready, CRC-8 on every word, status register, and injectable faults.

import { I2CNack, type I2CTarget } from "../i2c-bus";
import { sensirionCrc8 } from "../../drivers/sensirion-crc";

export interface Sht3xEnvironment {
  /** deg C */
  temperature: number;
  /** %RH */
  humidity: number;
}

export interface Sht3xFaults {
  /** NACK every transaction, as an unpowered or absent chip does. */
  nack: boolean;
  /** Flip a bit in the next N data words' CRC. */
  badCrcCount: number;
}

/** Datasheet table 4: maximum measurement duration per repeatability, ms. */
const MEASUREMENT_MS = { high: 15, medium: 6, low: 4 } as const;
type Repeatability = keyof typeof MEASUREMENT_MS;

const PERIODIC: Record<number, { mps: number; repeatability: Repeatability }> = {
  0x2032: { mps: 0.5, repeatability: "high" }, 0x2024: { mps: 0.5, repeatability: "medium" }, 0x202f: { mps: 0.5, repeatability: "low" },
  0x2130: { mps: 1, repeatability: "high" }, 0x2126: { mps: 1, repeatability: "medium" }, 0x212d: { mps: 1, repeatability: "low" },
  0x2236: { mps: 2, repeatability: "high" }, 0x2220: { mps: 2, repeatability: "medium" }, 0x222b: { mps: 2, repeatability: "low" },
  0x2334: { mps: 4, repeatability: "high" }, 0x2322: { mps: 4, repeatability: "medium" }, 0x2329: { mps: 4, repeatability: "low" },
  0x2737: { mps: 10, repeatability: "high" }, 0x2721: { mps: 10, repeatability: "medium" }, 0x272a: { mps: 10, repeatability: "low" },
};
const SINGLE_SHOT_NO_STRETCH: Record<number, Repeatability> = { 0x2400: "high", 0x240b: "medium", 0x2416: "low" };

export class SimSht3x implements I2CTarget {
  /** The air around the chip: fixed, or a function of time (ms) for a drifting plant. */
  environment: Sht3xEnvironment | ((atMs: number) => Sht3xEnvironment) = { temperature: 22, humidity: 45 };
  faults: Sht3xFaults = { nack: false, badCrcCount: 0 };
  #now: () => number;
  #status = 0x8010; // alert pending + system reset detected, as after power-up
  #periodic: { periodMs: number; startedAt: number; fetched: number; repeatability: Repeatability } | undefined;
  #singleShot: { readyAt: number; repeatability: Repeatability } | undefined;
  #pendingRead: Uint8Array | undefined;
  #fetchArmed = false;
  /** Datasheet 4.8: after BREAK the chip takes up to 1 ms before it accepts a command. */
  #busyUntil = 0;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? (() => Date.now());
  }

  /** Loss of power: forget everything, as a real chip does. */
  powerCycle(): void {
    this.#status = 0x8010;
    this.#periodic = undefined;
    this.#singleShot = undefined;
    this.#pendingRead = undefined;
    this.#fetchArmed = false;
  }

  get measuring(): boolean {
    return this.#periodic !== undefined;
  }

  write(bytes: Uint8Array): void {
    if (this.faults.nack) throw new I2CNack("SHT3x NACK (fault injected)");
    if (bytes.length !== 2) throw new I2CNack(`SHT3x expects 16-bit commands, got ${bytes.length} bytes`);
    const command = (bytes[0] << 8) | bytes[1];
    if (this.#now() < this.#busyUntil) throw new I2CNack(`SHT3x busy after BREAK, command 0x${command.toString(16)} refused`);
    this.#pendingRead = undefined;
    this.#fetchArmed = false;
    if (this.#periodic) {
      // Datasheet 4.7: in periodic mode only fetch, ART and break are accepted.
      if (command === 0xe000) {
        this.#fetchArmed = true;
        return;
      }
      if (command === 0x3093) {
        this.#periodic = undefined;
        this.#busyUntil = this.#now() + 1;
        return;
      }
      throw new I2CNack(`SHT3x command 0x${command.toString(16)} refused in periodic mode`);
    }
    const periodic = PERIODIC[command];
    if (periodic) {
      this.#periodic = { periodMs: 1000 / periodic.mps, startedAt: this.#now(), fetched: 0, repeatability: periodic.repeatability };
      return;
    }
    const single = SINGLE_SHOT_NO_STRETCH[command];
    if (single) {
      this.#singleShot = { readyAt: this.#now() + MEASUREMENT_MS[single], repeatability: single };
      return;
    }
    switch (command) {
      case 0x3093: // break: harmless when idle, but the chip is still busy for a moment
        this.#busyUntil = this.#now() + 1;
        return;
      case 0x30a2: // soft reset
        this.powerCycle();
        this.#status = 0x0010;
        return;
      case 0x3041: // clear status
        this.#status &= ~0x8c13 & 0xffff;
        return;
      case 0xf32d:
        this.#pendingRead = this.#words([this.#status]);
        return;
      case 0xe000: // fetch without periodic mode: nothing to read
        return;
      default:
        this.#status |= 0x0002; // "command not processed"
        throw new I2CNack(`SHT3x unknown command 0x${command.toString(16)}`);
    }
  }

  read(count: number): Uint8Array {
    if (this.faults.nack) throw new I2CNack("SHT3x NACK (fault injected)");
    let data: Uint8Array | undefined = this.#pendingRead;
    this.#pendingRead = undefined;
    if (!data && this.#fetchArmed) {
      this.#fetchArmed = false;
      data = this.#fetchPeriodic();
    } else if (!data && this.#singleShot) {
      if (this.#now() < this.#singleShot.readyAt) throw new I2CNack("SHT3x measurement in progress");
      this.#singleShot = undefined;
      data = this.#measurement();
    }
    if (!data) throw new I2CNack("SHT3x has no data to send");
    // A master may stop early (e.g. temperature only); it cannot read past the end.
    if (count > data.length) throw new Error(`SHT3x sends at most ${data.length} bytes here, ${count} requested`);
    return data.subarray(0, count);
  }

  #fetchPeriodic(): Uint8Array {
    const p = this.#periodic!;
    const elapsed = this.#now() - p.startedAt - MEASUREMENT_MS[p.repeatability];
    const completed = elapsed < 0 ? 0 : Math.floor(elapsed / p.periodMs) + 1;
    if (completed <= p.fetched) throw new I2CNack("SHT3x no new measurement");
    p.fetched = completed;
    return this.#measurement();
  }

  #measurement(): Uint8Array {
    const env = this.environment;
    const { temperature, humidity } = typeof env === "function" ? env(this.#now()) : env;
    const rawT = clamp16(Math.round(((temperature + 45) * 65535) / 175));
    const rawRH = clamp16(Math.round((humidity * 65535) / 100));
    return this.#words([rawT, rawRH]);
  }

  #words(words: number[]): Uint8Array {
    const out = new Uint8Array(words.length * 3);
    words.forEach((word, i) => {
      out[i * 3] = word >> 8;
      out[i * 3 + 1] = word & 0xff;
      let crc = sensirionCrc8(out, i * 3, i * 3 + 2);
      if (this.faults.badCrcCount > 0) {
        this.faults.badCrcCount--;
        crc ^= 0x01;
      }
      out[i * 3 + 2] = crc;
    });
    return out;
  }
}

function clamp16(value: number): number {
  return value < 0 ? 0 : value > 65535 ? 65535 : value;
}
