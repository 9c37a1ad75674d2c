// Register-level model of a Maxim MAX31865 RTD-to-digital converter on SPI (datasheet 19-6478 Rev 3):
// configuration, RTD data with its fault bit, fault thresholds, fault status; automatic and one-shot
// conversions with the 50/60 Hz filter's timing; the automatic fault-detection cycle; address
// auto-increment; SPI modes 1 and 3. The RTD's resistance is settable, and faults of the RTD and its
// wiring can be injected (datasheet tables 10-12).

import type { SPITarget } from "../spi-bus";
import { max31865Code } from "../../drivers/max31865/rtd";

export const MAX31865_REGISTERS = Object.freeze({ CONFIG: 0, RTD_MSB: 1, RTD_LSB: 2, HIGH_MSB: 3, HIGH_LSB: 4, LOW_MSB: 5, LOW_LSB: 6, FAULT: 7 });

/** Configuration register bits (datasheet table 2). */
export const MAX31865_CONFIG = Object.freeze({ VBIAS: 0x80, AUTO: 0x40, ONE_SHOT: 0x20, THREE_WIRE: 0x10, DETECT_MASK: 0x0c, DETECT_AUTO: 0x04, DETECT_MANUAL_1: 0x08, DETECT_MANUAL_2: 0x0c, FAULT_CLEAR: 0x02, FILTER_50HZ: 0x01 });

/** Fault status bits (datasheet table 7). */
export const MAX31865_FAULT = Object.freeze({ RTD_HIGH: 0x80, RTD_LOW: 0x40, REFIN_HIGH: 0x20, REFIN_LOW_FORCE_OPEN: 0x10, RTDIN_LOW_FORCE_OPEN: 0x08, OVER_UNDER_VOLTAGE: 0x04 });

export interface Max31865Faults {
  /** RTD element open: conversions read full scale; the detection cycle sees REFIN- > 0.85 VBIAS. */
  open: boolean;
  /** RTD element shorted: conversions read near zero. */
  short: boolean;
  /** FORCE- lead open: conversions look valid; only the detection cycle sees it. */
  forceOpen: boolean;
  /** An input above VDD or below GND1 (a miswired or induced voltage). */
  overvoltage: boolean;
}

/** Datasheet electrical characteristics: conversion times, ms. */
const AUTO_PERIOD_MS = { 50: 20, 60: 16.67 };
const ONE_SHOT_MS = { 50: 62.5, 60: 52 };
/** The automatic fault-detection cycle, with its inserted delays, takes well under a millisecond. */
const DETECTION_MS = 0.6;

export class SimMax31865 implements SPITarget {
  readonly modes = [1, 3];
  /** The RTD's resistance in ohms: fixed, or a function of time (ms) for a moving process. */
  resistance: number | ((atMs: number) => number) = 100;
  /** The reference resistor on the board, ohms. */
  referenceOhms: number;
  faults: Max31865Faults = { open: false, short: false, forceOpen: false, overvoltage: false };
  #now: () => number;
  #regs = new Uint8Array(8);
  #address = -1;
  #write = false;
  #filterHz: 50 | 60 = 60;
  /** When the next automatic conversion completes, or the one-shot / detection cycle ends. */
  #conversionDoneAt = -1;
  #detectionDoneAt = -1;

  constructor(options: { referenceOhms?: number; now?: () => number } = {}) {
    this.referenceOhms = options.referenceOhms ?? 430;
    this.#now = options.now ?? (() => Date.now());
    this.powerOnReset();
  }

  /** The notch the chip is filtering at (changes only outside automatic conversion mode). */
  get filterHz(): 50 | 60 {
    return this.#filterHz;
  }

  /** Power-on reset: configuration 00h, thresholds FFFFh/0000h, no data, no faults. */
  powerOnReset(): void {
    this.#regs.fill(0);
    this.#regs[MAX31865_REGISTERS.HIGH_MSB] = 0xff;
    this.#regs[MAX31865_REGISTERS.HIGH_LSB] = 0xff;
    this.#filterHz = 60;
    this.#conversionDoneAt = -1;
    this.#detectionDoneAt = -1;
  }

  select(): void {
    this.#address = -1;
    this.#update();
  }

  exchange(mosi: number): number {
    if (this.#address < 0) {
      // Address byte: A7 set for a write, A6..A0 the register.
      this.#write = (mosi & 0x80) !== 0;
      this.#address = mosi & 0x7f;
      return 0xff;
    }
    const register = this.#address;
    this.#address = (this.#address + 1) & 0x7f; // auto-increment through 7Fh, then 00h
    if (this.#write) {
      if (register <= MAX31865_REGISTERS.FAULT) this.#writeRegister(register, mosi);
      return 0xff;
    }
    return register <= MAX31865_REGISTERS.FAULT ? this.#regs[register] : 0xff; // nothing behind 08h..7Fh
  }

  deselect(): void {
    this.#address = -1;
  }

  #writeRegister(register: number, value: number): void {
    const R = MAX31865_REGISTERS;
    const C = MAX31865_CONFIG;
    if (register === R.RTD_MSB || register === R.RTD_LSB || register === R.FAULT) return; // read only
    if (register !== R.CONFIG) {
      this.#regs[register] = value;
      return;
    }
    const was = this.#regs[R.CONFIG];
    // Fault clear works only with D5, D3 and D2 written 0 (datasheet, configuration register D1).
    if (value & C.FAULT_CLEAR && !(value & (C.ONE_SHOT | C.DETECT_MASK))) {
      this.#regs[R.FAULT] = 0;
      this.#regs[R.RTD_LSB] &= 0xfe;
    }
    // The notch follows D0 only while not converting automatically (datasheet: do not change it then).
    if (!(was & C.AUTO) || !(value & C.AUTO)) this.#filterHz = value & C.FILTER_50HZ ? 50 : 60;
    let stored = value & ~(C.FAULT_CLEAR | C.ONE_SHOT); // both self-clear
    const now = this.#now();
    const detect = value & C.DETECT_MASK;
    if (detect && (value & C.VBIAS) && !(value & C.AUTO)) {
      this.#detectionDoneAt = detect === C.DETECT_MANUAL_1 ? Infinity : now + DETECTION_MS;
    } else stored &= ~C.DETECT_MASK;
    if ((value & C.AUTO) && !(was & C.AUTO)) this.#conversionDoneAt = now + ONE_SHOT_MS[this.#filterHz]; // the first takes a one-shot's time
    else if (!(value & C.AUTO) && (value & C.ONE_SHOT) && (value & C.VBIAS)) this.#conversionDoneAt = now + ONE_SHOT_MS[this.#filterHz];
    else if (!(value & C.AUTO)) this.#conversionDoneAt = -1;
    this.#regs[R.CONFIG] = stored;
  }

  /** Completes whatever conversions and detection cycles have had time to finish. */
  #update(): void {
    const R = MAX31865_REGISTERS;
    const C = MAX31865_CONFIG;
    const now = this.#now();
    const config = this.#regs[R.CONFIG];
    if (this.faults.overvoltage) this.#regs[R.FAULT] |= MAX31865_FAULT.OVER_UNDER_VOLTAGE;
    if (this.#detectionDoneAt >= 0 && now >= this.#detectionDoneAt) {
      this.#detectionDoneAt = -1;
      this.#regs[R.CONFIG] = config & ~C.DETECT_MASK;
      if (this.faults.open) this.#regs[R.FAULT] |= MAX31865_FAULT.REFIN_HIGH;
      if (this.faults.forceOpen) this.#regs[R.FAULT] |= MAX31865_FAULT.REFIN_LOW_FORCE_OPEN | MAX31865_FAULT.RTDIN_LOW_FORCE_OPEN;
    }
    if (this.#conversionDoneAt >= 0 && now >= this.#conversionDoneAt) {
      if (config & C.AUTO) {
        const period = AUTO_PERIOD_MS[this.#filterHz];
        this.#conversionDoneAt += Math.floor((now - this.#conversionDoneAt) / period + 1) * period;
      } else this.#conversionDoneAt = -1;
      if (config & C.VBIAS) this.#convert(now);
    }
  }

  #convert(now: number): void {
    const R = MAX31865_REGISTERS;
    const ohms = typeof this.resistance === "function" ? this.resistance(now) : this.resistance;
    const code = this.faults.open ? 0x7fff : this.faults.short ? 3 : max31865Code(ohms, this.referenceOhms);
    const high = ((this.#regs[R.HIGH_MSB] << 8) | this.#regs[R.HIGH_LSB]) >> 1;
    const low = ((this.#regs[R.LOW_MSB] << 8) | this.#regs[R.LOW_LSB]) >> 1;
    // Threshold faults latch; the RTD register's fault bit shows any latched fault.
    if (code >= high) this.#regs[R.FAULT] |= MAX31865_FAULT.RTD_HIGH;
    if (code <= low) this.#regs[R.FAULT] |= MAX31865_FAULT.RTD_LOW;
    const word = (code << 1) | (this.#regs[R.FAULT] ? 1 : 0);
    this.#regs[R.RTD_MSB] = word >> 8;
    this.#regs[R.RTD_LSB] = word & 0xff;
  }
}
