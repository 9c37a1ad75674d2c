// Delivers batches to the broker at QoS 1 and keeps each one until its PUBACK arrives. Batches wait
// in RAM here; the flash log takes that role once it exists. Reconnects after a fixed delay.

import Timer from "timer";
import { MqttClient, type SocketCallbacks, type StreamSocket } from "./mqtt/client";
import type { ConnectOptions } from "./mqtt/codec";
import type { Batch } from "./telemetry/batch";

export interface UplinkOptions {
  openSocket(callbacks: SocketCallbacks): StreamSocket;
  writeReserve: number;
  connect: ConnectOptions;
  topic: string;
  /** Batches published but not yet acknowledged, at most. */
  inFlightWindow: number;
  /** Batches kept in RAM while offline; the oldest is dropped beyond this. */
  maxQueuedBatches: number;
  reconnectDelayMs: number;
  log(line: string): void;
}

export interface UplinkStats {
  published: number;
  acknowledged: number;
  readingsAcknowledged: number;
  readingsDropped: number;
  resent: number;
  connects: number;
  lastError: string;
}

interface QueuedBatch {
  batch: Batch;
  packetId: number;
  sentAt: number;
  sent: boolean;
}

export class Uplink {
  #options: UplinkOptions;
  #client: MqttClient | undefined;
  #queue: QueuedBatch[] = [];
  #nextPacketId = 1;
  #reconnect: Timer | undefined;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];
  readonly stats: UplinkStats = {
    published: 0, acknowledged: 0, readingsAcknowledged: 0, readingsDropped: 0, resent: 0, connects: 0, lastError: "",
  };

  constructor(options: UplinkOptions) {
    this.#options = options;
  }

  start(): void {
    this.#open();
  }

  get unacknowledgedBatches(): number {
    return this.#queue.length;
  }

  send(batch: Batch): void {
    if (this.#queue.length >= this.#options.maxQueuedBatches) {
      const dropped = this.#queue.shift()!;
      this.stats.readingsDropped += dropped.batch.count;
      this.#options.log(`drop seq=${dropped.batch.firstSeq}..${dropped.batch.lastSeq}: RAM queue full while offline`);
    }
    this.#queue.push({ batch, packetId: this.#takePacketId(), sentAt: 0, sent: false });
    this.#pump();
  }

  /** Resolves once every queued batch is acknowledged, or after timeoutMs. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = Timer.set(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        Timer.clear(timer);
        resolve(true);
      };
      this.#idleWaiters.push(done);
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#reconnect) Timer.clear(this.#reconnect);
    this.#client?.disconnect();
    this.#client = undefined;
  }

  #takePacketId(): number {
    const id = this.#nextPacketId;
    this.#nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }

  #open(): void {
    const { connect, log } = this.#options;
    this.#reconnect = undefined;
    try {
      this.#client = new MqttClient({
        openSocket: this.#options.openSocket,
        writeReserve: this.#options.writeReserve,
        connect,
        onConnected: (sessionPresent) => {
          this.stats.connects++;
          log(`connected as ${connect.clientId} (session present: ${sessionPresent})`);
          this.#pump();
        },
        onPuback: (packetId) => this.#acknowledged(packetId),
        onClose: (reason) => this.#closed(reason),
      });
    } catch (error) {
      this.#closed(`cannot open connection: ${error instanceof Error ? error.message : error}`);
    }
  }

  #closed(reason: string): void {
    this.#client = undefined;
    if (this.#stopped) return;
    this.stats.lastError = reason;
    this.#options.log(`connection lost: ${reason}; retrying in ${this.#options.reconnectDelayMs} ms`);
    for (const q of this.#queue) q.sentAt = 0; // resend everything unacknowledged on the next connection
    this.#reconnect = Timer.set(() => this.#open(), this.#options.reconnectDelayMs);
  }

  #pump(): void {
    const client = this.#client;
    if (!client?.connected) return;
    let inFlight = 0;
    for (const q of this.#queue) {
      if (q.sentAt !== 0) {
        inFlight++;
        continue;
      }
      if (inFlight >= this.#options.inFlightWindow) return;
      const dup = q.sent;
      client.publish({ topic: this.#options.topic, payload: q.batch.payload, qos: 1, packetId: q.packetId, dup });
      q.sentAt = Date.now();
      if (dup) this.stats.resent++;
      else this.stats.published++;
      q.sent = true;
      inFlight++;
      this.#options.log(`${dup ? "resend" : "publish"} id=${q.packetId} seq=${q.batch.firstSeq}..${q.batch.lastSeq} readings=${q.batch.count} bytes=${q.batch.payload.length}`);
    }
  }

  #acknowledged(packetId: number): void {
    const index = this.#queue.findIndex((q) => q.packetId === packetId && q.sentAt !== 0);
    if (index < 0) {
      this.#options.log(`puback id=${packetId} matches nothing in flight (ignored)`);
      return;
    }
    const [q] = this.#queue.splice(index, 1);
    this.stats.acknowledged++;
    this.stats.readingsAcknowledged += q.batch.count;
    this.#options.log(`puback id=${packetId} seq=${q.batch.firstSeq}..${q.batch.lastSeq} after ${Date.now() - q.sentAt} ms`);
    this.#pump();
    if (this.#queue.length === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
