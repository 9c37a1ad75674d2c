// Maxim MAX31865 RTD-to-digital converter on SPI (datasheet 19-6478), for PT100/PT1000 in 2-, 3- or
// 4-wire connection. ECMA-419 Sensor Class Pattern. The chip converts continuously (automatic mode,
// 50 or 60 Hz notch), so sample() only reads the latest result: no conversion wait.
//
// Faults: the fault thresholds bound -200..850 C, so an open or shorted RTD trips them on every
// conversion; then (and at start) the chip's fault-detection cycle checks the leads, and the next
// sample reports what it found. A value is only ever "good" from a fault-free conversion of a chip
// whose configuration reads back as written.

import { spiTransaction, type SPIDevice, type SPISensorConfig } from "../bus";
import type { SampleQuality } from "../sample";
import { max31865Code, max31865Resistance, rtdResistance, rtdTemperature, RTD_MAX_C, RTD_MIN_C } from "./rtd";

const CONFIG = Object.freeze({ VBIAS: 0x80, AUTO: 0x40, THREE_WIRE: 0x10, DETECT_MASK: 0x0c, DETECT_AUTO: 0x04, FAULT_CLEAR: 0x02, FILTER_50HZ: 0x01 });
const WRITE = 0x80;
/** Fault status D7..D2; D1 and D0 are unused. */
const FAULT_BITS = 0xfc;
const REGISTER_COUNT = 8;

/** Fault status bits (datasheet table 7) and the reason each one is reported as. */
export const MAX31865_FAULT_REASONS: readonly [number, string][] = [
  [0x80, "rtd-high"], // open RTD, or above the high threshold
  [0x40, "rtd-low"], // shorted RTD, or below the low threshold
  [0x20, "open-circuit"], // REFIN- > 0.85 VBIAS: open RTD element or FORCE+ (detection cycle)
  [0x10, "force-open"], // REFIN- < 0.85 VBIAS with FORCE- open (detection cycle)
  [0x08, "rtdin-low"], // RTDIN- < 0.85 VBIAS with FORCE- open (detection cycle)
  [0x04, "overvoltage"], // an input above VDD or below GND1
];

export function max31865FaultReason(status: number): string {
  for (const [bit, reason] of MAX31865_FAULT_REASONS) if (status & bit) return reason;
  return "fault";
}

export interface Max31865Options {
  sensor: SPISensorConfig;
  /** Nominal RTD resistance at 0 C: 100 (PT100, default) or 1000 (PT1000). */
  rtdNominal?: 100 | 1000;
  /** The board's reference resistor, ohms (430 for a PT100, 4300 for a PT1000 on common boards). */
  referenceOhms?: number;
  wires?: 2 | 3 | 4;
  /** Mains frequency to reject (default 50). */
  filterHz?: 50 | 60;
  /**
   * Run the lead check every this many good samples (default 600; 0: only at start and after a
   * fault). Some lead faults (RTDIN- shorted low, datasheet tables 10-12) leave conversions looking
   * valid: only the check sees them. The sample after each check is uncertain, reason "lead-check".
   */
  leadCheckEvery?: number;
}

export interface Max31865Sample extends SampleQuality {
  thermometer?: { temperature: number };
  /** Ohms, as measured (also when the temperature is out of range). */
  resistance?: number;
}

/** checking: the fault-detection cycle runs; running: converting automatically. */
type State = "checking" | "running" | "reconfigure";

export default class Max31865 {
  #spi: SPIDevice;
  #r0: number;
  #reference: number;
  #config: number;
  #thresholds: Uint8Array;
  #state: State = "checking";
  /** The conversion fault that started the current lead check: still the latest news if the check finds nothing. */
  #cause = "";
  #leadCheckEvery: number;
  #sinceLeadCheck = 0;
  /** The current lead check is a routine one (not after a fault or at start). */
  #routineCheck = false;
  #registers = new Uint8Array(REGISTER_COUNT + 1);

  constructor(options: Max31865Options) {
    const { io: SPI, ...bus } = options.sensor;
    this.#r0 = options.rtdNominal ?? 100;
    if (this.#r0 !== 100 && this.#r0 !== 1000) throw new RangeError("rtdNominal must be 100 or 1000");
    this.#reference = options.referenceOhms ?? (this.#r0 === 100 ? 430 : 4300);
    if (!(this.#reference > this.#r0)) throw new RangeError("referenceOhms must exceed the RTD's nominal resistance");
    const wires = options.wires ?? 4;
    if (wires !== 2 && wires !== 3 && wires !== 4) throw new RangeError("wires must be 2, 3 or 4");
    const filter = options.filterHz ?? 50;
    if (filter !== 50 && filter !== 60) throw new RangeError("filterHz must be 50 or 60");
    this.#leadCheckEvery = options.leadCheckEvery ?? 600;
    if (!Number.isInteger(this.#leadCheckEvery) || this.#leadCheckEvery < 0) throw new RangeError("leadCheckEvery must be a whole number of samples");
    this.#config = CONFIG.VBIAS | (wires === 3 ? CONFIG.THREE_WIRE : 0) | (filter === 50 ? CONFIG.FILTER_50HZ : 0);
    // Thresholds 2 % beyond the resistance at -200 C and 850 C: anything outside is a wiring fault.
    const low = max31865Code(rtdResistance(RTD_MIN_C, this.#r0) * 0.98, this.#reference) << 1;
    const high = Math.min(0x7fff, max31865Code(rtdResistance(RTD_MAX_C, this.#r0) * 1.02, this.#reference)) << 1;
    this.#thresholds = Uint8Array.of(high >> 8, high & 0xff, low >> 8, low & 0xff);

    // The datasheet allows modes 1 and 3, at 5 MHz at most.
    this.#spi = new SPI({ hz: 5_000_000, mode: 3, active: 0, ...bus });
    try {
      this.#startFaultCheck();
      const regs = this.#readAll();
      const back = regs.subarray(3, 7);
      if (!back.every((b, i) => b === this.#thresholds[i]))
        throw new Error(`fault thresholds read back as ${hex(back)}, not ${hex(this.#thresholds)}: no MAX31865 answering (check wiring, select pin and SPI mode)`);
    } catch (error) {
      this.#spi.close();
      throw error instanceof Error && error.message.includes("MAX31865") ? error : new Error(`MAX31865: ${error instanceof Error ? error.message : error}`);
    }
  }

  sample(): Max31865Sample {
    let regs: Uint8Array;
    try {
      if (this.#state === "reconfigure") {
        this.#startFaultCheck();
        return { quality: "bad", reason: "restarting" };
      }
      regs = this.#readAll();
    } catch {
      this.#state = "reconfigure";
      return { quality: "bad", reason: "bus" };
    }
    const [config, msb, lsb] = regs;
    const status = regs[7] & FAULT_BITS;
    if (!this.#looksConfigured(regs)) {
      // All ones or all zeros: nothing drives MISO. Otherwise the chip lost its settings (power).
      const silent = regs.every((b) => b === 0xff) || regs.every((b) => b === 0);
      this.#state = "reconfigure";
      return { quality: "bad", reason: silent ? "bus" : "restarting" };
    }
    if (this.#state === "checking") {
      // The automatic lead check takes under a millisecond and samples are at least 100 ms apart:
      // a check still running, or conversions running during it, means the chip did not take it.
      if (config & (CONFIG.DETECT_MASK | CONFIG.AUTO)) return this.#restart();
      if (status) return this.#fault(status);
      try {
        this.#write(0, [this.#config | CONFIG.AUTO | CONFIG.FAULT_CLEAR]);
      } catch {
        this.#state = "reconfigure";
        return { quality: "bad", reason: "bus" };
      }
      this.#state = "running";
      const cause = this.#cause;
      const routine = this.#routineCheck;
      this.#cause = "";
      this.#routineCheck = false;
      if (cause) return { quality: "bad", reason: cause };
      // The first conversion takes about 60 ms: nothing to report from this sample.
      return { quality: "uncertain", reason: routine ? "lead-check" : "no-data" };
    }
    // Converting automatically, or the register holds a result that no longer changes.
    if ((config & (CONFIG.DETECT_MASK | CONFIG.AUTO)) !== CONFIG.AUTO) return this.#restart();
    if ((lsb & 1) || status) return this.#fault(status);
    // Samples are at least 100 ms apart, after the first conversion's 62.5 ms: this one is fresh.
    const code = (msb << 7) | (lsb >> 1);
    if (code === 0) return { quality: "uncertain", reason: "no-data" }; // no conversion has finished yet
    const resistance = max31865Resistance(code, this.#reference);
    const temperature = rtdTemperature(resistance, this.#r0);
    if (Number.isNaN(temperature)) return { quality: "bad", reason: "range", resistance };
    if (this.#leadCheckEvery > 0 && ++this.#sinceLeadCheck >= this.#leadCheckEvery) {
      // Checked between this sample and the next; this sample's conversion is already read.
      this.#sinceLeadCheck = 0;
      try {
        this.#startFaultCheck();
        this.#routineCheck = true;
      } catch {
        this.#state = "reconfigure";
      }
    }
    return { quality: "good", thermometer: { temperature }, resistance };
  }

  close(): void {
    this.#spi.close();
  }

  #restart(): Max31865Sample {
    this.#state = "reconfigure";
    return { quality: "bad", reason: "restarting" };
  }

  /**
   * Reports a fault, clears it, and runs the detection cycle so that the next sample says which lead
   * is at fault (or, when none is, resumes conversions).
   */
  #fault(status: number): Max31865Sample {
    const reason = status ? max31865FaultReason(status) : "fault";
    this.#cause = this.#state === "running" ? reason : "";
    try {
      this.#startFaultCheck();
    } catch {
      this.#state = "reconfigure";
    }
    return { quality: "bad", reason };
  }

  /**
   * Writes thresholds and configuration with automatic conversion off (the notch may only change
   * then) and starts the automatic fault-detection cycle: 100X010Xb.
   */
  #startFaultCheck(): void {
    this.#write(3, this.#thresholds);
    this.#write(0, [this.#config | CONFIG.FAULT_CLEAR]);
    this.#write(0, [this.#config | CONFIG.DETECT_AUTO]);
    this.#state = "checking";
  }

  #looksConfigured(regs: Uint8Array): boolean {
    const fixed = ~(CONFIG.AUTO | CONFIG.DETECT_MASK) & 0xff;
    if ((regs[0] & fixed) !== this.#config) return false;
    return regs.subarray(3, 7).every((b, i) => b === this.#thresholds[i]);
  }

  /** Registers 00h..07h in one transaction. */
  #readAll(): Uint8Array {
    const buffer = this.#registers;
    buffer.fill(0);
    spiTransaction(this.#spi, buffer);
    return buffer.subarray(1);
  }

  /** Writes values to register and the ones after it (the address auto-increments). */
  #write(register: number, values: ArrayLike<number>): void {
    const frame = new Uint8Array(values.length + 1);
    frame[0] = WRITE | register;
    frame.set(values, 1);
    spiTransaction(this.#spi, frame);
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}
