// Analog Devices ADXL345 accelerometer on 4-wire SPI, mode 3 (datasheet Rev. G), for vibration.
// ECMA-419 Sensor Class Pattern. The chip samples at 800 Hz into its 32-entry FIFO (stream mode);
// drain() empties the FIFO in short bursts and must run at least every 40 ms (the caller schedules
// it: every 20 ms leaves half the FIFO spare). sample() returns the RMS and peak of everything
// drained since the previous sample() and starts a new window.
//
// A window is "good" only when every sample of it arrived: a FIFO overrun makes it "uncertain"
// (samples were lost), a bus failure or a chip that lost its settings makes it "bad".

import { spiTransaction, type SPIDevice, type SPISensorConfig } from "../bus";
import type { SampleQuality } from "../sample";
import { VibrationWindow } from "./vibration";

const REG = Object.freeze({ DEVID: 0x00, BW_RATE: 0x2c, POWER_CTL: 0x2d, INT_ENABLE: 0x2e, DATA_FORMAT: 0x31, DATAX0: 0x32, FIFO_CTL: 0x38 });
const READ = 0x80;
const MULTI_BYTE = 0x40;
const DEVICE_ID = 0xe5;
const RATE_800_HZ = 0x0d;
const MEASURE = 0x08;
const FULL_RESOLUTION = 0x08;
const STREAM_MODE = 0x80;
const WATERMARK = 16;
const OVERRUN = 0x01;
const STANDARD_GRAVITY = 9.80665;
/** Full resolution: 256 counts per g in every range (datasheet table 1, 3.9 mg/LSB). */
export const ADXL345_M_S2_PER_COUNT = STANDARD_GRAVITY / 256;
const RANGE_CODES = { 2: 0, 4: 1, 8: 2, 16: 3 } as const;
/** 5 MHz is the chip's limit; at 1.6 MHz or less, ending a transaction gives the FIFO its 5 us between pops. */
export const ADXL345_MAX_HZ = 1_600_000;

export interface Adxl345Options {
  sensor: SPISensorConfig;
  /** Measurement range in g (default 16: full resolution gives 13 bits there). */
  range?: 2 | 4 | 8 | 16;
}

export interface Adxl345Sample extends SampleQuality {
  /** The latest sample, m/s^2. */
  accelerometer?: { x: number; y: number; z: number };
  /** Over the window: RMS about the mean per axis and the largest deviation from it, m/s^2. */
  vibration?: { rms: { x: number; y: number; z: number }; peak: number; count: number };
}

export default class Adxl345 {
  #spi: SPIDevice;
  #format: number;
  #window = new VibrationWindow();
  /** The latest sample, counts (three fields: the drain runs 50 times a second on a small heap). */
  #x = 0;
  #y = 0;
  #z = 0;
  #hasLatest = false;
  /** Why the current window is incomplete ("" when it is not). */
  #damage: { quality: "bad" | "uncertain"; reason: string } | undefined;
  #configured = false;
  /** False until the first drain after (re)configuration: the first window begins there. */
  #draining = false;
  #status = new Uint8Array(7);
  #fifoStatus = new Uint8Array(3);
  #data = new Uint8Array(7);

  constructor(options: Adxl345Options) {
    const { io: SPI, ...bus } = options.sensor;
    const range = options.range ?? 16;
    if (!(range in RANGE_CODES)) throw new RangeError("range must be 2, 4, 8 or 16 g");
    this.#format = FULL_RESOLUTION | RANGE_CODES[range];
    // Mode 3 only (datasheet, "Serial communications").
    this.#spi = new SPI({ hz: ADXL345_MAX_HZ, mode: 3, active: 0, ...bus });
    try {
      const id = this.#read(REG.DEVID, 1)[1];
      if (id !== DEVICE_ID)
        throw new Error(`ADXL345: device id 0x${id.toString(16)} is not 0xe5 (no ADXL345 answering? check wiring, select pin and SPI mode 3)`);
      this.#configure(false);
    } catch (error) {
      this.#spi.close();
      throw error instanceof Error && error.message.startsWith("ADXL345") ? error : new Error(`ADXL345: ${error instanceof Error ? error.message : error}`);
    }
  }

  /** Empties the FIFO into the current window. Never throws: failures mark the window. */
  drain(): void {
    try {
      if (!this.#configured) {
        this.#configure(true);
        return;
      }
      // Replies start at [1]: [0] is the address byte's slot. No views or arrays: nothing to collect.
      const status = this.#read(REG.BW_RATE, 6, this.#status); // BW_RATE .. DATA_FORMAT
      if (status[1] !== RATE_800_HZ || status[2] !== MEASURE || status[6] !== this.#format) {
        const silent = allEqual(status, 0xff) || allEqual(status, 0);
        this.#mark("bad", silent ? "bus" : "restarting");
        this.#configured = false;
        return;
      }
      // Samples overwritten before the first drain were never part of a window.
      if (status[5] & OVERRUN && this.#draining) this.#mark("uncertain", "overrun");
      this.#draining = true;
      const fifo = this.#read(REG.FIFO_CTL, 2, this.#fifoStatus);
      if (fifo[1] !== (STREAM_MODE | WATERMARK)) {
        this.#mark("bad", "restarting");
        this.#configured = false;
        return;
      }
      const entries = fifo[2] & 0x3f;
      for (let i = 0; i < entries; i++) {
        // One entry per transaction: the FIFO pops when it ends.
        const d = this.#read(REG.DATAX0, 6, this.#data);
        this.#x = int16(d[1], d[2]);
        this.#y = int16(d[3], d[4]);
        this.#z = int16(d[5], d[6]);
        this.#window.add(this.#x, this.#y, this.#z);
        this.#hasLatest = true;
      }
    } catch {
      this.#mark("bad", "bus");
      this.#configured = false;
    }
  }

  sample(): Adxl345Sample {
    this.drain();
    const result = this.#window.result(ADXL345_M_S2_PER_COUNT);
    const damage = this.#damage;
    this.#window.reset();
    this.#damage = undefined;
    if (damage) return { quality: damage.quality, reason: damage.reason };
    if (!result || !this.#hasLatest) return { quality: "uncertain", reason: "no-data" };
    const k = ADXL345_M_S2_PER_COUNT;
    return { quality: "good", accelerometer: { x: this.#x * k, y: this.#y * k, z: this.#z * k }, vibration: { rms: result.rms, peak: result.peak, count: result.count } };
  }

  close(): void {
    this.#spi.close();
  }

  /** Keeps the worst damage of the window: bad beats uncertain. */
  #mark(quality: "bad" | "uncertain", reason: string): void {
    if (!this.#damage || (quality === "bad" && this.#damage.quality !== "bad")) this.#damage = { quality, reason };
  }

  /** Writes every setting; a re-configuration marks the window, which began before the chip restarted. */
  #configure(restart: boolean): void {
    this.#write(REG.POWER_CTL, 0); // standby while changing settings
    this.#write(REG.BW_RATE, RATE_800_HZ);
    this.#write(REG.DATA_FORMAT, this.#format);
    this.#write(REG.INT_ENABLE, 0);
    this.#write(REG.FIFO_CTL, 0); // bypass empties the FIFO
    this.#write(REG.FIFO_CTL, STREAM_MODE | WATERMARK);
    this.#write(REG.POWER_CTL, MEASURE);
    this.#configured = true;
    this.#draining = false;
    this.#hasLatest = false;
    if (restart) this.#mark("bad", "restarting");
  }

  /** Reads count registers in one transaction; the values are at [1..count] of the buffer returned. */
  #read(register: number, count: number, into = new Uint8Array(count + 1)): Uint8Array {
    into.fill(0);
    into[0] = READ | (count > 1 ? MULTI_BYTE : 0) | register;
    return spiTransaction(this.#spi, into);
  }

  #write(register: number, value: number): void {
    spiTransaction(this.#spi, Uint8Array.of(register, value));
  }
}

function allEqual(reply: Uint8Array, value: number): boolean {
  for (let i = 1; i < reply.length; i++) if (reply[i] !== value) return false;
  return true;
}

function int16(low: number, high: number): number {
  return ((high << 24) >> 16) | low;
}
