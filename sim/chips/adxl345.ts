// Register-level model of an Analog Devices ADXL345 accelerometer on 4-wire SPI (datasheet Rev. G):
// device id, rate, power, data format (range, full resolution, justify, 3-wire SPI), offsets, output
// data produced at the selected rate from a settable motion, the 32-entry FIFO in bypass, FIFO and
// stream modes with watermark and overrun, multi-byte reads, SPI mode 3. Faults: a wrong device id
// and a power-on reset at any moment; the bus adds a stuck or floating MISO.

import type { SPITarget } from "../spi-bus";

export const STANDARD_GRAVITY = 9.80665;

export const ADXL345_REGISTERS = Object.freeze({
  DEVID: 0x00, OFSX: 0x1e, BW_RATE: 0x2c, POWER_CTL: 0x2d, INT_ENABLE: 0x2e, INT_MAP: 0x2f, INT_SOURCE: 0x30,
  DATA_FORMAT: 0x31, DATAX0: 0x32, FIFO_CTL: 0x38, FIFO_STATUS: 0x39,
});

/** Registers the controller may write (datasheet table 19). */
const WRITABLE = new Set([0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2c, 0x2d, 0x2e, 0x2f, 0x31, 0x38]);
const FIFO_DEPTH = 32;
/** Offset registers: 15.6 mg per LSB, two's complement. */
const OFFSET_G_PER_LSB = 0.0156;

export interface Acceleration {
  /** m/s^2 */
  x: number;
  y: number;
  z: number;
}


export class SimAdxl345 implements SPITarget {
  readonly modes = [3];
  /**
   * The acceleration the chip feels, m/s^2, as a function of time in seconds (default: at rest, z up).
   * It may fill and return `into` rather than make an object: it runs 800 times a second, and on the
   * simulator that garbage would share the device-sized heap with the firmware.
   */
  motion: (atSeconds: number, into: Acceleration) => Acceleration = (_t, into) => {
    into.x = 0;
    into.y = 0;
    into.z = STANDARD_GRAVITY;
    return into;
  };
  /** deviceId: what DEVID reads; unpowered: the chip is off its supply (it answers nothing and comes back reset). */
  faults = { deviceId: 0xe5, unpowered: false };
  /** The I2C address its ALT ADDRESS pin selects: 0x53 (low, as on the reference board) or 0x1D. */
  i2cAddress = 0x53;
  #off = false;
  /** Samples lost to a full FIFO since power-on (for tests). */
  overwritten = 0;
  #now: () => number;
  #regs = new Uint8Array(64);
  // Counts as x, y, z triples: the FIFO is a ring of FIFO_DEPTH entries. No objects per sample.
  #fifo = new Int16Array(FIFO_DEPTH * 3);
  #fifoStart = 0;
  #fifoLength = 0;
  #latest = new Int16Array(3);
  #feel: Acceleration = { x: 0, y: 0, z: 0 };
  #nextSampleAt = 0;
  #address = -1;
  #write = false;
  #multiByte = false;
  /** The entry a data-register read latched for its transaction (datasheet: reads are consistent). */
  #snapshot = new Int16Array(3);
  #latched = false;
  #popOnDeselect = false;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.powerOnReset();
  }

  /** Register values after power-on (datasheet table 19): standby, 100 Hz, bypass. */
  powerOnReset(): void {
    this.#regs.fill(0);
    this.#regs[ADXL345_REGISTERS.BW_RATE] = 0x0a;
    this.#regs[ADXL345_REGISTERS.INT_SOURCE] = 0x02;
    this.#fifoLength = 0;
    this.#latest.fill(0);
  }

  /** Output data rate selected by BW_RATE, Hz: 3200 / 2^(15 - code). */
  get outputRateHz(): number {
    return 3200 / 2 ** (15 - (this.#regs[ADXL345_REGISTERS.BW_RATE] & 0x0f));
  }

  get fifoEntries(): number {
    return this.#fifoLength;
  }

  select(): void {
    if (this.faults.unpowered) this.#off = true;
    else if (this.#off) {
      this.#off = false;
      this.powerOnReset();
    }
    this.#produce();
    this.#address = -1;
    this.#latched = false;
    this.#popOnDeselect = false;
  }

  exchange(mosi: number): number {
    if (this.#off) return 0xff; // nothing drives MISO
    if (this.#address < 0) {
      this.#write = (mosi & 0x80) === 0;
      this.#multiByte = (mosi & 0x40) !== 0;
      this.#address = mosi & 0x3f;
      return 0xff;
    }
    const register = this.#address;
    if (this.#multiByte) this.#address = (this.#address + 1) & 0x3f;
    // In 3-wire mode the chip answers on SDIO, and nothing drives a 4-wire bus's MISO.
    const threeWire = (this.#regs[ADXL345_REGISTERS.DATA_FORMAT] & 0x40) !== 0;
    if (this.#write) {
      this.#writeRegister(register, mosi);
      return 0xff;
    }
    return threeWire ? 0xff : this.#readRegister(register);
  }

  /** Deselected, the chip is an I2C target on SCLK/SDI (datasheet, "Serial communications"). */
  hearsI2CAddress(byte: number): boolean {
    return !this.#off && byte >> 1 === this.i2cAddress;
  }

  deselect(): void {
    // A FIFO entry pops once its data registers have been read and the transaction ends.
    if (this.#popOnDeselect && this.#fifoLength > 0) {
      this.#fifoStart = (this.#fifoStart + 1) % FIFO_DEPTH;
      this.#fifoLength--;
      this.#regs[ADXL345_REGISTERS.INT_SOURCE] &= ~0x01; // reading the FIFO clears overrun
    }
    this.#popOnDeselect = false;
    this.#latched = false;
    this.#address = -1;
  }

  #fifoMode(): number {
    return this.#regs[ADXL345_REGISTERS.FIFO_CTL] >> 6;
  }

  #readRegister(register: number): number {
    const R = ADXL345_REGISTERS;
    if (register === R.DEVID) return this.faults.deviceId;
    if (register === R.FIFO_STATUS) return this.#fifoLength;
    if (register === R.INT_SOURCE) return this.#interruptSource();
    if (register >= R.DATAX0 && register < R.DATAX0 + 6) {
      if (!this.#latched) {
        const fromFifo = this.#fifoMode() !== 0 && this.#fifoLength > 0;
        const from = fromFifo ? this.#fifo : this.#latest;
        const at = fromFifo ? this.#fifoStart * 3 : 0;
        for (let k = 0; k < 3; k++) this.#snapshot[k] = from[at + k];
        this.#latched = true;
        this.#popOnDeselect = fromFifo;
        this.#regs[R.INT_SOURCE] &= ~0x80; // data read: DATA_READY clears
      }
      const word = this.#encode(this.#snapshot[(register - R.DATAX0) >> 1]);
      return (register - R.DATAX0) % 2 === 0 ? word & 0xff : (word >> 8) & 0xff;
    }
    return this.#regs[register];
  }

  #interruptSource(): number {
    const R = ADXL345_REGISTERS;
    const watermark = this.#regs[R.FIFO_CTL] & 0x1f;
    let source = this.#regs[R.INT_SOURCE] & ~0x02;
    if (this.#fifoMode() !== 0 ? this.#fifoLength >= watermark && watermark > 0 : false) source |= 0x02;
    return source;
  }

  #writeRegister(register: number, value: number): void {
    const R = ADXL345_REGISTERS;
    if (!WRITABLE.has(register)) return;
    const before = this.#regs[register];
    this.#regs[register] = value;
    if (register === R.FIFO_CTL && value >> 6 === 0) this.#fifoLength = 0; // bypass clears the FIFO
    if (register === R.POWER_CTL && (value & 0x08) && !(before & 0x08)) {
      // Measurement starts: the first sample lands one output period later.
      this.#nextSampleAt = this.#now() + 1000 / this.outputRateHz;
    }
    if (register === R.BW_RATE) this.#nextSampleAt = this.#now() + 1000 / this.outputRateHz;
  }

  /** Produces the samples that fell due since the last transaction. */
  #produce(): void {
    const R = ADXL345_REGISTERS;
    if (!(this.#regs[R.POWER_CTL] & 0x08) || (this.#regs[R.POWER_CTL] & 0x04)) return; // standby or sleep
    const now = this.#now();
    const period = 1000 / this.outputRateHz;
    if (now < this.#nextSampleAt) return;
    let due = Math.floor((now - this.#nextSampleAt) / period) + 1;
    // Only the newest FIFO_DEPTH + 1 samples can survive: skip the rest but count them as overwritten.
    const keep = FIFO_DEPTH + 1;
    if (due > keep) {
      const skipped = due - keep;
      if (this.#fifoMode() !== 0) this.overwritten += skipped;
      this.#regs[R.INT_SOURCE] |= 0x01;
      this.#nextSampleAt += skipped * period;
      due = keep;
    }
    for (let i = 0; i < due; i++) {
      this.#acquire(this.#nextSampleAt);
      this.#nextSampleAt += period;
    }
  }

  #acquire(atMs: number): void {
    const R = ADXL345_REGISTERS;
    const a = this.motion(atMs / 1000, this.#feel);
    const latest = this.#latest;
    latest[0] = this.#counts(a.x / STANDARD_GRAVITY + this.#offsetG(0));
    latest[1] = this.#counts(a.y / STANDARD_GRAVITY + this.#offsetG(1));
    latest[2] = this.#counts(a.z / STANDARD_GRAVITY + this.#offsetG(2));
    const mode = this.#fifoMode();
    if (mode === 0) {
      if (this.#regs[R.INT_SOURCE] & 0x80) this.#regs[R.INT_SOURCE] |= 0x01; // replaced unread data
    } else if (this.#fifoLength >= FIFO_DEPTH) {
      this.#regs[R.INT_SOURCE] |= 0x01;
      this.overwritten++;
      if (mode === 1) return; // FIFO mode keeps the oldest and stops collecting
      this.#fifoStart = (this.#fifoStart + 1) % FIFO_DEPTH; // stream and trigger modes keep the newest
      this.#fifoLength--;
    }
    if (mode !== 0) {
      this.#fifo.set(latest, ((this.#fifoStart + this.#fifoLength) % FIFO_DEPTH) * 3);
      this.#fifoLength++;
      // Datasheet, INT_SOURCE: in FIFO modes overrun is set once the FIFO is filled to capacity.
      if (this.#fifoLength >= FIFO_DEPTH) this.#regs[R.INT_SOURCE] |= 0x01;
    }
    this.#regs[R.INT_SOURCE] |= 0x80;
  }

  /** An axis's offset register in g (two's complement, 15.6 mg per LSB). */
  #offsetG(axis: number): number {
    return ((this.#regs[ADXL345_REGISTERS.OFSX + axis] << 24) >> 24) * OFFSET_G_PER_LSB;
  }

  /** Acceleration in g to output counts for the current range and resolution. */
  #counts(g: number): number {
    const format = this.#regs[ADXL345_REGISTERS.DATA_FORMAT];
    const range = format & 0x03;
    const fullResolution = (format & 0x08) !== 0;
    const bits = fullResolution ? 10 + range : 10;
    const gPerCount = fullResolution ? 1 / 256 : (4 << range) / 1024;
    const limit = 2 ** (bits - 1);
    return Math.max(-limit, Math.min(limit - 1, Math.round(g / gPerCount)));
  }

  /** A count as the 16-bit register pair holds it: right-justified and sign-extended, or MSB-aligned. */
  #encode(count: number): number {
    const format = this.#regs[ADXL345_REGISTERS.DATA_FORMAT];
    const range = format & 0x03;
    const bits = format & 0x08 ? 10 + range : 10;
    const word = format & 0x04 ? count * 2 ** (16 - bits) : count;
    return word & 0xffff;
  }
}
