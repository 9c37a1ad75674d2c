// Moddable's timer module on Node: same call shapes, callbacks receive the timer.

import "./runtime.ts";

type Callback = (timer: Timer) => void;

export default class Timer {
  #handle: NodeJS.Timeout | undefined;
  #callback: Callback;
  private constructor(callback: Callback) {
    this.#callback = callback;
  }

  /** Fires once after interval ms, then every repeat ms if repeat is given. */
  static set(callback: Callback, interval = 0, repeat?: number): Timer {
    const timer = new Timer(callback);
    timer.#arm(interval, repeat);
    return timer;
  }

  static repeat(callback: Callback, interval: number): Timer {
    return Timer.set(callback, interval, interval);
  }

  static schedule(timer: Timer, interval?: number, repeat?: number): void {
    Timer.#cancel(timer);
    if (interval !== undefined) timer.#arm(interval, repeat);
  }

  static clear(timer: Timer | undefined | null): void {
    if (timer) Timer.#cancel(timer);
  }

  /** Blocks, as on the device. */
  static delay(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  }

  static #cancel(timer: Timer): void {
    if (timer.#handle) clearTimeout(timer.#handle);
    timer.#handle = undefined;
  }

  #arm(interval: number, repeat?: number): void {
    this.#handle = setTimeout(() => {
      if (repeat !== undefined && repeat > 0) this.#arm(repeat, repeat);
      else this.#handle = undefined;
      this.#callback(this);
    }, Math.max(0, interval));
  }
}
