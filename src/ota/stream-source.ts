// An update image's blocks over the node's own MQTT connection, through AWS IoT MQTT-based file
// delivery (a "stream"), pure. The agent asks for one of its blocks (4 KB or more); this asks
// AWS for it in small stream blocks (1 KB by default) with one GetStream request and puts each
// answer where it belongs, so an incoming message stays small on a device whose whole heap is
// 78 KB (a 4 KB block in base64 JSON would be over 5 KB, several copies of it at once while it is
// received, decoded and parsed). No second TLS session, which an ESP32 cannot afford beside the
// telemetry's, and the traffic stays inside the connection's publish limits (one request in flight).
//
// AWS answers on .../streams/<id>/data/json with {"c","f","l","i","p"} per block, or refuses on
// .../rejected/json with {"o": code, "m": message, "c"}. An answer that does not carry the current
// request's client token is ignored (a late answer to a request given up on).

import { base64DecodeInto } from "./base64";
import { streamDataTopic, streamRejectedTopic, streamRequest } from "./download";
import type { BlockSource } from "./slot";

export interface StreamSourceOptions {
  thing: string;
  streamId: string;
  fileId: number;
  /** Publishes at QoS 1; false when it could not (not connected). */
  publish(topic: string, payload: string): boolean;
  now(): number;
  /** Stream block size asked of AWS (256 bytes to 128 KB; default 1024). */
  streamBlockBytes?: number;
  /** A request with no answer this long fails (default 30 s); the agent retries with backoff. */
  timeoutMs?: number;
}

interface Pending {
  token: string;
  first: number;
  count: number;
  length: number;
  buffer: Uint8Array;
  received: Uint8Array;
  left: number;
  lastHeard: number;
  done(error?: string): void;
}

export class StreamBlockSource implements BlockSource {
  readonly #o: StreamSourceOptions;
  readonly #block: number;
  readonly #dataTopic: string;
  readonly #rejectedTopic: string;
  #pending: Pending | undefined;
  #tokens = 0;

  constructor(options: StreamSourceOptions) {
    this.#o = options;
    this.#block = options.streamBlockBytes ?? 1024;
    if (!Number.isInteger(this.#block) || this.#block < 256 || this.#block > 131_072) throw new RangeError("stream block size must be 256 bytes to 128 KB");
    this.#dataTopic = streamDataTopic(options.thing, options.streamId);
    this.#rejectedTopic = streamRejectedTopic(options.thing, options.streamId);
  }

  fetch(offset: number, length: number, buffer: Uint8Array, done: (error?: string) => void): void {
    if (offset % this.#block !== 0) {
      done(`block at ${offset} is not on a ${this.#block}-byte stream block`);
      return;
    }
    const count = Math.ceil(length / this.#block);
    const token = `${this.#o.streamId.slice(0, 20)}-${(this.#tokens = (this.#tokens + 1) % 1_000_000)}`;
    const pending: Pending = {
      token, first: offset / this.#block, count, length, buffer, received: new Uint8Array(count), left: count,
      lastHeard: this.#o.now(), done,
    };
    this.#pending = pending;
    const request = streamRequest(this.#o.thing, this.#o.streamId, this.#o.fileId, { index: pending.first, offset, length }, this.#block, token, count);
    if (!this.#o.publish(request.topic, request.payload)) this.#end(pending, "not connected");
  }

  cancel(): void {
    this.#pending = undefined;
  }

  /** One MQTT message; false when the topic is not this stream's. */
  receive(topic: string, payload: string): boolean {
    const data = topic === this.#dataTopic;
    if (!data && topic !== this.#rejectedTopic) return false;
    const p = this.#pending;
    if (!p) return true;
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(payload);
      if (typeof parsed !== "object" || parsed === null) return true;
      message = parsed as Record<string, unknown>;
    } catch {
      return true; // unreadable: the timeout retries the block
    }
    if (message.c !== p.token) return true;
    if (!data) {
      this.#end(p, `stream ${this.#o.streamId} refused the request (${String(message.o)}: ${String(message.m)})`.slice(0, 200));
      return true;
    }
    const index = message.i;
    const text = message.p;
    if (message.f !== this.#o.fileId || typeof index !== "number" || typeof text !== "string") {
      this.#end(p, "stream answer without its file, block or payload");
      return true;
    }
    const k = index - p.first;
    if (!Number.isInteger(k) || k < 0 || k >= p.count) return true; // not one of this request's blocks
    if (p.received[k] === 1) return true; // QoS 1 may deliver it twice
    const at = k * this.#block;
    const expected = Math.min(this.#block, p.length - at);
    // A short block at the end of the file is the file's end: the job's size and this stream disagree.
    if (base64DecodeInto(text, p.buffer, at) !== expected) {
      this.#end(p, `stream block ${index}: expected ${expected} bytes of base64, got ${text.length} characters`);
      return true;
    }
    p.received[k] = 1;
    p.lastHeard = this.#o.now();
    if (--p.left === 0) this.#end(p, undefined);
    return true;
  }

  /** About once a second: a request unanswered for the timeout fails (the agent asks again later). */
  tick(): void {
    const p = this.#pending;
    if (p && this.#o.now() - p.lastHeard >= (this.#o.timeoutMs ?? 30_000)) this.#end(p, `no answer from stream ${this.#o.streamId} in ${Math.round((this.#o.timeoutMs ?? 30_000) / 1000)} s`);
  }

  #end(p: Pending, error: string | undefined): void {
    if (this.#pending !== p) return;
    this.#pending = undefined;
    p.done(error);
  }

  /** Topic filters the device subscribes to for this thing's streams. */
  static subscriptions(thing: string): string[] {
    return [streamDataTopic(thing, "+"), streamRejectedTopic(thing, "+")];
  }
}
