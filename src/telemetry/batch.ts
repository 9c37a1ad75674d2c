// The JSON batches that carry readings to the broker. Each reading has the flash log's sequence
// number, which rises across restarts, so (device, seq) lets a sink drop duplicates exactly.
// Pure: runs on XS unchanged.

import { utf8Encode, utf8Length } from "../util/utf8";
import { CHANNELS, type Reading } from "./reading";
import type { AlarmEvent } from "../pipeline/alarms";

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  count: number;
  payload: Uint8Array;
}


/** Each sensor's channels, in the order of its first channel; built once, read-only (preloaded in flash). */
const SENSOR_GROUPS: readonly { opener: string; channels: readonly number[] }[] = (() => {
  const groups: { opener: string; channels: number[] }[] = [];
  const index = new Map<string, number>();
  CHANNELS.forEach((channel, n) => {
    let g = index.get(channel.sensor);
    if (g === undefined) {
      index.set(channel.sensor, (g = groups.length));
      groups.push({ opener: `,${JSON.stringify(channel.sensor)}:{`, channels: [] });
    }
    groups[g].channels.push(n);
  });
  return groups;
})();
/** `"temperature":` for each channel number. */
const KEYS: readonly string[] = CHANNELS.map((c) => `${JSON.stringify(c.quantity)}:`);

/**
 * {"seq":7,"ts":...,"sht3x":{"temperature":21.5,"humidity":40.1},"bme280":{"quality":"bad","reason":"crc"}}
 * Written straight from the reading with index loops and precomputed keys: during a replay this runs
 * hundreds of times a second, and Maps, entry arrays and iterators would all be garbage.
 */
export function readingJson(r: Reading): string {
  let json = `{"seq":${r.seq},"ts":${r.ts}`;
  if (r.undecodable !== undefined) json += `,"undecodable":${JSON.stringify(r.undecodable)}`;
  for (let g = 0; g < SENSOR_GROUPS.length; g++) {
    const group = SENSOR_GROUPS[g];
    let body = "";
    let present = false;
    let quality: string | undefined;
    let reason: string | undefined;
    for (let i = 0; i < group.channels.length; i++) {
      const n = group.channels[i];
      const sample = r.channels.get(n);
      if (!sample) continue;
      present = true;
      // Good values, and the values an uncertain sample kept (its quality says to trust them less).
      if (sample.value !== undefined && sample.quality !== "bad") body += `${body ? "," : ""}${KEYS[n]}${sample.value}`;
      if (sample.quality === "good" && sample.value !== undefined) continue;
      if (!quality || (quality === "uncertain" && sample.quality === "bad")) {
        quality = sample.quality;
        reason = sample.reason;
      }
    }
    if (!present) continue;
    if (quality) body += `${body ? "," : ""}"quality":"${quality}"`;
    if (reason) body += `,"reason":${JSON.stringify(reason)}`;
    json += `${group.opener}${body}}`;
  }
  return json + "}";
}

/** The payload version every message carries ("schema"); schema/payload-v1.schema.json describes it. */
export const PAYLOAD_SCHEMA = 1;

const digits = (n: number): number => String(n).length;

/**
 * Packs readings into batches no larger than maxBytes of UTF-8 JSON (payload v1):
 * {"schema":1,"device":"press-7","boot":3,"first_seq":120,"last_seq":124,"count":5,
 *  "first_ts":...,"last_ts":...,"readings":[...]}
 * The batch-level fields let a rule route, store and date a batch without iterating its readings.
 */
export class BatchEncoder {
  #head: string;
  /** The head's bytes without its five numbers, plus "]}". */
  #fixedBytes: number;
  #parts: string[] = [];
  #bytes = 0;
  #firstSeq = 0;
  #lastSeq = 0;
  #firstTs = 0;
  #lastTs = 0;
  readonly maxBytes: number;

  constructor(options: { device: string; boot: number; maxBytes: number }) {
    this.#head = `{"schema":${PAYLOAD_SCHEMA},"device":${JSON.stringify(options.device)},"boot":${options.boot}`;
    this.#fixedBytes = utf8Length(this.#head) + ',"first_seq":,"last_seq":,"count":,"first_ts":,"last_ts":,"readings":['.length + 2;
    this.maxBytes = options.maxBytes;
  }

  get pendingReadings(): number {
    return this.#parts.length;
  }

  /** The head's size if the batch held its readings up to one ending at seq/ts, count in all. */
  #headBytes(firstSeq: number, firstTs: number, lastSeq: number, lastTs: number, count: number): number {
    return this.#fixedBytes + digits(firstSeq) + digits(lastSeq) + digits(count) + digits(firstTs) + digits(lastTs);
  }

  /** Adds a reading; returns the batch it closed when the reading did not fit beside the others. */
  add(reading: Reading): Batch | undefined {
    const json = readingJson(reading);
    const size = utf8Length(json);
    if (this.#headBytes(reading.seq, reading.ts, reading.seq, reading.ts, 1) + size > this.maxBytes)
      throw new RangeError(`reading ${reading.seq} alone exceeds ${this.maxBytes} bytes`);
    let closed: Batch | undefined;
    const n = this.#parts.length;
    if (n > 0 && this.#headBytes(this.#firstSeq, this.#firstTs, reading.seq, reading.ts, n + 1) + this.#bytes + 1 + size > this.maxBytes) closed = this.flush();
    if (this.#parts.length === 0) {
      this.#firstSeq = reading.seq;
      this.#firstTs = reading.ts;
    }
    this.#bytes += size + (this.#parts.length > 0 ? 1 : 0);
    this.#parts.push(json);
    this.#lastSeq = reading.seq;
    this.#lastTs = reading.ts;
    return closed;
  }

  flush(): Batch | undefined {
    const count = this.#parts.length;
    if (count === 0) return undefined;
    const head = `${this.#head},"first_seq":${this.#firstSeq},"last_seq":${this.#lastSeq},"count":${count},"first_ts":${this.#firstTs},"last_ts":${this.#lastTs},"readings":[`;
    const payload = utf8Encode(head + this.#parts.join(",") + "]}");
    const batch = { firstSeq: this.#firstSeq, lastSeq: this.#lastSeq, count, payload };
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
  return utf8Encode(`${json}}`);
}
