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


/** {"seq":7,"ts":...,"sht3x":{"temperature":21.5,"humidity":40.1},"bme280":{"quality":"bad","reason":"crc"}} */
export function readingJson(r: Reading): string {
  const sensors = new Map<string, { values: string[]; quality?: string; reason?: string }>();
  for (const [n, sample] of r.channels) {
    const channel = CHANNELS[n];
    let entry = sensors.get(channel.sensor);
    if (!entry) sensors.set(channel.sensor, (entry = { values: [] }));
    if (sample.quality === "good" && sample.value !== undefined) entry.values.push(`${JSON.stringify(channel.quantity)}:${sample.value}`);
    else if (!entry.quality || (entry.quality === "uncertain" && sample.quality === "bad")) {
      entry.quality = sample.quality;
      entry.reason = sample.reason;
    }
  }
  let json = `{"seq":${r.seq},"ts":${r.ts}`;
  if (r.undecodable !== undefined) json += `,"undecodable":${JSON.stringify(r.undecodable)}`;
  for (const [sensor, entry] of sensors) {
    const parts = entry.values.slice();
    if (entry.quality) parts.push(`"quality":"${entry.quality}"`);
    if (entry.reason) parts.push(`"reason":${JSON.stringify(entry.reason)}`);
    json += `,${JSON.stringify(sensor)}:{${parts.join(",")}}`;
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
