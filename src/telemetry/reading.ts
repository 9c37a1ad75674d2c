// One sampling window's readings, and their compact binary form for the flash log.
// Pure: runs on XS unchanged.
//
// Binary form (version 1), little endian:
//   u8   record type 1
//   u48  timestamp, ms since the epoch
//   uleb present mask: bit n set = channel n has an entry
//   uleb not-good mask: bit n set = channel n's entry is a quality byte, not a value
//   per present channel, in channel order:
//     good:     sleb128 of round(value * 10^decimals)
//     not good: u8 quality (bits 7..6: 1 bad, 2 uncertain) | VALUE_FOLLOWS (bit 5) | reason code (bits 4..0),
//               then, if VALUE_FOLLOWS, the sleb128 value as for good (an uncertain sample that kept
//               its value, e.g. a BME280 outside its operating range). Records written before bit 5
//               was used never set it: reason codes stay below 32.

export type Quality = "good" | "bad" | "uncertain";

export interface ChannelSample {
  quality: Quality;
  reason?: string;
  /** The channel's value over its report window (mean, RMS or maximum: Channel.aggregate). */
  value?: number;
  /** Extremes over the window, when the channel's configuration asks for them. */
  min?: number;
  max?: number;
  /** Samples that entered the statistics, given when the window was not all good. */
  count?: number;
}

/** A channel: one quantity of one sensor, stored as a scaled integer. */
export interface Channel {
  sensor: string;
  quantity: string;
  unit: string;
  decimals: number;
  /** How a window of samples becomes one value: vibration RMS combines as RMS, a peak as the maximum. */
  aggregate: "mean" | "rms" | "max";
}

/**
 * Every channel the firmware can log, by channel number (the bit in the masks). Append only:
 * stored records refer to these numbers.
 */
export const CHANNELS: readonly Channel[] = [
  { sensor: "sht3x", quantity: "temperature", unit: "C", decimals: 2, aggregate: "mean" },
  { sensor: "sht3x", quantity: "humidity", unit: "%RH", decimals: 2, aggregate: "mean" },
  { sensor: "bme280", quantity: "pressure", unit: "Pa", decimals: 1, aggregate: "mean" },
  { sensor: "bme280", quantity: "temperature", unit: "C", decimals: 2, aggregate: "mean" },
  { sensor: "bme280", quantity: "humidity", unit: "%RH", decimals: 2, aggregate: "mean" },
  { sensor: "max31865", quantity: "temperature", unit: "C", decimals: 2, aggregate: "mean" },
  { sensor: "adxl345", quantity: "rms_x", unit: "m/s2", decimals: 3, aggregate: "rms" },
  { sensor: "adxl345", quantity: "rms_y", unit: "m/s2", decimals: 3, aggregate: "rms" },
  { sensor: "adxl345", quantity: "rms_z", unit: "m/s2", decimals: 3, aggregate: "rms" },
  { sensor: "adxl345", quantity: "peak", unit: "m/s2", decimals: 3, aggregate: "max" },
];

/** Reason codes stored in a quality byte. Append only. */
export const REASONS: readonly string[] = ["", "crc", "nack", "bus", "no-data", "restarting", "fault", "range", "stale", "absent",
  "overrun", "rtd-high", "rtd-low", "open-circuit", "force-open", "rtdin-low", "overvoltage", "lead-check", "driver"];

export interface Reading {
  seq: number;
  /** ms since the epoch (0 while only `sinceBoot` is known) */
  ts: number;
  /** Sampled before the clock was set: the boot and its monotonic ms, until converted to ts. */
  sinceBoot?: BootTime;
  /** ts was converted from a boot whose clock was never set: an estimate (docs/payload.md). */
  estimated?: boolean;
  /** channel number -> sample */
  channels: Map<number, ChannelSample>;
  /** Set instead of channels when a stored record could not be decoded. */
  undecodable?: string;
}

export function channelNumber(sensor: string, quantity: string): number {
  const n = CHANNELS.findIndex((c) => c.sensor === sensor && c.quantity === quantity);
  if (n < 0) throw new RangeError(`no channel for ${sensor}.${quantity}; add it to CHANNELS`);
  return n;
}

export class RecordFormatError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "RecordFormatError";
  constructor(message: string) {
    super(message);
  }
}

const RECORD_READINGS_V1 = 1;
const VALUE_FOLLOWS = 0x20;
const REASON_MASK = 0x1f;
const QUALITY_BITS: Record<Quality, number> = { good: 0, bad: 1, uncertain: 2 };

/** Little-endian bytes and LEB128 varints: the record encodings share it. */
export class ByteWriter {
  bytes = new Uint8Array(64);
  length = 0;
  u8(v: number): void {
    if (this.length === this.bytes.length) {
      const bigger = new Uint8Array(this.bytes.length * 2);
      bigger.set(this.bytes);
      this.bytes = bigger;
    }
    this.bytes[this.length++] = v;
  }
  uleb(v: number): void {
    do {
      const low = v % 128;
      v = Math.floor(v / 128);
      this.u8(v > 0 ? low | 0x80 : low);
    } while (v > 0);
  }
  sleb(v: number): void {
    this.uleb(v < 0 ? -2 * v - 1 : 2 * v); // zigzag, exact for |v| < 2^52
  }
}

export class ByteReader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}
  u8(): number {
    if (this.offset >= this.bytes.length) throw new RecordFormatError("record ends early");
    return this.bytes[this.offset++];
  }
  uleb(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new RecordFormatError("varint longer than 8 bytes");
  }
  sleb(): number {
    const z = this.uleb();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
}

/** A monotonic time within one boot: before the clock is set, the only time there is. */
export interface BootTime {
  boot: number;
  /** ms since that boot started (monotonic, never wraps: src/pipeline/time-base.ts) */
  ms: number;
}

/** When a record was sampled: ms since the epoch once the clock is set, else the boot's own time. */
export type RecordTime = number | BootTime;

export function writeTime(w: ByteWriter, time: RecordTime): void {
  if (typeof time === "number") {
    let t = Math.max(0, Math.floor(time));
    for (let i = 0; i < 6; i++) {
      w.u8(t % 256);
      t = Math.floor(t / 256);
    }
  } else {
    w.uleb(time.boot);
    w.uleb(Math.max(0, Math.floor(time.ms)));
  }
}

export function readTime(r: ByteReader, sinceBoot: boolean): RecordTime {
  if (sinceBoot) return { boot: r.uleb(), ms: r.uleb() };
  let ts = 0;
  for (let i = 0, scale = 1; i < 6; i++, scale *= 256) ts += r.u8() * scale;
  return ts;
}

/** Type 1: one sample per channel, the form stored before per-channel windows (still decoded). */
export function encodeReading(ts: number, channels: Map<number, ChannelSample>): Uint8Array {
  const w = new ByteWriter();
  w.u8(RECORD_READINGS_V1);
  let t = Math.max(0, Math.floor(ts));
  for (let i = 0; i < 6; i++) {
    w.u8(t % 256);
    t = Math.floor(t / 256);
  }
  const numbers = [...channels.keys()].sort((a, b) => a - b);
  let present = 0;
  let notGood = 0;
  for (const n of numbers) {
    if (!CHANNELS[n]) throw new RangeError(`unknown channel ${n}`);
    const s = channels.get(n)!;
    present += 2 ** n;
    if (s.quality !== "good" || s.value === undefined || !Number.isFinite(s.value)) notGood += 2 ** n;
    if (s.reason && REASONS.indexOf(s.reason) > REASON_MASK) throw new RangeError(`reason ${s.reason} has no code below 32`);
  }
  w.uleb(present);
  w.uleb(notGood);
  for (const n of numbers) {
    const s = channels.get(n)!;
    if (s.quality === "good" && s.value !== undefined && Number.isFinite(s.value)) {
      w.sleb(Math.round(s.value * 10 ** CHANNELS[n].decimals));
    } else {
      const reason = s.reason ? REASONS.indexOf(s.reason) : 0;
      const quality = s.quality === "good" ? QUALITY_BITS.bad : QUALITY_BITS[s.quality]; // a good sample without a value is bad
      const kept = s.quality === "uncertain" && s.value !== undefined && Number.isFinite(s.value);
      w.u8((quality << 6) | (kept ? VALUE_FOLLOWS : 0) | (reason > 0 ? reason : REASONS.indexOf(s.quality === "good" ? "range" : "fault")));
      if (kept) w.sleb(Math.round(s.value! * 10 ** CHANNELS[n].decimals));
    }
  }
  return w.bytes.slice(0, w.length);
}

/** Decodes a readings record of either form (type 1, or type 3 with statistics and boot time). */
export function decodeReading(seq: number, payload: Uint8Array): Reading {
  if (payload.length > 0 && payload[0] === RECORD_REPORT) return decodeReport(seq, payload);
  const r = new ByteReader(payload);
  const type = r.u8();
  if (type !== RECORD_READINGS_V1) throw new RecordFormatError(`record type ${type} is not a reading`);
  let ts = 0;
  for (let i = 0, scale = 1; i < 6; i++, scale *= 256) ts += r.u8() * scale;
  const present = r.uleb();
  const notGood = r.uleb();
  const channels = new Map<number, ChannelSample>();
  for (let n = 0, bit = 1; bit <= present; n++, bit *= 2) {
    if (Math.floor(present / bit) % 2 === 0) continue;
    const channel = CHANNELS[n];
    if (!channel) throw new RecordFormatError(`record names unknown channel ${n}`);
    if (Math.floor(notGood / bit) % 2 === 1) {
      const q = r.u8();
      const quality: Quality = q >> 6 === 2 ? "uncertain" : "bad";
      const sample: ChannelSample = { quality, reason: REASONS[q & REASON_MASK] || `code-${q & REASON_MASK}` };
      if (q & VALUE_FOLLOWS) sample.value = r.sleb() / 10 ** channel.decimals;
      channels.set(n, sample);
    } else {
      channels.set(n, { quality: "good", value: r.sleb() / 10 ** channel.decimals });
    }
  }
  if (r.offset !== payload.length) throw new RecordFormatError(`${payload.length - r.offset} bytes left over in record ${seq}`);
  return { seq, ts, channels };
}

// Record type 3: a report of per-channel windows, with statistics, dated by the clock or by the boot.
//   u8   record type 3
//   u8   flags: bit 0 set = time is boot-relative
//   time: u48 ms since the epoch, or uleb boot then uleb ms since that boot
//   uleb present mask (bit n = channel n reported)
//   per present channel, in channel order:
//     u8 head: bits 7..6 quality (0 good, 1 bad, 2 uncertain), bit 5 value, bit 4 min, bit 3 max, bit 2 count
//     u8 reason code (not good only); uleb count (if flagged); sleb value, min, max (each if flagged),
//     as round(x * 10^decimals)
export const RECORD_REPORT = 3;
const TIME_SINCE_BOOT = 1;
const HAS_VALUE = 0x20;
const HAS_MIN = 0x10;
const HAS_MAX = 0x08;
const HAS_COUNT = 0x04;

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export function encodeReport(time: RecordTime, channels: Map<number, ChannelSample>): Uint8Array {
  const w = new ByteWriter();
  w.u8(RECORD_REPORT);
  w.u8(typeof time === "number" ? 0 : TIME_SINCE_BOOT);
  writeTime(w, time);
  let present = 0;
  for (let n = 0; n < CHANNELS.length; n++) if (channels.has(n)) present += 2 ** n;
  for (const n of channels.keys()) if (!CHANNELS[n]) throw new RangeError(`unknown channel ${n}`);
  w.uleb(present);
  for (let n = 0; n < CHANNELS.length; n++) {
    const s = channels.get(n);
    if (!s) continue;
    const scale = 10 ** CHANNELS[n].decimals;
    // A good window without a value is bad; a bad one never keeps a value.
    const quality = s.quality === "good" && !finite(s.value) ? "bad" : s.quality;
    const keep = quality !== "bad";
    const count = quality !== "good" && s.count !== undefined && s.count >= 0;
    w.u8((QUALITY_BITS[quality] << 6) | (keep && finite(s.value) ? HAS_VALUE : 0) | (keep && finite(s.min) ? HAS_MIN : 0) |
      (keep && finite(s.max) ? HAS_MAX : 0) | (count ? HAS_COUNT : 0));
    if (quality !== "good") {
      const code = s.reason ? REASONS.indexOf(s.reason) : -1;
      if (code > 255) throw new RangeError(`reason ${s.reason} has no code below 256`);
      w.u8(code > 0 ? code : REASONS.indexOf(quality === "bad" && s.quality === "good" ? "range" : "fault"));
    }
    if (count) w.uleb(s.count!);
    if (keep && finite(s.value)) w.sleb(Math.round(s.value * scale));
    if (keep && finite(s.min)) w.sleb(Math.round(s.min * scale));
    if (keep && finite(s.max)) w.sleb(Math.round(s.max * scale));
  }
  return w.bytes.slice(0, w.length);
}

function decodeReport(seq: number, payload: Uint8Array): Reading {
  const r = new ByteReader(payload);
  r.u8();
  const flags = r.u8();
  if (flags & ~TIME_SINCE_BOOT) throw new RecordFormatError(`record ${seq} has unknown flags ${flags}`);
  const time = readTime(r, (flags & TIME_SINCE_BOOT) !== 0);
  const present = r.uleb();
  const channels = new Map<number, ChannelSample>();
  for (let n = 0, bit = 1; bit <= present; n++, bit *= 2) {
    if (Math.floor(present / bit) % 2 === 0) continue;
    const channel = CHANNELS[n];
    if (!channel) throw new RecordFormatError(`record names unknown channel ${n}`);
    const head = r.u8();
    const q = head >> 6;
    if (q === 3 || (head & 3) !== 0) throw new RecordFormatError(`record ${seq} has a bad channel head ${head}`);
    const sample: ChannelSample = { quality: q === 0 ? "good" : q === 1 ? "bad" : "uncertain" };
    if (q !== 0) {
      const code = r.u8();
      sample.reason = REASONS[code] || `code-${code}`;
    }
    if (head & HAS_COUNT) sample.count = r.uleb();
    const scale = 10 ** channel.decimals;
    if (head & HAS_VALUE) sample.value = r.sleb() / scale;
    if (head & HAS_MIN) sample.min = r.sleb() / scale;
    if (head & HAS_MAX) sample.max = r.sleb() / scale;
    channels.set(n, sample);
  }
  if (r.offset !== payload.length) throw new RecordFormatError(`${payload.length - r.offset} bytes left over in record ${seq}`);
  return typeof time === "number" ? { seq, ts: time, channels } : { seq, ts: 0, sinceBoot: time, channels };
}
