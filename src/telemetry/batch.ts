// Readings and the JSON batches that carry them. Each reading has a per-boot sequence number; with
// the device id and boot id in the batch, a sink can drop duplicates exactly.
// Pure: runs on XS unchanged.

import { utf8Encode, utf8Length } from "../util/utf8";

export interface Reading {
  seq: number;
  /** ms since the epoch when the sample was taken */
  ts: number;
  sensor: string;
  quality: "good" | "bad" | "uncertain";
  reason?: string;
  values: Record<string, number>;
}

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  count: number;
  payload: Uint8Array;
}


function readingJson(r: Reading): string {
  let json = `{"seq":${r.seq},"ts":${r.ts},"sensor":${JSON.stringify(r.sensor)}`;
  for (const name in r.values) {
    const value = r.values[name];
    if (Number.isFinite(value)) json += `,${JSON.stringify(name)}:${value}`;
  }
  if (r.quality !== "good") json += `,"quality":"${r.quality}"`;
  if (r.reason) json += `,"reason":${JSON.stringify(r.reason)}`;
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
