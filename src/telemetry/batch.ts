// The JSON batches that carry readings to the broker. Each reading has the flash log's sequence
// number, which rises across restarts, so (device, seq) lets a sink drop duplicates exactly.
// Pure: runs on XS unchanged.

import { utf8Encode, utf8EncodeInto, utf8Length } from "../util/utf8";
import { CHANNELS, type ChannelSample, type Reading } from "./reading";
import type { AlarmEvent } from "../pipeline/alarms";

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  count: number;
  payload: Uint8Array;
}


/** Each sensor's channels, in the order of its first channel; built once, read-only (preloaded in flash). */
const SENSOR_GROUPS: readonly { sensor: string; opener: string; channels: readonly number[] }[] = (() => {
  const groups: { sensor: string; opener: string; channels: number[] }[] = [];
  const index = new Map<string, number>();
  CHANNELS.forEach((channel, n) => {
    let g = index.get(channel.sensor);
    if (g === undefined) {
      index.set(channel.sensor, (g = groups.length));
      groups.push({ sensor: channel.sensor, opener: `,${JSON.stringify(channel.sensor)}:`, channels: [] });
    }
    groups[g].channels.push(n);
  });
  return groups;
})();

function addColumns(this: [number, number, number], s: ChannelSample, n: number): void {
  this[VALUE] |= 1 << n; // a bad window still has its column, holding null
  if (s.min !== undefined) this[MIN] |= 1 << n;
  if (s.max !== undefined) this[MAX] |= 1 << n;
}

/** A statistic's column: the window's value, or its extremes. */
const VALUE = 0;
const MIN = 1;
const MAX = 2;
const STAT_SUFFIX = ["", "_min", "_max"];

/**
 * The columns a batch carries, as three channel bit masks (value, min, max). Its JSON is the batch's
 * "channels" legend: {"sht3x":["temperature","humidity"],"max31865":["temperature","temperature_max"]}.
 */
export class Legend {
  readonly masks: readonly [number, number, number];
  /** Per sensor group (SENSOR_GROUPS order): its columns as [channel, stat] pairs, flattened. */
  readonly #columns: number[][];
  readonly json: string;

  constructor(masks: readonly [number, number, number]) {
    this.masks = masks;
    this.#columns = [];
    const parts: string[] = [];
    for (const group of SENSOR_GROUPS) {
      const columns: number[] = [];
      const names: string[] = [];
      for (const n of group.channels)
        for (let stat = VALUE; stat <= MAX; stat++)
          if (masks[stat] & (1 << n)) {
            columns.push(n, stat);
            names.push(JSON.stringify(CHANNELS[n].quantity + STAT_SUFFIX[stat]));
          }
      this.#columns.push(columns);
      if (names.length > 0) parts.push(`${JSON.stringify(group.sensor)}:[${names.join(",")}]`);
    }
    this.json = `{${parts.join(",")}}`;
  }

  /** The columns a reading fills. */
  static of(r: Reading): [number, number, number] {
    const masks: [number, number, number] = [0, 0, 0];
    // forEach with the masks as `this`, not for-of: on XS an iterator and an entry array per channel
    // were ~90 slots of garbage per reading (every reading of a replay goes through here).
    r.channels.forEach(addColumns, masks);
    return masks;
  }

  covers(masks: readonly [number, number, number]): boolean {
    return (masks[0] & ~this.masks[0]) === 0 && (masks[1] & ~this.masks[1]) === 0 && (masks[2] & ~this.masks[2]) === 0;
  }

  union(masks: readonly [number, number, number]): Legend {
    return new Legend([this.masks[0] | masks[0], this.masks[1] | masks[1], this.masks[2] | masks[2]]);
  }

  /** A group's columns, [channel, stat, channel, stat, ...]. */
  columns(group: number): readonly number[] {
    return this.#columns[group];
  }
}

/**
 * {"seq":7,"ts":...,"sht3x":[21.5,40.1],"bme280":{"v":[null],"quality":"bad","reason":"crc"}}: each
 * sensor's values in the legend's column order (null where a channel has none in this reading); a
 * sensor with any window not good is an object with its worst quality, that window's reason and, for
 * uncertain, the count of samples in its statistics ("n"). Written with index loops and precomputed
 * keys: during a replay this runs hundreds of times a second.
 */
export function readingJson(r: Reading, legend: Legend): string {
  let json = `{"seq":${r.seq},"ts":${r.ts}`;
  if (r.undecodable !== undefined) json += `,"undecodable":${JSON.stringify(r.undecodable)}`;
  for (let g = 0; g < SENSOR_GROUPS.length; g++) {
    const columns = legend.columns(g);
    if (columns.length === 0) continue;
    let values = "";
    let present = false;
    let quality: string | undefined;
    let reason: string | undefined;
    let count: number | undefined;
    for (let i = 0; i < columns.length; i += 2) {
      const sample = r.channels.get(columns[i]);
      const stat = columns[i + 1];
      let v: number | undefined;
      if (sample) {
        present = true;
        if (sample.quality !== "bad") v = stat === VALUE ? sample.value : stat === MIN ? sample.min : sample.max;
        if (stat === VALUE && sample.quality !== "good" && (!quality || (quality === "uncertain" && sample.quality === "bad"))) {
          quality = sample.quality;
          reason = sample.reason;
          count = sample.count;
        }
      }
      values += `${i > 0 ? "," : ""}${v !== undefined && Number.isFinite(v) ? v : "null"}`;
    }
    if (!present) continue;
    json += SENSOR_GROUPS[g].opener;
    if (!quality) json += `[${values}]`;
    else {
      json += `{"v":[${values}],"quality":"${quality}"`;
      if (reason) json += `,"reason":${JSON.stringify(reason)}`;
      if (quality === "uncertain" && count !== undefined) json += `,"n":${count}`;
      json += "}";
    }
  }
  return json + "}";
}

/** The payload version every message carries ("schema"); schema/payload-v1.schema.json describes it. */
export const PAYLOAD_SCHEMA = 1;

/** String(n).length, counted without making the string for the whole numbers a batch head holds (on XS .length of a fresh string allocates). */
const digits = (n: number): number => {
  if (!(Number.isSafeInteger(n) && n >= 0)) return String(n).length;
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
};
const NO_COLUMNS: readonly [number, number, number] = [0, 0, 0];

/**
 * Packs readings into batches no larger than maxBytes of UTF-8 JSON (payload v1):
 * {"schema":1,"device":"press-7","boot":3,"first_seq":120,"last_seq":124,"count":5,
 *  "first_ts":...,"last_ts":...,"channels":{...legend...},"readings":[...]}
 * The batch-level fields let a rule route, store and date a batch without iterating its readings.
 * A batch's legend is the configured columns plus its first reading's; a later reading with a column
 * outside it (from before a configuration change) starts a new batch, as does a change between exact
 * and estimated times ("ts_estimated":true marks a batch whose times are estimates).
 */
export class BatchEncoder {
  #head: string;
  /** The head's bytes without its five numbers and the legend, plus "]}". */
  #fixedBytes: number;
  readonly #configured: Legend;
  #legend: Legend;
  #estimated = false;
  #parts: string[] = [];
  #bytes = 0;
  #firstSeq = 0;
  #lastSeq = 0;
  #firstTs = 0;
  #lastTs = 0;
  readonly maxBytes: number;

  /** columns: the configured report columns, or their Legend already built (the uplink keeps one rather than making one per batch). */
  constructor(options: { device: string; boot: number; maxBytes: number; columns?: readonly [number, number, number] | Legend; health?: string }) {
    this.#head = `{"schema":${PAYLOAD_SCHEMA},"device":${JSON.stringify(options.device)},"boot":${options.boot}${options.health ? `,${options.health}` : ""}`;
    this.#fixedBytes = utf8Length(this.#head) + ',"first_seq":,"last_seq":,"count":,"first_ts":,"last_ts":,"channels":,"readings":['.length + 2;
    this.maxBytes = options.maxBytes;
    const columns = options.columns ?? NO_COLUMNS;
    this.#configured = this.#legend = columns instanceof Legend ? columns : new Legend(columns);
  }

  get pendingReadings(): number {
    return this.#parts.length;
  }

  /** The batch holds one reading larger than maxBytes allows: it can take no other, and is due. */
  oversize = false;

  /** The head's size if the batch held its readings up to one ending at seq/ts, count in all. */
  #headBytes(legend: Legend, estimated: boolean, firstSeq: number, firstTs: number, lastSeq: number, lastTs: number, count: number): number {
    return this.#fixedBytes + legend.json.length + (estimated ? ',"ts_estimated":true'.length : 0) +
      digits(firstSeq) + digits(lastSeq) + digits(count) + digits(firstTs) + digits(lastTs);
  }

  /** Adds a reading; returns the batch it closed when the reading did not fit beside the others. */
  add(reading: Reading): Batch | undefined {
    const masks = Legend.of(reading);
    const estimated = reading.estimated === true;
    let closed: Batch | undefined;
    if (this.#parts.length > 0 && (!this.#legend.covers(masks) || estimated !== this.#estimated)) closed = this.flush();
    const legend = this.#parts.length === 0 ? (this.#configured.covers(masks) ? this.#configured : this.#configured.union(masks)) : this.#legend;
    const json = readingJson(reading, legend);
    const size = utf8Length(json);
    const n = this.#parts.length;
    // A reading too large for any batch of maxBytes (a small batch_bytes, many columns) still goes,
    // in a batch of its own: refusing it would stop delivery at it for good.
    const alone = this.#headBytes(legend, estimated, reading.seq, reading.ts, reading.seq, reading.ts, 1) + size > this.maxBytes;
    // (n > 0 means no batch was closed above: at most one closes per reading.)
    if (n > 0 && (this.oversize || alone || this.#headBytes(legend, estimated, this.#firstSeq, this.#firstTs, reading.seq, reading.ts, n + 1) + this.#bytes + 1 + size > this.maxBytes)) closed = this.flush();
    if (this.#parts.length === 0) {
      this.#firstSeq = reading.seq;
      this.#firstTs = reading.ts;
      this.#legend = legend;
      this.#estimated = estimated;
    }
    this.#bytes += size + (this.#parts.length > 0 ? 1 : 0);
    this.#parts.push(json);
    this.oversize = alone;
    this.#lastSeq = reading.seq;
    this.#lastTs = reading.ts;
    return closed;
  }

  flush(): Batch | undefined {
    const count = this.#parts.length;
    if (count === 0) return undefined;
    const head = `${this.#head},"first_seq":${this.#firstSeq},"last_seq":${this.#lastSeq},"count":${count},"first_ts":${this.#firstTs},"last_ts":${this.#lastTs}` +
      `${this.#estimated ? ',"ts_estimated":true' : ""},"channels":${this.#legend.json},"readings":[`;
    // Written part by part into the payload's bytes: joining the parts and the head first made three
    // more strings the size of the batch (chunk garbage, and a higher peak, on a device-sized heap).
    let payload: Uint8Array = new Uint8Array(utf8Length(head) + this.#bytes + 2);
    let o = utf8EncodeInto(head, payload, 0);
    for (let i = 0; i < count; i++) {
      if (i > 0) payload[o++] = 0x2c; // ,
      o = utf8EncodeInto(this.#parts[i], payload, o);
    }
    payload[o++] = 0x5d; // ]
    payload[o++] = 0x7d; // }
    // The parts' sizes were counted as they came; should that ever be off, the old way is exact.
    if (o !== payload.length) payload = utf8Encode(head + this.#parts.join(",") + "]}");
    const batch = { firstSeq: this.#firstSeq, lastSeq: this.#lastSeq, count, payload };
    this.oversize = false;
    this.#parts = [];
    this.#bytes = 0;
    return batch;
  }
}

/**
 * {"schema":1,"device":"press-7","boot":3,"seq":812,"ts":...,"channel":"max31865.temperature",
 *  "alarm":"high","state":"raised","value":85.12,"limit":85}: one alarm, one small message.
 */
export function alarmJson(device: string, boot: number, seq: number, e: AlarmEvent): Uint8Array {
  const c = CHANNELS[e.channel];
  let json = `{"schema":${PAYLOAD_SCHEMA},"device":${JSON.stringify(device)},"boot":${boot},"seq":${seq},"ts":${e.ts},` +
    `"channel":"${c.sensor}.${c.quantity}","alarm":"${e.kind}","state":"${e.state}"`;
  if (e.value !== undefined) json += `,"value":${e.value}`;
  if (e.limit !== undefined) json += `,"limit":${e.limit}`;
  if (e.estimated) json += `,"ts_estimated":true`;
  return utf8Encode(`${json}}`);
}
