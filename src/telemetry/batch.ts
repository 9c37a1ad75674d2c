// The JSON batches that carry readings to the broker. Each reading has the flash log's sequence
// number, which rises across restarts, so (device, seq) lets a sink drop duplicates exactly.
// Pure: runs on XS unchanged.

import { utf8Encode, utf8Length } from "../util/utf8";
import { CHANNELS, type Reading } from "./reading";

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

/** Packs readings into batches no larger than maxBytes of UTF-8 JSON. */
export class BatchEncoder {
  #head: string;
  #headBytes: number;
  #parts: string[] = [];
  #bytes = 0;
  #firstSeq = 0;
  #lastSeq = 0;
  readonly maxBytes: number;

  constructor(options: { device: string; boot: number; maxBytes: number }) {
    this.#head = `{"device":${JSON.stringify(options.device)},"boot":${options.boot},"readings":[`;
    this.#headBytes = utf8Length(this.#head) + 2; // + "]}"
    this.maxBytes = options.maxBytes;
  }

  get pendingReadings(): number {
    return this.#parts.length;
  }

  /** Adds a reading; returns the batch it closed when the reading did not fit beside the others. */
  add(reading: Reading): Batch | undefined {
    const json = readingJson(reading);
    const size = utf8Length(json);
    if (this.#headBytes + size > this.maxBytes) throw new RangeError(`reading ${reading.seq} alone exceeds ${this.maxBytes} bytes`);
    let closed: Batch | undefined;
    if (this.#parts.length > 0 && this.#headBytes + this.#bytes + 1 + size > this.maxBytes) closed = this.flush();
    if (this.#parts.length === 0) this.#firstSeq = reading.seq;
    this.#bytes += size + (this.#parts.length > 0 ? 1 : 0);
    this.#parts.push(json);
    this.#lastSeq = reading.seq;
    return closed;
  }

  flush(): Batch | undefined {
    if (this.#parts.length === 0) return undefined;
    const payload = utf8Encode(this.#head + this.#parts.join(",") + "]}");
    const batch = { firstSeq: this.#firstSeq, lastSeq: this.#lastSeq, count: this.#parts.length, payload };
    this.#parts = [];
    this.#bytes = 0;
    return batch;
  }
}
