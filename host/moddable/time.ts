// The SDK's "time" module on Node. The host target runs on the host's clock, which it cannot set:
// Time.set refuses rather than pretend (the firmware asks SNTP only while the clock is before 2025).

import { performance } from "node:perf_hooks";

export default class Time {
  static set(_seconds: number): void {
    throw new Error("the host target runs on the host's clock and cannot set it");
  }

  /** Milliseconds from an arbitrary start, wrapping at 2^32 as on the device. */
  static get ticks(): number {
    return Math.floor(performance.now()) % 2 ** 32;
  }
}
