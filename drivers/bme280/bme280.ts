// Bosch BME280 pressure, temperature and humidity sensor on I2C (datasheet BST-BME280-DS002).
// ECMA-419 Sensor Class Pattern. The chip runs in normal mode (it measures on its own every cycle),
// so sample() only reads the latest burst of data registers and compensates it: no conversion wait.

import type { I2CDevice, I2CSensorConfig } from "../bus";
import { busFailureReason, type SampleQuality } from "../sample";
import { compensateHumidity, compensatePressure, compensateTemperature, parseCalibration, type Bme280Calibration } from "./compensation";

const REG = Object.freeze({ CHIP_ID: 0xd0, CALIB_TP: 0x88, CALIB_H: 0xe1, CTRL_HUM: 0xf2, CTRL_MEAS: 0xf4, CONFIG: 0xf5, DATA: 0xf7 });
const CHIP_ID = 0x60;
const SKIPPED = 0x80000;
/** Oversampling x1 for all three, normal mode, 125 ms standby, filter off: fresh data for 1 Hz sampling. */
const CTRL_HUM = 0x01;
const CTRL_MEAS = (0b001 << 5) | (0b001 << 2) | 0b11;
const CONFIG = 0b010 << 5;
/**
 * Operating range (datasheet table 1): 300..1100 hPa, -40..85 C. Outside it the compensation is not
 * specified (Bosch's own API clamps silently): such a sample is uncertain, its values kept.
 */
const OPERATING = { minPa: 30_000, maxPa: 110_000, minC: -40, maxC: 85 };

export interface Bme280Sample extends SampleQuality {
  thermometer?: { temperature: number };
  hygrometer?: { humidity: number };
  /** Pa */
  barometer?: { pressure: number };
}

export default class Bme280 {
  #io: I2CDevice;
  #calibration: Bme280Calibration;
  #data = new Uint8Array(8);
  #configured = false;

  constructor(options: { sensor: I2CSensorConfig }) {
    const { io: IO, ...bus } = options.sensor;
    const address = bus.address ?? 0x76;
    this.#io = new IO({ hz: 400_000, ...bus, address });
    try {
      const id = this.#read(REG.CHIP_ID, 1)[0];
      if (id !== CHIP_ID) throw new Error(`chip id 0x${id.toString(16)} is not 0x60`);
      this.#calibration = parseCalibration(this.#read(REG.CALIB_TP, 26), this.#read(REG.CALIB_H, 7));
      this.#configure();
    } catch (error) {
      this.#io.close();
      throw new Error(`BME280 at 0x${address.toString(16)} did not respond as a BME280: ${error instanceof Error ? error.message : error}`);
    }
  }

  sample(): Bme280Sample {
    try {
      if (!this.#configured) {
        this.#configure();
        return { quality: "bad", reason: "restarting" };
      }
      this.#io.write(Uint8Array.of(REG.DATA));
      this.#io.read(this.#data);
    } catch (error) {
      this.#configured = false; // the chip may have lost power: write its configuration again
      return { quality: "bad", reason: busFailureReason(error) };
    }
    const d = this.#data;
    const adcP = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4);
    const adcT = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4);
    const adcH = (d[6] << 8) | d[7];
    if (adcT === SKIPPED || adcP === SKIPPED) {
      // Datasheet 5.4.7: registers hold 0x80000 until the first measurement; after a reset too.
      if ((this.#readSafe(REG.CTRL_MEAS) & 3) !== 3) this.#configured = false;
      return { quality: "uncertain", reason: "no-data" };
    }
    const [t, tFine] = compensateTemperature(adcT, this.#calibration);
    const temperature = t / 100;
    const pressure = compensatePressure(adcP, tFine, this.#calibration) / 256;
    const inRange = temperature >= OPERATING.minC && temperature <= OPERATING.maxC && pressure >= OPERATING.minPa && pressure <= OPERATING.maxPa;
    return {
      quality: inRange ? "good" : "uncertain",
      ...(inRange ? {} : { reason: "range" }),
      thermometer: { temperature },
      barometer: { pressure },
      hygrometer: { humidity: compensateHumidity(adcH, tFine, this.#calibration) / 1024 },
    };
  }

  close(): void {
    this.#io.close();
  }

  #configure(): void {
    // ctrl_hum only takes effect after a write to ctrl_meas (datasheet 5.4.3).
    this.#io.write(Uint8Array.of(REG.CTRL_HUM, CTRL_HUM, REG.CONFIG, CONFIG, REG.CTRL_MEAS, CTRL_MEAS));
    this.#configured = true;
  }

  #read(register: number, count: number): Uint8Array {
    this.#io.write(Uint8Array.of(register));
    const out = new Uint8Array(count);
    this.#io.read(out);
    return out;
  }

  #readSafe(register: number): number {
    try {
      return this.#read(register, 1)[0];
    } catch {
      return 0;
    }
  }
}
