// Which channels the node reports, how often, with which statistics, and when a steady value may stay
// quiet (deadband, up to a maximum silent interval). Together with the alarm limits it is one
// validated, frozen object that a later change (the shadow) replaces whole. Pure: runs on XS.

import { CHANNELS, channelNumber } from "../telemetry/reading";
import { AlarmConfigError, DEFAULT_ALARMS, parseAlarmConfig, type AlarmConfig } from "./alarms";

export interface ChannelReporting {
  /** Window length: a whole number of sample periods. */
  readonly intervalMs: number;
  /** Report the window's extremes beside its value. */
  readonly min: boolean;
  readonly max: boolean;
  /** A window within this much of the last reported value (absolute, or percent of it) is not sent... */
  readonly deadband: number;
  readonly deadbandPct: number;
  /** ...unless nothing was sent for this long. 0: every window is sent. */
  readonly maxSilentMs: number;
}

export interface PipelineConfig {
  /** Channel number -> how it is reported; channels not listed are sampled (for alarms) but not sent. */
  readonly channels: ReadonlyMap<number, ChannelReporting>;
  readonly alarms: AlarmConfig;
}

export class PipelineConfigError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "PipelineConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid pipeline configuration: ${problems.join("; ")}`);
  }
}

/** The reference device (docs/workload.md): every quantity it names, one window per sample (1 s), all sent. */
export const DEFAULT_CHANNELS = {
  "sht3x.temperature": {},
  "sht3x.humidity": {},
  "bme280.pressure": {},
  "max31865.temperature": {},
  "adxl345.rms_x": {},
  "adxl345.rms_y": {},
  "adxl345.rms_z": {},
  "adxl345.peak": {},
};

const KEYS = ["interval_s", "stats", "deadband", "deadband_pct", "max_silent_s"];
const STATS = ["min", "max"];
const MAX_INTERVAL_S = 86_400;

/**
 * Validates {channels, alarms} as a whole (sampleMs: the sampling period, sensors: those the node
 * has); every problem is named with its field, and nothing is returned unless all of it is valid.
 */
export function parsePipelineConfig(raw: { channels?: unknown; alarms?: unknown }, sampleMs: number, sensors: readonly string[]): PipelineConfig {
  const problems: string[] = [];
  const channels = new Map<number, ChannelReporting>();
  // The defaults name the reference device's sensors: a node with fewer keeps those it has.
  const rawChannels = raw.channels ?? ofSensors(DEFAULT_CHANNELS, sensors);
  if (typeof rawChannels !== "object" || rawChannels === null || Array.isArray(rawChannels)) {
    problems.push("channels must be an object of sensor.quantity -> settings");
  } else {
    for (const key of Object.keys(rawChannels)) {
      const n = channelOf(key);
      if (n < 0) problems.push(`channels.${key}: not a channel (sensor.quantity, e.g. max31865.temperature)`);
      else if (!sensors.includes(CHANNELS[n].sensor)) problems.push(`channels.${key}: sensor ${CHANNELS[n].sensor} is not in sensors`);
      else {
        const settings = reporting(`channels.${key}`, (rawChannels as Record<string, unknown>)[key], sampleMs, problems);
        if (settings) channels.set(n, shared(channels, settings));
      }
    }
  }
  let alarms: AlarmConfig | undefined;
  try {
    alarms = parseAlarmConfig(raw.alarms ?? ofSensors(DEFAULT_ALARMS, sensors));
    for (const n of alarms.channels.keys())
      if (!sensors.includes(CHANNELS[n].sensor)) problems.push(`alarms.${CHANNELS[n].sensor}.${CHANNELS[n].quantity}: sensor ${CHANNELS[n].sensor} is not in sensors`);
  } catch (error) {
    if (!(error instanceof AlarmConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !alarms) throw new PipelineConfigError(problems);
  return Object.freeze({ channels, alarms });
}

/**
 * The settings frozen, or an equal frozen object already in `channels`: channels set alike share one
 * object (the reference device's eight are all alike). Every user compares the fields, never the
 * objects, and each object takes seven of an ESP32 board's 4,928 XS slots.
 */
function shared(channels: ReadonlyMap<number, ChannelReporting>, settings: ChannelReporting): ChannelReporting {
  for (const other of channels.values())
    if (other.intervalMs === settings.intervalMs && other.min === settings.min && other.max === settings.max && other.deadband === settings.deadband
      && other.deadbandPct === settings.deadbandPct && other.maxSilentMs === settings.maxSilentMs) return other;
  return Object.freeze(settings);
}

/** The entries of a default object whose "sensor." keys name one of the sensors (other keys kept). */
function ofSensors(defaults: Record<string, unknown>, sensors: readonly string[]): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const key of Object.keys(defaults)) {
    const dot = key.indexOf(".");
    if (dot < 0 || sensors.includes(key.slice(0, dot))) kept[key] = defaults[key];
  }
  return kept;
}

function channelOf(key: string): number {
  const dot = key.indexOf(".");
  if (dot <= 0) return -1;
  try {
    return channelNumber(key.slice(0, dot), key.slice(dot + 1));
  } catch {
    return -1;
  }
}

function reporting(where: string, raw: unknown, sampleMs: number, problems: string[]): ChannelReporting | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${where} must be an object (e.g. {"interval_s": 1})`);
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) problems.push(`${where}.${k}: unknown key (allowed: ${KEYS.join(", ")})`);
  const number = (k: string, min: number, max: number, fallback: number): number => {
    const v = o[k] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      problems.push(`${where}.${k} must be a number in ${min}..${max} (got ${JSON.stringify(o[k])})`);
      return fallback;
    }
    return v;
  };
  const intervalS = number("interval_s", sampleMs / 1000, MAX_INTERVAL_S, sampleMs / 1000);
  const intervalMs = Math.round(intervalS * 1000);
  if (intervalMs % sampleMs !== 0) problems.push(`${where}.interval_s must be a whole number of sample periods (${sampleMs} ms; got ${intervalS})`);
  const stats = o.stats ?? [];
  if (!Array.isArray(stats) || stats.some((s) => !STATS.includes(s)) || new Set(stats).size !== stats.length)
    problems.push(`${where}.stats must be a list of distinct names from ${STATS.join(", ")} (got ${JSON.stringify(o.stats)})`);
  const deadband = number("deadband", 0, 1e9, 0);
  const deadbandPct = number("deadband_pct", 0, 100, 0);
  const banded = deadband > 0 || deadbandPct > 0;
  // A deadband without a ceiling on silence would make a stuck value look like a dead node.
  const maxSilentS = number("max_silent_s", intervalS, MAX_INTERVAL_S, banded ? Math.max(60, intervalS) : intervalS);
  if (o.max_silent_s !== undefined && !banded) problems.push(`${where}.max_silent_s needs a deadband or deadband_pct (without one every window is sent)`);
  if (problems.length > before) return undefined;
  const list = stats as string[];
  return { intervalMs, min: list.includes("min"), max: list.includes("max"), deadband, deadbandPct, maxSilentMs: banded ? Math.round(maxSilentS * 1000) : 0 };
}
