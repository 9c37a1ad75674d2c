// Lightweight simulated devices for the cloud bench: one MQTT.js client each, with the device's
// own certificate (CN = thing name, so the Mosquitto ACL lets it publish under its own root only),
// publishing batches shaped as the firmware shapes them (`{"device","boot","readings":[...]}`, at
// most 5,120 bytes) from readings the real firmware produced, re-numbered and re-stamped. QoS 1,
// at most 10 batches waiting for PUBACK, as the firmware's in-flight window.

import { compactReadings } from "../../cloud/expand-readings.ts";
import mqtt, { type MqttClient } from "mqtt";

export type Reading = Record<string, unknown> & { seq: number; ts: number };

const MAX_BATCH_BYTES = 5120;
const IN_FLIGHT = 10;

export interface DeviceStats {
  /** Readings in batches the broker acknowledged. */
  acknowledged: number;
  published: number;
  /** When each seq was handed to MQTT.js (the latest time, for resends). */
  publishedAt: Map<number, number>;
  /** CONNACKs received: 1 plus the reconnects. */
  connects: number;
}

export class SimDevice {
  readonly stats: DeviceStats = { acknowledged: 0, published: 0, publishedAt: new Map(), connects: 0 };
  #client: MqttClient | undefined;
  #seq = 0;
  #buffer: Reading[] = [];
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #sampler: NodeJS.Timeout | undefined;
  #flusher: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly topicRoot: string,
    private readonly template: readonly Reading[],
    private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer },
  ) {}

  async connect(url: string): Promise<void> {
    this.#client = await mqtt.connectAsync(url, {
      ...this.tls,
      servername: "localhost",
      clientId: this.name,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 60,
    });
    this.stats.connects = 1;
    this.#client.on("connect", () => void this.stats.connects++);
    this.#client.on("error", () => {}); // reconnects by itself; publishes wait in MQTT.js's store
  }

  /** A reading as the firmware would sample it now (or at `ts`), from the template, numbered. */
  sample(ts = Date.now()): Reading {
    const t = this.template[this.#seq % this.template.length];
    return { ...t, seq: this.#seq++, ts };
  }

  /** `count` readings sampled in the past, one a second: a backlog after an outage. */
  backlog(count: number): Reading[] {
    const start = Date.now() - count * 1000;
    return Array.from({ length: count }, (_, i) => this.sample(start + i * 1000));
  }

  /** Batches of at most 5,120 bytes, in order. */
  static batches(device: string, readings: Reading[]): { payload: string; readings: Reading[] }[] {
    const out: { payload: string; readings: Reading[] }[] = [];
    let current: Reading[] = [];
    const encode = (rs: Reading[]) => JSON.stringify({ device, boot: 1, ...compactReadings(rs as never) });
    for (const r of readings) {
      if (current.length > 0 && Buffer.byteLength(encode([...current, r])) > MAX_BATCH_BYTES) {
        out.push({ payload: encode(current), readings: current });
        current = [];
      }
      current.push(r);
    }
    if (current.length > 0) out.push({ payload: encode(current), readings: current });
    return out;
  }

  /** Publishes one batch at QoS 1, waiting while 10 are unacknowledged. */
  async publish(batch: { payload: string; readings: Reading[] }): Promise<void> {
    while (this.#inFlight >= IN_FLIGHT) await new Promise<void>((r) => this.#waiters.push(r));
    this.#inFlight++;
    this.stats.published += batch.readings.length;
    const at = Date.now();
    for (const r of batch.readings) this.stats.publishedAt.set(r.seq, at);
    this.#client!.publish(`${this.topicRoot}telemetry`, batch.payload, { qos: 1 }, (error) => {
      this.#inFlight--;
      if (!error) this.stats.acknowledged += batch.readings.length;
      this.#waiters.shift()?.();
    });
  }

  async publishAll(readings: Reading[]): Promise<void> {
    for (const b of SimDevice.batches(this.name, readings)) await this.publish(b);
  }

  /** The reference device's pace: a reading every second, a batch when the oldest is 5 s old. */
  startRealtime(): void {
    this.#sampler = setInterval(() => this.#buffer.push(this.sample()), 1000);
    this.#flusher = setInterval(() => {
      if (this.#buffer.length > 0 && Date.now() - this.#buffer[0].ts >= 5000) void this.publishAll(this.#buffer.splice(0));
    }, 100);
  }

  /** Stops sampling; what is buffered goes out now. */
  async stopRealtime(): Promise<void> {
    clearInterval(this.#sampler);
    clearInterval(this.#flusher);
    if (this.#buffer.length > 0) await this.publishAll(this.#buffer.splice(0));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async close(): Promise<void> {
    clearInterval(this.#sampler);
    clearInterval(this.#flusher);
    await this.#client?.endAsync(true);
  }
}
