// Moddable's time module on Node. ticks is a wrapping 32-bit millisecond counter, as on the device.

const start = performance.now();
let offsetSeconds = 0;

const Time = {
  get ticks(): number {
    return Math.floor(performance.now() - start) | 0;
  },
  delta(from: number, to?: number): number {
    return (((to ?? Time.ticks) - from) | 0) >>> 0;
  },
  /** The host clock is the system's; remember what the firmware set so tests can see it. */
  set(seconds: number): void {
    offsetSeconds = seconds - Date.now() / 1000;
  },
  get lastSetOffsetSeconds(): number {
    return offsetSeconds;
  },
  timezone: 0,
  dst: 0,
};

export default Time;
