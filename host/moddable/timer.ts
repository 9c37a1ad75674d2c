// Moddable's timer module on Node: same call shapes, callbacks receive the timer. Timers run on the
// host's firmware clock (./clock.ts): each callback runs at its deadline, in order.

import "./runtime.ts";
import { firmwareClock, type ScheduledTimer } from "./clock.ts";

type Callback = (timer: Timer) => void;

export default class Timer implements ScheduledTimer {
  deadline = 0;
  repeat: number | undefined;
  #callback: Callback;
  private constructor(callback: Callback) {
    this.#callback = callback;
  }

  fire(): void {
    if (this.repeat === undefined || this.repeat <= 0) this.repeat = undefined;
    this.#callback(this);
  }

  /** Fires once after interval ms, then every repeat ms if repeat is given. */
  static set(callback: Callback, interval = 0, repeat?: number): Timer {
    const timer = new Timer(callback);
    timer.repeat = repeat;
    firmwareClock.arm(timer, interval);
    return timer;
  }

  static repeat(callback: Callback, interval: number): Timer {
    return Timer.set(callback, interval, interval);
  }

  static schedule(timer: Timer, interval?: number, repeat?: number): void {
    firmwareClock.disarm(timer);
    if (interval === undefined) return;
    timer.repeat = repeat;
    firmwareClock.arm(timer, interval);
  }

  static clear(timer: Timer | undefined | null): void {
    if (timer) firmwareClock.disarm(timer);
  }

  /** Blocks, as on the device. */
  static delay(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  }
}
