// The SDK's "time" module on Node. The host target runs on the host's clock, which it cannot set:
// Time.set refuses rather than pretend (the firmware asks SNTP only while the clock is before 2025).

import { firmwareClock } from "./clock";

export default class Time {
  static set(_seconds: number): void {
    throw new Error("the host target runs on the host's clock and cannot set it");
  }

  /** Milliseconds on the firmware clock (the one its timers run on), wrapping at 2^32 as on the device. */
  static get ticks(): number {
    return Math.floor(firmwareClock.now()) % 2 ** 32;
  }
}
