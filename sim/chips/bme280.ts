// Register-level model of a Bosch BME280 on I2C (datasheet BST-BME280-DS002): chip id, soft reset,
// ctrl_hum/ctrl_meas/config, status, normal and forced modes with their measurement timing, burst
// data registers, calibration NVM, and injectable faults. Raw values come from inverting the
// datasheet's compensation for the simulated air, so a driver that compensates correctly reads back
// what was set.

import { I2CNack, type I2CTarget } from "../i2c-bus";
import { compensateHumidity, compensatePressure, compensateTemperature, type Bme280Calibration } from "../../drivers/bme280/compensation";

export interface Bme280Environment {
  /** degC */
  temperature: number;
  /** Pa */
  pressure: number;
  /** %RH */
  humidity: number;
}

/** A plausible factory calibration (temperature and pressure from Bosch's worked example). */
export const SIM_BME280_CALIBRATION: Bme280Calibration = {
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
};

const SKIPPED = 0x80000;
/** Datasheet table 27: t_standby by config[7:5], ms. */
const STANDBY_MS = [0.5, 62.5, 125, 250, 500, 1000, 10, 20];
const OVERSAMPLING = [0, 1, 2, 4, 8, 16, 16, 16];

export class SimBme280 implements I2CTarget {
  /** The air around the chip: fixed, or a function of time (ms) for a drifting plant. */
  environment: Bme280Environment | ((atMs: number) => Bme280Environment) = { temperature: 22, pressure: 101_325, humidity: 45 };
  faults = { nack: false, chipId: 0x60 };
  #now: () => number;
  #regs = new Uint8Array(256);
  #pointer = 0;
  #cycleStart = 0;
  #forcedDoneAt = -1;

  #calibration: Bme280Calibration;

  /** calibration: what this chip's NVM holds (chips differ; default SIM_BME280_CALIBRATION). */
  constructor(options: { now?: () => number; calibration?: Bme280Calibration } = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#calibration = options.calibration ?? SIM_BME280_CALIBRATION;
    this.#reset();
  }

  write(bytes: Uint8Array): void {
    if (this.faults.nack) throw new I2CNack("BME280 NACK (fault injected)");
    if (bytes.length === 0) return;
    this.#pointer = bytes[0];
    // Datasheet 6.2.1: further bytes come as (data, register) pairs after the first register's data.
    for (let i = 1; i < bytes.length; i += 2) {
      this.#writeRegister(i === 1 ? bytes[0] : bytes[i - 1], bytes[i]);
    }
  }

  read(count: number): Uint8Array {
    if (this.faults.nack) throw new I2CNack("BME280 NACK (fault injected)");
    this.#update();
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.#readRegister((this.#pointer + i) & 0xff);
    this.#pointer = (this.#pointer + count) & 0xff;
    return out;
  }

  #readRegister(reg: number): number {
    if (reg === 0xd0) return this.faults.chipId;
    if (reg === 0xf3) return this.#measuring() ? 0x08 : 0;
    return this.#regs[reg];
  }

  #writeRegister(reg: number, value: number): void {
    if (reg === 0xe0) {
      if (value === 0xb6) this.#reset();
      return;
    }
    if (reg === 0xf2 || reg === 0xf5) {
      this.#regs[reg] = value;
      return;
    }
    if (reg === 0xf4) {
      this.#regs[reg] = value;
      // ctrl_hum takes effect on this write (datasheet 5.4.3); a new cycle starts now.
      this.#cycleStart = this.#now();
      this.#forcedDoneAt = (value & 3) === 1 || (value & 3) === 2 ? this.#cycleStart + this.#measureMs() : -1;
    }
    // Other registers are read-only.
  }

  #reset(): void {
    this.#regs.fill(0);
    const c = this.#calibration;
    const put16 = (at: number, v: number) => {
      this.#regs[at] = v & 0xff;
      this.#regs[at + 1] = (v >> 8) & 0xff;
    };
    [c.T1, c.T2, c.T3, c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].forEach((v, k) => put16(0x88 + k * 2, v));
    this.#regs[0xa1] = c.H1;
    put16(0xe1, c.H2);
    this.#regs[0xe3] = c.H3;
    this.#regs[0xe4] = (c.H4 >> 4) & 0xff;
    this.#regs[0xe5] = (c.H4 & 0x0f) | ((c.H5 & 0x0f) << 4);
    this.#regs[0xe6] = (c.H5 >> 4) & 0xff;
    this.#regs[0xe7] = c.H6 & 0xff;
    // Data registers hold the "skipped" value until the first measurement (datasheet 5.4.7).
    this.#setData(SKIPPED, SKIPPED, 0x8000);
    this.#forcedDoneAt = -1;
  }

  /** Datasheet 9.1: typical measurement time, ms. */
  #measureMs(): number {
    const t = OVERSAMPLING[(this.#regs[0xf4] >> 5) & 7];
    const p = OVERSAMPLING[(this.#regs[0xf4] >> 2) & 7];
    const h = OVERSAMPLING[this.#regs[0xf2] & 7];
    return 1 + 2 * t + (p ? 2 * p + 0.5 : 0) + (h ? 2 * h + 0.5 : 0);
  }

  #measuring(): boolean {
    const mode = this.#regs[0xf4] & 3;
    const now = this.#now();
    if (mode === 3) return (now - this.#cycleStart) % (this.#measureMs() + STANDBY_MS[this.#regs[0xf5] >> 5]) < this.#measureMs();
    return this.#forcedDoneAt > now;
  }

  /** Latches a new measurement into the data registers when one has completed. */
  #update(): void {
    const mode = this.#regs[0xf4] & 3;
    const now = this.#now();
    if (mode === 3 ? now - this.#cycleStart >= this.#measureMs() : this.#forcedDoneAt >= 0 && now >= this.#forcedDoneAt) {
      this.#latch();
      if (mode !== 3) {
        this.#forcedDoneAt = -1;
        this.#regs[0xf4] &= ~3; // back to sleep after a forced measurement
      }
    }
  }

  #latch(): void {
    const c = this.#calibration;
    const env = typeof this.environment === "function" ? this.environment(this.#now()) : this.environment;
    const osrsT = (this.#regs[0xf4] >> 5) & 7;
    const osrsP = (this.#regs[0xf4] >> 2) & 7;
    const osrsH = this.#regs[0xf2] & 7;
    const adcT = searchRaw(0, 0xfffff, (raw) => compensateTemperature(raw, c)[0], Math.round(env.temperature * 100));
    const tFine = compensateTemperature(adcT, c)[1];
    const adcP = searchRaw(0, 0xfffff, (raw) => -compensatePressure(raw, tFine, c), -Math.round(env.pressure * 256));
    const adcH = searchRaw(0, 0xffff, (raw) => compensateHumidity(raw, tFine, c), Math.round(env.humidity * 1024));
    this.#setData(osrsT ? adcT : SKIPPED, osrsP ? adcP : SKIPPED, osrsH ? adcH : 0x8000);
  }

  #setData(adcT: number, adcP: number, adcH: number): void {
    const put20 = (at: number, v: number) => {
      this.#regs[at] = (v >> 12) & 0xff;
      this.#regs[at + 1] = (v >> 4) & 0xff;
      this.#regs[at + 2] = (v & 0x0f) << 4;
    };
    put20(0xf7, adcP);
    put20(0xfa, adcT);
    this.#regs[0xfd] = adcH >> 8;
    this.#regs[0xfe] = adcH & 0xff;
  }
}

/** The smallest raw value whose compensated output reaches target (output rises with raw). */
function searchRaw(lo: number, hi: number, output: (raw: number) => number, target: number): number {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (output(mid) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
