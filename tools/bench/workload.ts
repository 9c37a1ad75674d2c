// The reference device of docs/workload.md (press-7) as sampling windows: SHT3x temperature and
// humidity, BME280 pressure, MAX31865 process temperature, ADXL345 RMS x/y/z and peak, every second.
// Pure, so the same windows are measured on Node and on XS.

import { channelNumber, type ChannelSample } from "../../src/telemetry/reading";

const CHANNELS = [
  ["sht3x", "temperature", 23.4, 0.8],
  ["sht3x", "humidity", 45.6, 4],
  ["bme280", "pressure", 101_325, 120],
  ["max31865", "temperature", 78.2, 6],
  ["adxl345", "rms_x", 0.42, 0.1],
  ["adxl345", "rms_y", 0.37, 0.1],
  ["adxl345", "rms_z", 9.81, 0.05],
  ["adxl345", "peak", 1.9, 0.6],
] as const;

const numbers = CHANNELS.map(([sensor, quantity]) => channelNumber(sensor, quantity));

/** The window sampled at second t: slow drifts plus noise, deterministic in t. */
export function referenceWindow(t: number): Map<number, ChannelSample> {
  const window = new Map<number, ChannelSample>();
  CHANNELS.forEach(([, , base, swing], i) => {
    const noise = Math.sin(t * 12.9898 + i * 78.233) * 43758.5453;
    const value = base + swing * Math.sin((2 * Math.PI * t) / 3600 + i) + (swing / 10) * (noise - Math.floor(noise) - 0.5);
    window.set(numbers[i], { quality: "good", value });
  });
  return window;
}

export const REFERENCE_CHANNELS = CHANNELS.length;
/** Sampling period and batch flush period of the reference device. */
export const WINDOW_MS = 1000;
export const FLUSH_WINDOWS = 5;
