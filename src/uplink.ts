// Delivers the flash log to the broker: reads records from the oldest unacknowledged one, packs them
// into JSON batches, publishes each at QoS 1, and advances the log's tail only on PUBACK, in order.
// After a reconnect everything unacknowledged is sent again, so nothing is lost; a sink drops the
// duplicates by (device, seq). Reconnects after a fixed delay (backoff is the session layer's job).

import Timer from "timer";
import { MqttClient, type SocketCallbacks, type StreamSocket } from "./mqtt/client";
import type { ConnectOptions } from "./mqtt/codec";
import { BatchEncoder, type Batch } from "./telemetry/batch";
import { decodeReading, RecordFormatError, type Reading } from "./telemetry/reading";
import type { LogRecord } from "./log/flash-log";

/** The part of the flash log the uplink needs. */
export interface DeliveryLog {
  readonly tailSeq: number;
  readonly nextSeq: number;
  read(fromSeq: number, maxRecords: number, maxBytes?: number): LogRecord[];
  acknowledge(upTo: number): void;
}

export interface UplinkOptions {
  log: DeliveryLog;
  device: string;
  boot: number;
  openSocket(callbacks: SocketCallbacks): StreamSocket;
  writeReserve: number;
  connect: ConnectOptions;
  topic: string;
  maxBatchBytes: number;
  /** A batch that is not full goes out once its oldest reading is this old. */
  flushIntervalMs: number;
  /** Batches published and not yet acknowledged, at most. */
  inFlightWindow: number;
  reconnectDelayMs: number;
  now(): number;
  report(line: string): void;
}

export interface UplinkStats {
  /** Batches published for the first time. */
  published: number;
  acknowledged: number;
  readingsAcknowledged: number;
  resent: number;
  connects: number;
  lastError: string;
}

interface InFlight {
  packetId: number;
  batch: Batch;
  sentAt: number;
  acked: boolean;
}

const READ_CHUNK = 32;

export class Uplink {
  #o: UplinkOptions;
  #client: MqttClient | undefined;
  #inFlight: InFlight[] = [];
  /** The next sequence number not yet in a batch on this connection. */
  #sendFrom = 0;
  /** Everything below this was published at least once before (so a resend carries DUP). */
  #sentBefore = 0;
  #nextPacketId = 1;
  #reconnect: Timer | undefined;
  #ticker: Timer | undefined;
  #stopped = false;
  #draining = false;
  #idleWaiters: (() => void)[] = [];
  readonly stats: UplinkStats = { published: 0, acknowledged: 0, readingsAcknowledged: 0, resent: 0, connects: 0, lastError: "" };

  constructor(options: UplinkOptions) {
    this.#o = options;
    this.#sendFrom = options.log.tailSeq;
    this.#sentBefore = options.log.tailSeq;
  }

  start(): void {
    this.#ticker = Timer.repeat(() => this.pump(), Math.max(100, Math.min(1000, this.#o.flushIntervalMs / 4)));
    this.#open();
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Publishes what is due; called after appends, on PUBACK and on a timer. */
  pump(): void {
    const client = this.#client;
    if (!client?.connected) return;
    while (this.#inFlight.length < this.#o.inFlightWindow) {
      const next = this.#nextBatch();
      if (!next) return;
      const { batch, due } = next;
      if (!due && !this.#draining) return;
      const packetId = this.#takePacketId();
      const dup = batch.firstSeq < this.#sentBefore;
      client.publish({ topic: this.#o.topic, payload: batch.payload, qos: 1, packetId, dup });
      // The write can fail and close the connection inside publish(): then nothing was sent.
      if (this.#client !== client || !client.connected) return;
      this.#inFlight.push({ packetId, batch, sentAt: this.#o.now(), acked: false });
      this.#sendFrom = batch.lastSeq + 1;
      if (this.#sendFrom > this.#sentBefore) this.#sentBefore = this.#sendFrom;
      if (dup) this.stats.resent++;
      else this.stats.published++;
      this.#o.report(`${dup ? "resend" : "publish"} id=${packetId} seq=${batch.firstSeq}..${batch.lastSeq} readings=${batch.count} bytes=${batch.payload.length}`);
    }
  }

  /** Resolves once the log holds nothing unacknowledged (publishing even batches not yet due), or after timeoutMs. */
  drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    this.pump();
    if (this.#isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        Timer.clear(timer);
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter);
        resolve(ok);
      };
      const waiter = () => done(true);
      const timer = Timer.set(() => done(false), timeoutMs);
      this.#idleWaiters.push(waiter);
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#reconnect) Timer.clear(this.#reconnect);
    if (this.#ticker) Timer.clear(this.#ticker);
    this.#client?.disconnect();
    this.#client = undefined;
  }

  #isIdle(): boolean {
    return this.#o.log.tailSeq >= this.#o.log.nextSeq;
  }

  /** Packs records from #sendFrom into one batch; due when full or its oldest reading is old enough. */
  #nextBatch(): { batch: Batch; due: boolean } | undefined {
    const encoder = new BatchEncoder({ device: this.#o.device, boot: this.#o.boot, maxBytes: this.#o.maxBatchBytes });
    let from = this.#sendFrom;
    let oldest: number | undefined;
    for (;;) {
      const records = this.#o.log.read(from, READ_CHUNK);
      if (records.length === 0) break;
      for (const record of records) {
        const reading = this.#decode(record);
        oldest ??= reading.ts;
        const closed = encoder.add(reading);
        if (closed) return { batch: closed, due: true };
        from = record.seq + 1;
      }
    }
    const batch = encoder.flush();
    if (!batch) return undefined;
    return { batch, due: this.#o.now() - (oldest ?? 0) >= this.#o.flushIntervalMs };
  }

  #decode(record: LogRecord): Reading {
    try {
      return decodeReading(record.seq, record.payload);
    } catch (error) {
      if (!(error instanceof RecordFormatError)) throw error;
      // Delivered as a visible gap rather than blocking the log forever.
      this.#o.report(`record ${record.seq} cannot be decoded (${error.message}); sending it as undecodable`);
      return { seq: record.seq, ts: 0, channels: new Map(), undecodable: error.message };
    }
  }

  #takePacketId(): number {
    const id = this.#nextPacketId;
    this.#nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }

  #open(): void {
    const { connect, report } = this.#o;
    this.#reconnect = undefined;
    try {
      this.#client = new MqttClient({
        openSocket: this.#o.openSocket,
        writeReserve: this.#o.writeReserve,
        connect,
        onConnected: (sessionPresent) => {
          this.stats.connects++;
          report(`connected as ${connect.clientId} (session present: ${sessionPresent}); ${this.#o.log.nextSeq - this.#o.log.tailSeq} records waiting`);
          this.pump();
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
    // Everything unacknowledged goes out again on the next connection.
    this.#inFlight = [];
    this.#sendFrom = this.#o.log.tailSeq;
    if (this.#stopped) return;
    this.stats.lastError = reason;
    this.#o.report(`connection lost: ${reason}; retrying in ${this.#o.reconnectDelayMs} ms`);
    this.#reconnect = Timer.set(() => this.#open(), this.#o.reconnectDelayMs);
  }

  #acknowledged(packetId: number): void {
    const entry = this.#inFlight.find((f) => f.packetId === packetId && !f.acked);
    if (!entry) {
      this.#o.report(`puback id=${packetId} matches nothing in flight (ignored)`);
      return;
    }
    entry.acked = true;
    this.stats.acknowledged++;
    this.stats.readingsAcknowledged += entry.batch.count;
    this.#o.report(`puback id=${packetId} seq=${entry.batch.firstSeq}..${entry.batch.lastSeq} after ${this.#o.now() - entry.sentAt} ms`);
    // The log's tail moves only over a contiguous run of acknowledged batches.
    let upTo = -1;
    while (this.#inFlight.length > 0 && this.#inFlight[0].acked) upTo = this.#inFlight.shift()!.batch.lastSeq;
    if (upTo >= 0) this.#o.log.acknowledge(upTo);
    this.pump();
    if (this.#isIdle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
