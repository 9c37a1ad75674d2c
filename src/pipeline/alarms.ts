// Alarms on the device: limits with hysteresis and delays per channel, evaluated on every sample so
// an alarm leaves within a second, and a sensor-fault alarm for a channel that stays bad or absent
// (a dead sensor must not look like a quiet process). Pure: runs on XS unchanged.

import { CHANNELS, channelNumber, type BootTime } from "../telemetry/reading";

export type AlarmKind = "high" | "low" | "sensor-fault";
export type AlarmState = "raised" | "cleared";

export interface AlarmEvent {
  channel: number;
  kind: AlarmKind;
  state: AlarmState;
  /** The sample that decided it (none for a sensor fault raised without a value). */
  value?: number;
  /** The limit crossed: high or low when raised, clear_high or clear_low when cleared. */
  limit?: number;
  /** When it happened: the monitor's clock (monotonic ms); ms since the epoch once stored and read back. */
  ts: number;
  /** Stored before the clock was set: the boot and its ms (ts is 0 until converted). */
  sinceBoot?: BootTime;
  /** ts converted from a boot whose clock was never set. */
  estimated?: boolean;
}

export interface ChannelLimits {
  /** Raised above high, cleared below clear_high (below high). */
  high?: number;
  clearHigh?: number;
  /** Raised below low, cleared above clear_low (above low). */
  low?: number;
  clearLow?: number;
  /** Beyond the limit this long before raising; back inside this long before clearing. */
  onDelayMs: number;
  offDelayMs: number;
}

export interface AlarmConfig {
  /** Channel number -> limits. */
  readonly channels: ReadonlyMap<number, Readonly<ChannelLimits>>;
  /** A channel bad or absent this long raises sensor-fault. */
  readonly faultAfterMs: number;
}

export class AlarmConfigError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "AlarmConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid alarm configuration: ${problems.join("; ")}`);
  }
}

/**
 * The reference device: process temperature (MAX31865) above 85 C, cleared below 83 C; vibration
 * RMS above 8 m/s^2 on any axis, cleared below 7 (ISO 10816 puts 7.1 mm/s, about 4.5 m/s^2 at
 * 100 Hz, at the edge of "unsatisfactory" for medium machines: 8 m/s^2 is well into damage).
 */
export const DEFAULT_ALARMS = {
  fault_after_s: 30,
  "max31865.temperature": { high: 85, clear_high: 83 },
  "adxl345.rms_x": { high: 8, clear_high: 7 },
  "adxl345.rms_y": { high: 8, clear_high: 7 },
  "adxl345.rms_z": { high: 8, clear_high: 7 },
};

const LIMIT_KEYS = ["high", "clear_high", "low", "clear_low", "on_delay_s", "off_delay_s"];

/** The alarm settings as one validated object; every problem is named at once and nothing is half-applied. */
export function parseAlarmConfig(raw: unknown): AlarmConfig {
  const problems: string[] = [];
  const channels = new Map<number, ChannelLimits>();
  let faultAfterMs = 30_000;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new AlarmConfigError(["alarms must be an object"]);
  for (const key of Object.keys(raw)) {
    const value = (raw as Record<string, unknown>)[key];
    if (key === "fault_after_s") {
      if (typeof value !== "number" || !(value >= 1 && value <= 86_400)) problems.push(`alarms.fault_after_s must be a number of seconds in 1..86400 (got ${JSON.stringify(value)})`);
      else faultAfterMs = value * 1000;
      continue;
    }
    const dot = key.indexOf(".");
    let n = -1;
    if (dot > 0) {
      try {
        n = channelNumber(key.slice(0, dot), key.slice(dot + 1));
      } catch {
        n = -1;
      }
    }
    if (n < 0) {
      problems.push(`alarms.${key}: not a channel (sensor.quantity, e.g. max31865.temperature)`);
      continue;
    }
    const limits = channelLimits(`alarms.${key}`, value, problems);
    if (limits) channels.set(n, sharedLimits(channels, limits));
  }
  if (problems.length > 0) throw new AlarmConfigError(problems);
  return Object.freeze({ channels, faultAfterMs });
}

/**
 * The limits frozen, or equal frozen limits already in `channels`: channels with the same limits (the
 * reference device's three vibration axes) share one object. Every user compares the fields, never
 * the objects, and each object takes seven of an ESP32 board's 4,928 XS slots.
 */
function sharedLimits(channels: ReadonlyMap<number, Readonly<ChannelLimits>>, limits: ChannelLimits): Readonly<ChannelLimits> {
  for (const other of channels.values())
    if (other.high === limits.high && other.clearHigh === limits.clearHigh && other.low === limits.low && other.clearLow === limits.clearLow
      && other.onDelayMs === limits.onDelayMs && other.offDelayMs === limits.offDelayMs) return other;
  return Object.freeze(limits);
}

function channelLimits(where: string, raw: unknown, problems: string[]): ChannelLimits | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${where} must be an object with high/clear_high and/or low/clear_low`);
    return undefined;
  }
  const o = raw as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(o)) if (!LIMIT_KEYS.includes(k)) problems.push(`${where}.${k}: unknown key (allowed: ${LIMIT_KEYS.join(", ")})`);
  const number = (k: string): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      problems.push(`${where}.${k} must be a number (got ${JSON.stringify(v)})`);
      return undefined;
    }
    return v;
  };
  const delay = (k: string): number => {
    const v = number(k) ?? 0;
    if (v < 0 || v > 86_400) problems.push(`${where}.${k} must be in 0..86400 seconds`);
    return v * 1000;
  };
  const limits: ChannelLimits = {
    high: number("high"), clearHigh: number("clear_high"), low: number("low"), clearLow: number("clear_low"),
    onDelayMs: delay("on_delay_s"), offDelayMs: delay("off_delay_s"),
  };
  const { high, clearHigh, low, clearLow } = limits;
  if (high === undefined && low === undefined) problems.push(`${where} needs high or low`);
  if ((high === undefined) !== (clearHigh === undefined)) problems.push(`${where}: high and clear_high go together`);
  if ((low === undefined) !== (clearLow === undefined)) problems.push(`${where}: low and clear_low go together`);
  if (high !== undefined && clearHigh !== undefined && !(clearHigh < high)) problems.push(`${where}.clear_high must be below high`);
  if (low !== undefined && clearLow !== undefined && !(clearLow > low)) problems.push(`${where}.clear_low must be above low`);
  if (high !== undefined && low !== undefined && clearHigh !== undefined && clearLow !== undefined && !(clearLow < clearHigh))
    problems.push(`${where}: clear_low must be below clear_high`);
  return problems.length === before ? limits : undefined;
}

// Every watched channel's alarm state lives in two typed arrays indexed by channel number, not in an
// object per channel (with two more per limit): on an ESP32 board's 4,928 XS slots eight such states
// took about 240 slots (npm run bench -- memory), while typed arrays are chunk memory.
/** Bits of a channel's flags. */
const WATCHED = 1;
const HIGH_RAISED = 2;
const LOW_RAISED = 4;
const FAULTED = 8;
const RAISED = HIGH_RAISED | LOW_RAISED | FAULTED;
/** A channel's three times (-1: none): since when the sample has been past the threshold that would change each side, and since when it has been bad. */
const HIGH_PENDING = 0;
const LOW_PENDING = 1;
const BAD_SINCE = 2;
const TIMES = 3;

/**
 * The alarm state of one channel. update() takes every sample and returns at most one event. A bad
 * sample changes neither limit (it says nothing about the process); only the fault timer runs.
 * (A monitor that watches that channel alone.)
 */
export class ChannelAlarm {
  readonly #channel: number;
  readonly #monitor: AlarmMonitor;

  constructor(channel: number, limits: Readonly<ChannelLimits> | undefined, faultAfterMs: number) {
    this.#channel = channel;
    const channels = new Map<number, Readonly<ChannelLimits>>();
    if (limits) channels.set(channel, limits);
    this.#monitor = new AlarmMonitor({ channels, faultAfterMs }, [channel]);
  }

  get raised(): boolean {
    return this.#monitor.raised().length > 0;
  }

  update(good: boolean, value: number | undefined, now: number): AlarmEvent | undefined {
    return this.#monitor.update(this.#channel, good, value, now);
  }
}

function sameSide(a: Readonly<ChannelLimits> | undefined, b: Readonly<ChannelLimits> | undefined, side: "high" | "low"): boolean {
  if (!a || !b) return false;
  return side === "high"
    ? a.high === b.high && a.clearHigh === b.clearHigh && a.onDelayMs === b.onDelayMs && a.offDelayMs === b.offDelayMs
    : a.low === b.low && a.clearLow === b.clearLow && a.onDelayMs === b.onDelayMs && a.offDelayMs === b.offDelayMs;
}

/**
 * The watched channels' alarm states (every channel unless told which: those reported or with limits);
 * a watched channel without limits still gets its sensor-fault alarm. Samples of other channels are ignored.
 */
export class AlarmMonitor {
  /** Channel number -> its limits (undefined: none). */
  #limits: (Readonly<ChannelLimits> | undefined)[] = [];
  #faultAfterMs: number;
  readonly #flags = new Uint8Array(CHANNELS.length);
  readonly #times = new Float64Array(CHANNELS.length * TIMES).fill(-1);

  constructor(config: AlarmConfig, watched?: readonly number[]) {
    this.#faultAfterMs = config.faultAfterMs;
    for (let n = 0; n < CHANNELS.length; n++) {
      this.#limits.push(config.channels.get(n));
      if (!watched || watched.includes(n)) this.#flags[n] = WATCHED;
    }
  }

  /**
   * New limits and watched channels, keeping what is raised where its limit remains; returns the
   * clears for alarms whose limit or channel went away (stored and sent like any other).
   */
  reconfigure(config: AlarmConfig, watched: readonly number[] | undefined, now: number): AlarmEvent[] {
    const events: AlarmEvent[] = [];
    const flags = this.#flags;
    const times = this.#times;
    const limits: (Readonly<ChannelLimits> | undefined)[] = [];
    for (let n = 0; n < CHANNELS.length; n++) {
      const before = flags[n];
      const was = (before & WATCHED) !== 0;
      const next = !watched || watched.includes(n);
      const old = this.#limits[n];
      const l = config.channels.get(n);
      limits.push(l);
      const t = n * TIMES;
      if (was && next) {
        // The fault timer and a raised sensor-fault carry over as they are.
        let after = WATCHED | (before & FAULTED);
        // A delay under way goes on where that side's limits did not change (repeated changes elsewhere must not hold an alarm off).
        if (!sameSide(l, old, "high")) times[t + HIGH_PENDING] = -1;
        if (!sameSide(l, old, "low")) times[t + LOW_PENDING] = -1;
        // An alarm stays raised while its limit still exists; one whose limit is gone is cleared.
        if (before & HIGH_RAISED) {
          if (l?.high !== undefined) after |= HIGH_RAISED;
          else events.push({ channel: n, kind: "high", state: "cleared", ts: now });
        }
        if (before & LOW_RAISED) {
          if (l?.low !== undefined) after |= LOW_RAISED;
          else events.push({ channel: n, kind: "low", state: "cleared", ts: now });
        }
        flags[n] = after;
        continue;
      }
      if (was) {
        // No longer watched: whatever is raised is cleared.
        if (before & HIGH_RAISED) events.push({ channel: n, kind: "high", state: "cleared", ts: now });
        if (before & LOW_RAISED) events.push({ channel: n, kind: "low", state: "cleared", ts: now });
        if (before & FAULTED) events.push({ channel: n, kind: "sensor-fault", state: "cleared", ts: now });
      }
      flags[n] = next ? WATCHED : 0;
      times[t + HIGH_PENDING] = times[t + LOW_PENDING] = times[t + BAD_SINCE] = -1;
    }
    this.#limits = limits;
    this.#faultAfterMs = config.faultAfterMs;
    return events;
  }

  /** The channel's sample: good with its value, or not good (bad, absent, uncertain without a value). */
  update(channel: number, good: boolean, value: number | undefined, now: number): AlarmEvent | undefined {
    const flags = this.#flags[channel];
    if (!(flags & WATCHED)) return undefined;
    const t = channel * TIMES;
    const times = this.#times;
    if (!good || value === undefined) {
      if (times[t + BAD_SINCE] < 0) times[t + BAD_SINCE] = now;
      if (!(flags & FAULTED) && now - times[t + BAD_SINCE] >= this.#faultAfterMs) {
        this.#flags[channel] = flags | FAULTED;
        return { channel, kind: "sensor-fault", state: "raised", ts: now };
      }
      return undefined;
    }
    times[t + BAD_SINCE] = -1;
    if (flags & FAULTED) {
      this.#flags[channel] = flags & ~FAULTED;
      return { channel, kind: "sensor-fault", state: "cleared", value, ts: now };
    }
    const l = this.#limits[channel];
    if (!l) return undefined;
    if (l.high !== undefined) {
      const e = this.#side(channel, HIGH_RAISED, t + HIGH_PENDING, "high", value > l.high, value < l.clearHigh!, l.high, l.clearHigh!, l, value, now);
      if (e) return e;
    }
    if (l.low !== undefined) return this.#side(channel, LOW_RAISED, t + LOW_PENDING, "low", value < l.low, value > l.clearLow!, l.low, l.clearLow!, l, value, now);
    return undefined;
  }

  #side(channel: number, bit: number, pending: number, kind: "high" | "low", beyond: boolean, inside: boolean, limit: number, clear: number, l: Readonly<ChannelLimits>, value: number, now: number): AlarmEvent | undefined {
    const times = this.#times;
    const raised = (this.#flags[channel] & bit) !== 0;
    // Between the limit and its clear value nothing changes: the hysteresis band.
    const moving = raised ? inside : beyond;
    if (!moving) {
      times[pending] = -1;
      return undefined;
    }
    if (times[pending] < 0) times[pending] = now;
    if (now - times[pending] < (raised ? l.offDelayMs : l.onDelayMs)) return undefined;
    this.#flags[channel] ^= bit;
    times[pending] = -1;
    return { channel, kind, state: raised ? "cleared" : "raised", value, limit: raised ? clear : limit, ts: now };
  }

  /** Channels whose alarm is raised now. */
  raised(): number[] {
    const out: number[] = [];
    for (let n = 0; n < CHANNELS.length; n++) if (this.#flags[n] & RAISED) out.push(n);
    return out;
  }
}
