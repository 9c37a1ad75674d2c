// The MQTT session that delivers the flash log: a persistent session under the thing name, batches
// read from the log's oldest unacknowledged record, QoS 1, the log's tail advanced only over a
// contiguous run of PUBACKs, unacknowledged batches resent with their packet ids and DUP after a
// reconnect, every publish paced by AWS IoT's per-connection limits, reconnects on a jittered
// exponential backoff, and a retained status topic (online on connect, offline as the last will,
// a heartbeat every minute).

import Timer from "timer";
import { MqttClient, type SocketCallbacks, type StreamSocket } from "./mqtt/client";
import { utf8, type ConnectOptions } from "./mqtt/codec";
import { BatchEncoder, Legend, PAYLOAD_SCHEMA, alarmJson, type Batch } from "./telemetry/batch";
import { RECORD_ALARM, decodeAlarm, recordType } from "./telemetry/alarm-record";
import { decodeReading, RecordFormatError, type BootTime, type Reading } from "./telemetry/reading";
import type { ResolvedTime } from "./pipeline/time-base";
import type { LogRecord } from "./log/flash-log";
import type { ReconnectSchedule } from "./session/reconnect-schedule";
import type { PublishLimiter } from "./session/publish-limiter";
import type { LookupResult } from "./net/broker-resolver";

/** The part of the flash log the uplink needs. */
export interface DeliveryLog {
  readonly tailSeq: number;
  readonly nextSeq: number;
  readonly dropped: number;
  read(fromSeq: number, maxRecords: number, maxBytes?: number): LogRecord[];
  acknowledge(upTo: number): void;
}

export interface UplinkOptions {
  log: DeliveryLog;
  device: string;
  boot: number;
  firmware: string;
  /** The broker's address for the next connect (a DNS lookup, a literal or a fixed address). */
  broker: { lookup(done: (result: LookupResult) => void): void; cancel(): void };
  openSocket(callbacks: SocketCallbacks, address: string): StreamSocket;
  writeReserve: number;
  /** Client id, keep-alive, credentials; the session is persistent and the will is set here. */
  connect: Omit<ConnectOptions, "cleanSession" | "will">;
  topicRoot: string;
  maxBatchBytes: number;
  /** A batch that is not full goes out once its oldest reading is this old. */
  flushIntervalMs: number;
  /** Batches published and not yet acknowledged, at most. */
  inFlightWindow: number;
  heartbeatMs: number;
  schedule: ReconnectSchedule;
  limiter: PublishLimiter;
  /** False while the clock cannot be trusted (TLS would check certificate dates against it). */
  clockValid(): boolean;
  /** UTC for a record stored before the clock was set (src/pipeline/time-base.ts). */
  resolveTime?(t: BootTime): ResolvedTime | undefined;
  /** How often readings are stored (the sampling period), if regular: lets a batch go as soon as it is as long as the flush bound allows. */
  readingIntervalMs?: number;
  /** Topic filters subscribed on every connect (the device's command and shadow topics), if any. */
  subscriptions?(): string[];
  /** A message the broker delivered on a subscribed topic. Runs on the next turn, never inside the socket's callback. */
  onMessage?(topic: string, payload: Uint8Array): void;
  /** Each time a session is up (its subscriptions answered): the shadow asks for its document here. */
  onSession?(): void;
  /** The configured report columns (value, min, max channel masks): every batch's legend starts with them. */
  columns?: readonly [number, number, number];
  /** Free heap, RSSI and the like, where the platform reports them. */
  platformStatus(): Record<string, number | string | undefined>;
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
  reconnects: number;
  /** Every PUBLISH on every connection (telemetry, resends, status) and their payload bytes. */
  publishes: number;
  publishedBytes: number;
  lastError: string;
  /** Alarm messages published for the first time, and acknowledged. */
  alarms: number;
  alarmsAcknowledged: number;
}

interface InFlight {
  packetId: number;
  firstSeq: number;
  lastSeq: number;
  count: number;
  sentAt: number;
  acked: boolean;
  /** Published on an earlier connection: resent with the same packet id and DUP. */
  stale: boolean;
  /** An alarm record, published alone on the alarm topic. */
  alarm: boolean;
}

/** What goes out: a batch of readings, or one alarm (count 0, seq in firstSeq and lastSeq). */
type Outgoing = Batch & { alarm: boolean };

/** Alarms stored and not yet published, kept for the pump to send first; older ones go in log order. */
const URGENT_ALARMS = 16;

const DAILY_STATUS_MS = 86_400_000;
/** Control messages waiting to go, and broker messages waiting to be handled, at most. */
const CONTROL_QUEUE = 8;
/** AWS IoT Core takes at most 8 topic filters in one SUBSCRIBE. */
const SUBSCRIBE_FILTERS = 8;
const READ_CHUNK = 32;

export class Uplink {
  #o: UplinkOptions;
  #client: MqttClient | undefined;
  #inFlight: InFlight[] = [];
  /**
   * Records from here on were appended during this connection. While older records still wait, they
   * go out as a separate fresh lane ahead of the backlog, so live data is never held behind a replay.
   */
  #freshFrom = Infinity;
  #nextPacketId = 1;
  #statusIds = new Set<number>();
  #retry: Timer | undefined;
  #ticker: Timer | undefined;
  #paced: Timer | undefined;
  #lastHeartbeat = 0;
  /** Control messages (command responses, shadow requests) waiting to go, ahead of telemetry. */
  readonly #control: { topic: string; payload: Uint8Array }[] = [];
  /** SUBSCRIBEs of this connection awaiting their SUBACK, with their filters. */
  #subscribing = new Map<number, string[]>();
  /** Packet ids of control publishes and subscriptions awaiting their PUBACK or SUBACK. */
  readonly #controlIds = new Set<number>();
  /** Control messages published and not yet acknowledged: queued again if the connection ends first. */
  readonly #controlSent = new Map<number, { topic: string; payload: Uint8Array }>();
  /** Messages delivered by the broker, handled on the next turn (outside the TLS callback's stack). */
  readonly #inbox: { topic: string; payload: Uint8Array }[] = [];
  #inboxTimer: Timer | undefined;
  /** When telemetry (which carries the health fields) was last published. */
  #lastTelemetry = 0;
  #startedAt: number;
  #stopped = false;
  /** A lookup is under way (stop() cancels it). */
  #looking = false;
  /** The address of the current connection attempt, and whether it got as far as CONNACK. */
  #address = "";
  #sessionUp = false;
  #draining = false;
  /** The flush command: the next live batch goes whether due or not. */
  #flushRequested = false;
  /** The configured columns' legend, built once (not per batch: garbage on a small heap during a replay). */
  #legend: Legend;
  #paused = false;
  readonly #pauseWaiters: ((ok?: boolean) => void)[] = [];
  #pumping = false;
  #pumpAgain = false;
  #pumpSoon: Timer | undefined;
  #announce = false;
  readonly #idleWaiters: ((ok?: boolean) => void)[] = [];
  /** The lane batch last found not due: from where, with the log ending where, due when. */
  readonly #waiting = { from: -1, nextSeq: -1, dueAt: 0 };
  get #tickMs(): number {
    return Math.max(100, Math.min(1000, this.#o.flushIntervalMs / 10));
  }
  /** stop() sent DISCONNECT and the connection has not closed yet. */
  #closing = false;
  readonly #closeWaiters: ((ok?: boolean) => void)[] = [];
  readonly stats: UplinkStats = {
    published: 0, acknowledged: 0, readingsAcknowledged: 0, resent: 0, connects: 0, reconnects: 0, publishes: 0, publishedBytes: 0, lastError: "",
    alarms: 0, alarmsAcknowledged: 0,
  };
  /** Sequence numbers of alarm records stored during this boot and not yet published. */
  readonly #urgent: number[] = [];

  constructor(options: UplinkOptions) {
    this.#o = { ...options };
    this.#legend = new Legend(options.columns ?? [0, 0, 0]);
    this.#startedAt = options.now();
  }

  get statusTopic(): string {
    return `${this.#o.topicRoot}status`;
  }

  /**
   * New delivery settings from a configuration change (the shadow), for the batches collected from
   * now on; a batch waiting to fall due is collected again under them.
   */
  reconfigure(settings: Pick<UplinkOptions, "flushIntervalMs" | "heartbeatMs" | "maxBatchBytes" | "columns">): void {
    const tickBefore = this.#tickMs;
    this.#o = { ...this.#o, ...settings };
    this.#legend = new Legend(this.#o.columns ?? [0, 0, 0]);
    this.#waiting.from = -1;
    if (this.#ticker && !this.#stopped && this.#tickMs !== tickBefore) {
      Timer.clear(this.#ticker);
      this.#ticker = Timer.repeat(() => this.#tick(), this.#tickMs);
    }
    this.#schedulePump();
  }

  start(): void {
    this.#ticker = Timer.repeat(() => this.#tick(), this.#tickMs);
    const first = this.#o.schedule.atPowerUp();
    this.#o.report(`first connect in ${first.delayMs} ms (random start-up delay)`);
    this.#retry = Timer.set(() => this.#open(), first.delayMs);
  }

  /** Tries to connect now instead of at the end of the backoff (the clock was just set). */
  /**
   * Closes the connection cleanly and stays off until resume(): a certificate rotation's trial
   * connection uses the same client id. Resolves true once closed (false after timeoutMs). Records
   * keep being stored meanwhile; batches in flight are resent after resume().
   */
  pause(timeoutMs = 5000): Promise<boolean> {
    this.#paused = true;
    if (this.#retry) Timer.clear(this.#retry);
    this.#retry = undefined;
    const client = this.#client;
    if (!client) return Promise.resolve(true);
    const closed = waitOn(this.#pauseWaiters, timeoutMs);
    if (client.connected) client.disconnect();
    else client.close("paused");
    return closed;
  }

  /** Connects again after pause(), at once. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#stopped && !this.#client && !this.#looking && !this.#retry) this.#retry = Timer.set(() => this.#open(), 0);
  }

  connectSoon(): void {
    if (this.#stopped || this.#client || this.#looking || !this.#retry) return;
    Timer.clear(this.#retry);
    this.#retry = Timer.set(() => this.#open(), 0);
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /**
   * An alarm record was stored: it goes out ahead of telemetry and of any backlog, at once if
   * connected. Past the queue's length, alarms still go out in log order.
   */
  alarmStored(seq: number): void {
    if (this.#urgent.length >= URGENT_ALARMS) this.#urgent.shift();
    this.#urgent.push(seq);
    this.pump();
  }

  /** Publishes what is due; called after appends, on PUBACK, when the socket drains and on a timer. */
  pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true; // a publish completed synchronously and asked for more
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#pumpOnce();
      } while (this.#pumpAgain);
    } catch (error) {
      // Runs from timers: an exception escaping it would abort XS and restart the device.
      this.#contain("pump", error);
    } finally {
      this.#pumping = false;
    }
  }

  /** A flash or decode failure is reported, never thrown: the readings stay in flash for a later try. */
  #contain(where: string, error: unknown): void {
    const message = `${where} failed: ${error instanceof Error ? error.message : String(error)}; the readings stay in flash`;
    this.stats.lastError = message;
    this.#o.report(message);
  }

  /**
   * Pumps on the next turn. Socket callbacks run deep in the SDK's TLS stack, and XS stacks are small
   * (384 slots on the simulator, 512 on ESP32): publishing, which encrypts, must not run inside them.
   */
  #schedulePump(): void {
    this.#pumpSoon ??= Timer.set(() => {
      this.#pumpSoon = undefined;
      this.pump();
    }, 0);
  }

  /** Resolves once the log holds nothing unacknowledged (publishing even batches not yet due), or after timeoutMs. */
  drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    this.pump();
    // Without a connection no acknowledgement can come: the records stay in flash for the next start.
    if (this.#isIdle() || !this.connected) return Promise.resolve(this.#isIdle());
    return waitOn(this.#idleWaiters, timeoutMs);
  }

  /** Says "offline" with reason "stopped" (DISCONNECT suppresses the will) and disconnects. */
  stop(): void {
    this.#stopped = true;
    for (const t of [this.#retry, this.#ticker, this.#paced, this.#pumpSoon, this.#inboxTimer]) if (t) Timer.clear(t);
    this.#inboxTimer = undefined;
    if (this.#looking) this.#o.broker.cancel();
    const client = this.#client;
    this.#client = undefined;
    if (client?.connected) {
      try {
        const payload = this.#statusPayload("offline", "stopped");
        client.publish({ topic: this.statusTopic, payload, qos: 0, retain: true });
        this.#o.report(`status offline (stopped) bytes=${payload.length}; disconnecting`);
      } catch {
        // closing anyway
      }
      this.#closing = true;
      client.disconnect();
    } else client?.close("stopped");
  }

  /**
   * Resolves true once the connection stop() ended has closed, DISCONNECT written, or false after
   * timeoutMs: a host that exits sooner cuts the DISCONNECT off and the broker publishes the will.
   */
  whenClosed(timeoutMs: number): Promise<boolean> {
    if (!this.#closing) return Promise.resolve(true);
    return waitOn(this.#closeWaiters, timeoutMs);
  }

  #isIdle(): boolean {
    return this.#o.log.tailSeq >= this.#o.log.nextSeq;
  }

  #pumpOnce(): void {
    const client = this.#client;
    if (!client?.connected) return;
    // Keep at most one batch queued in RAM behind the socket: memory stays bounded and pacing real.
    if (client.queuedBytes > 0) return;
    if (this.#announce && this.#sendStatus("online", 1)) {
      this.#announce = false;
      // The session's own topics; once granted (or at once, with none) the shadow asks for its document.
      if (!this.#subscribe(client)) this.#sessionReady();
      this.#pumpAgain = true;
      return;
    }
    if (this.#sendControl(client)) return;
    this.#dropLost();
    if (this.#sendUrgentAlarm(client)) return;
    const stale = this.#inFlight.find((f) => f.stale && !f.acked);
    if (stale) {
      const batch = this.#collectBatch(stale.firstSeq, stale.lastSeq + 1)?.batch; // the same records as before: one batch
      if (!batch) {
        stale.acked = true; // its records left the log (dropped while offline)
        this.#advanceTail();
        this.#pumpAgain = true;
        return;
      }
      if (!this.#paceOrWait(batch.payload.length)) return;
      // The same records need not fit the same batch again: the health fields in the head have
      // grown, or the batch size changed. What did not fit is no longer this entry's: it goes out
      // as backlog under new packet ids, instead of being taken as acknowledged with this one.
      if (batch.lastSeq < stale.lastSeq) {
        stale.lastSeq = batch.lastSeq;
        stale.count = batch.count;
      }
      stale.stale = false;
      stale.sentAt = this.#o.now();
      this.stats.resent++;
      this.#publish(client, batch, stale.packetId, true);
      return;
    }
    // Only batches still waiting for PUBACK count: fresh batches acknowledged ahead of the backlog
    // stay listed (the tail cannot pass them yet) but must not close the window.
    let waiting = 0;
    for (const f of this.#inFlight) if (!f.acked && !f.alarm) waiting++;
    if (waiting >= this.#o.inFlightWindow) return;
    const next = this.#nextBatch();
    if (!next) return;
    const { batch } = next;
    if (!this.#paceOrWait(batch.payload.length)) return;
    const packetId = this.#takePacketId();
    this.#track(packetId, batch);
    if (next.lane === "fresh") this.#o.report(`fresh readings ahead of ${this.#freshFrom - this.#nextUnsent(this.#o.log.tailSeq)} waiting in the backlog`);
    this.#publish(client, batch, packetId, false);
  }

  #track(packetId: number, batch: Outgoing): void {
    const entry: InFlight = {
      packetId, firstSeq: batch.firstSeq, lastSeq: batch.lastSeq, count: batch.count, sentAt: this.#o.now(), acked: false, stale: false, alarm: batch.alarm,
    };
    const at = this.#inFlight.findIndex((f) => f.firstSeq > entry.firstSeq);
    this.#inFlight.splice(at < 0 ? this.#inFlight.length : at, 0, entry); // kept in sequence order
    if (batch.alarm) this.stats.alarms++;
    else this.stats.published++;
  }

  /**
   * The oldest alarm stored this boot and not yet published, ahead of everything else and outside
   * the in-flight window (AWS IoT takes 100 unacknowledged publishes). True when it published.
   */
  #sendUrgentAlarm(client: MqttClient): boolean {
    while (this.#urgent.length > 0) {
      const seq = this.#urgent[0];
      if (seq < this.#o.log.tailSeq || this.#nextUnsent(seq) !== seq) {
        this.#urgent.shift(); // acknowledged, dropped or already on its way
        continue;
      }
      const alarm = this.#collectBatch(seq, seq + 1)?.batch;
      if (!alarm?.alarm) {
        this.#urgent.shift();
        continue;
      }
      if (!this.#paceOrWait(alarm.payload.length)) return true;
      this.#urgent.shift();
      const packetId = this.#takePacketId();
      this.#track(packetId, alarm);
      this.#publish(client, alarm, packetId, false);
      return true;
    }
    return false;
  }

  /** The next batch to publish: fresh readings first while a backlog remains, then the backlog. */
  #nextBatch(): { batch: Outgoing; lane: "fresh" | "backlog" | "live" } | undefined {
    const backlogStart = this.#nextUnsent(this.#o.log.tailSeq);
    if (backlogStart < this.#freshFrom && backlogStart < this.#o.log.nextSeq) {
      const freshStart = this.#nextUnsent(this.#freshFrom);
      const fresh = this.#stillWaiting(freshStart) ? undefined : this.#collectBatch(freshStart, this.#limitAfter(freshStart));
      if (fresh?.due) return { batch: fresh.batch, lane: "fresh" };
      // Backlog records are from before this connection: due at once.
      const backlog = this.#collectBatch(backlogStart, Math.min(this.#freshFrom, this.#limitAfter(backlogStart)));
      return backlog && { batch: backlog.batch, lane: "backlog" };
    }
    if (this.#stillWaiting(backlogStart) && !this.#flushRequested) return undefined;
    const live = this.#collectBatch(backlogStart, this.#limitAfter(backlogStart));
    const go = live && (live.due || this.#draining || this.#flushRequested);
    this.#flushRequested = false;
    return go ? { batch: live.batch, lane: "live" } : undefined;
  }

  /**
   * True while the batch from `from` is known not to be due: it was collected, not full and not old
   * enough, and no record has been appended since. Pumps come with every PUBACK, tick and sample;
   * without this each would read, decode and encode the same records again (garbage on a small heap).
   */
  #stillWaiting(from: number): boolean {
    const w = this.#waiting;
    return !this.#draining && w.from === from && w.nextSeq === this.#o.log.nextSeq && this.#o.now() < w.dueAt;
  }

  /** The first sequence number at or after seq that no batch in flight (or acknowledged early) covers. */
  #nextUnsent(seq: number): number {
    for (const f of this.#inFlight) if (f.firstSeq <= seq && f.lastSeq >= seq) seq = f.lastSeq + 1;
    return seq;
  }

  /** Where the next batch in flight after seq starts: a new batch must stop there. */
  #limitAfter(seq: number): number {
    let limit = Infinity;
    for (const f of this.#inFlight) if (f.firstSeq > seq && f.firstSeq < limit) limit = f.firstSeq;
    return limit;
  }

  #publish(client: MqttClient, batch: Outgoing, packetId: number, dup: boolean): void {
    this.#countPublish(batch.payload.length);
    const what = batch.alarm ? `alarm seq=${batch.firstSeq}` : `seq=${batch.firstSeq}..${batch.lastSeq} readings=${batch.count}`;
    this.#o.report(`${dup ? "resend" : "publish"} id=${packetId} ${what} bytes=${batch.payload.length}`);
    const topic = `${this.#o.topicRoot}${batch.alarm ? "alarm" : "telemetry"}`;
    if (!batch.alarm) this.#lastTelemetry = this.#o.now();
    client.publish({ topic, payload: batch.payload, qos: 1, packetId, dup });
    // The write may have failed and closed the connection inside publish(); the batch stays in flight.
    if (this.#client === client && client.connected) this.#pumpAgain = true;
  }

  #countPublish(bytes: number): void {
    this.#o.limiter.record(bytes, this.#o.now());
    this.stats.publishes++;
    this.stats.publishedBytes += bytes;
  }

  /** True when the limiter lets a publish of this size go now; otherwise pumps again when it will. */
  #paceOrWait(bytes: number): boolean {
    const wait = this.#o.limiter.delayFor(bytes, this.#o.now());
    if (wait === 0) return true;
    if (!this.#paced) this.#paced = Timer.set(() => {
      this.#paced = undefined;
      this.pump();
    }, wait);
    return false;
  }

  /**
   * Records from `from` (below `limit`) packed into one batch; due when full or its oldest reading is
   * old enough. An alarm record is a message of its own: first, it is the whole result; later, the
   * batch ends before it (and is due: it cannot grow).
   */
  #collectBatch(start: number, limit: number): { batch: Outgoing; due: boolean } | undefined {
    const encoder = this.#encoder();
    let oldest: number | undefined;
    let newest: number | undefined;
    let from = start;
    for (;;) {
      const records = this.#o.log.read(from, READ_CHUNK);
      if (records.length === 0) break;
      for (const record of records) {
        if (record.seq >= limit) return this.#finish(encoder, oldest, start, false, newest);
        if (recordType(record.payload) === RECORD_ALARM) {
          if (encoder.pendingReadings > 0) return this.#finish(encoder, oldest, start, true);
          return this.#alarmMessage(record);
        }
        const reading = this.#decode(record);
        oldest ??= reading.ts;
        newest = reading.ts;
        const closed = encoder.add(reading);
        if (closed) return { batch: { ...closed, alarm: false }, due: true };
        if (encoder.oversize) return this.#finish(encoder, oldest, start, true, newest);
        from = record.seq + 1;
      }
    }
    return this.#finish(encoder, oldest, start, false, newest);
  }

  #finish(encoder: BatchEncoder, oldest: number | undefined, from: number, closed = false, newest?: number): { batch: Outgoing; due: boolean } | undefined {
    const flushed = encoder.flush();
    if (!flushed) return undefined;
    const batch = { ...flushed, alarm: false };
    // Due on the last pump (every tick at least) before the oldest reading is flushIntervalMs old,
    // so the bound holds from sample to broker; or as soon as the next reading could not join it in
    // time (the batch is as long as the bound allows: one publish per bound, not one per bound less a tick).
    const dueAt = (oldest ?? 0) + this.#o.flushIntervalMs - this.#tickMs;
    const interval = this.#o.readingIntervalMs;
    const due = closed || this.#o.now() >= dueAt || (interval !== undefined && newest !== undefined && newest + interval > dueAt);
    if (!due) {
      this.#waiting.from = from;
      this.#waiting.nextSeq = this.#o.log.nextSeq;
      this.#waiting.dueAt = dueAt;
    }
    return { batch, due };
  }

  /** An alarm record as its message; one that cannot be decoded goes out as a reading marked undecodable. */
  #alarmMessage(record: LogRecord): { batch: Outgoing; due: boolean } {
    try {
      const event = decodeAlarm(record.seq, record.payload);
      if (event.sinceBoot) {
        const { ts, estimated } = this.#resolve(event.sinceBoot);
        event.ts = ts;
        if (estimated) event.estimated = true;
      }
      const payload = alarmJson(this.#o.device, this.#o.boot, record.seq, event);
      return { batch: { firstSeq: record.seq, lastSeq: record.seq, count: 0, payload, alarm: true }, due: true };
    } catch (error) {
      if (!(error instanceof RecordFormatError)) throw error;
      this.#o.report(`alarm record ${record.seq} cannot be decoded (${error.message}); sending it as undecodable`);
      const encoder = this.#encoder();
      encoder.add({ seq: record.seq, ts: 0, channels: new Map(), undecodable: error.message });
      return { batch: { ...encoder.flush()!, alarm: false }, due: true };
    }
  }

  #encoder(): BatchEncoder {
    const o = this.#o;
    // While batches flow they carry the node's health, and no heartbeat of its own is needed.
    const health = `"log_depth":${o.log.nextSeq - o.log.tailSeq},"dropped":${o.log.dropped}`;
    return new BatchEncoder({ device: o.device, boot: o.boot, maxBytes: o.maxBatchBytes, columns: this.#legend, health });
  }

  /** UTC for a time kept since boot; should the boot be unknown, now, marked estimated (never 1970). */
  #resolve(t: BootTime): ResolvedTime {
    return this.#o.resolveTime?.(t) ?? { ts: this.#o.now(), estimated: true };
  }

  #decode(record: LogRecord): Reading {
    try {
      const reading = decodeReading(record.seq, record.payload);
      if (reading.sinceBoot) {
        const { ts, estimated } = this.#resolve(reading.sinceBoot);
        reading.ts = ts;
        if (estimated) reading.estimated = true;
      }
      return reading;
    } catch (error) {
      if (!(error instanceof RecordFormatError)) throw error;
      // Delivered as a visible gap rather than blocking the log forever.
      this.#o.report(`record ${record.seq} cannot be decoded (${error.message}); sending it as undecodable`);
      return { seq: record.seq, ts: 0, channels: new Map(), undecodable: error.message };
    }
  }

  #takePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.#statusIds.has(id) && !this.#controlIds.has(id) && !this.#inFlight.some((f) => f.packetId === id)) return id;
    }
  }

  /**
   * Queues a control message (a command's response, a shadow request) for QoS 1, ahead of telemetry
   * and outside the batch window. Kept while offline, at most CONTROL_QUEUE of them (the oldest goes).
   */
  sendControl(topic: string, payload: Uint8Array): void {
    if (this.#control.length >= CONTROL_QUEUE) {
      const dropped = this.#control.shift()!;
      this.#o.report(`control message to ${dropped.topic} dropped: ${CONTROL_QUEUE} waiting`);
    }
    this.#control.push({ topic, payload });
    this.#schedulePump();
  }

  #sendControl(client: MqttClient): boolean {
    const next = this.#control[0];
    if (!next) return false;
    if (!this.#paceOrWait(next.payload.length)) return true;
    this.#control.shift();
    const packetId = this.#takePacketId();
    this.#controlIds.add(packetId);
    this.#controlSent.set(packetId, next);
    this.#countPublish(next.payload.length);
    client.publish({ topic: next.topic, payload: next.payload, qos: 1, packetId });
    if (this.#client === client && client.connected) this.#pumpAgain = true;
    return true;
  }

  /**
   * The device's own topics, on every connect: a session AWS kept may still be gone within the hour.
   * At most SUBSCRIBE_FILTERS filters per SUBSCRIBE (AWS IoT Core's limit); the session is ready at
   * the last SUBACK.
   */
  #subscribe(client: MqttClient): boolean {
    const filters = this.#o.subscriptions?.() ?? [];
    if (filters.length === 0) return false;
    this.#subscribing.clear();
    for (let at = 0; at < filters.length; at += SUBSCRIBE_FILTERS) {
      const packetId = this.#takePacketId();
      this.#controlIds.add(packetId);
      this.#subscribing.set(packetId, filters.slice(at, at + SUBSCRIBE_FILTERS));
      client.subscribe(packetId, this.#subscribing.get(packetId)!);
    }
    return true;
  }

  #sessionReady(): void {
    try {
      this.#o.onSession?.();
    } catch (error) {
      this.#contain("session start", error);
    }
  }

  #subscribed(packetId: number, grants: number[]): void {
    this.#controlIds.delete(packetId);
    const filters = this.#subscribing.get(packetId) ?? [];
    if (!this.#subscribing.delete(packetId)) return;
    const refused = grants.map((g, i) => (g === 0x80 ? filters[i] ?? `filter ${i}` : undefined)).filter((f) => f !== undefined);
    if (refused.length > 0) {
      this.stats.lastError = `subscription refused: ${refused.join(", ")}`;
      this.#o.report(`${this.stats.lastError} (does the IoT policy allow it?)`);
    }
    if (this.#subscribing.size === 0) this.#sessionReady();
  }

  #received(topic: string, payload: Uint8Array): void {
    if (this.#inbox.length >= CONTROL_QUEUE) {
      this.#o.report(`message on ${topic} dropped: ${CONTROL_QUEUE} waiting to be handled`);
      return;
    }
    this.#inbox.push({ topic, payload: payload.slice() });
    this.#inboxTimer ??= Timer.set(() => {
      this.#inboxTimer = undefined;
      while (this.#inbox.length > 0) {
        const message = this.#inbox.shift()!;
        try {
          this.#o.onMessage?.(message.topic, message.payload);
        } catch (error) {
          this.#contain(`message on ${message.topic}`, error);
        }
      }
    }, 0);
  }

  /**
   * Publishes again every batch in flight from `from` on (the resend command: the cloud lost what it
   * had); records still in the log and not yet sent go out as usual. Returns how many batches.
   */
  resendFrom(from: number): number {
    let marked = 0;
    for (const f of this.#inFlight)
      if (f.lastSeq >= from && !f.stale) {
        f.acked = false;
        f.stale = true;
        marked++;
      }
    this.pump();
    return marked;
  }

  /** Publishes the partial batch now (the flush command): everything stored goes out regardless of its age. */
  flushNow(): number {
    const waiting = this.#o.log.nextSeq - this.#o.log.tailSeq;
    this.#flushRequested = true;
    this.pump();
    return waiting;
  }

  #open(): void {
    this.#retry = undefined;
    if (this.#stopped || this.#paused) return;
    if (!this.#o.clockValid()) {
      this.#retryLater("not connecting: the clock is not set (no SNTP time yet); TLS cannot check certificate dates");
      return;
    }
    // The attempt starts with the lookup: a failed one counts as a failed connect.
    this.#o.schedule.attempting(this.#o.now());
    this.#looking = true;
    this.#o.broker.lookup((result) => {
      this.#looking = false;
      if (this.#stopped) return;
      if ("error" in result) {
        this.#retryLater(`dns: ${result.error}`);
        return;
      }
      if (result.note) this.#o.report(`dns: ${result.note}`);
      this.#connectTo(result.address);
    });
  }

  #connectTo(address: string): void {
    if (this.#paused || this.#stopped) return;
    this.#address = address;
    this.#sessionUp = false;
    try {
      this.#client = new MqttClient({
        openSocket: (callbacks) => this.#o.openSocket(callbacks, address),
        writeReserve: this.#o.writeReserve,
        connect: {
          ...this.#o.connect,
          cleanSession: false,
          will: { topic: this.statusTopic, payload: this.#statusPayload("offline", "connection-lost"), qos: 1, retain: true },
        },
        onConnected: (sessionPresent) => this.#connected(sessionPresent),
        onPuback: (packetId) => this.#acknowledged(packetId),
        onSuback: (packetId, grants) => this.#subscribed(packetId, grants),
        onMessage: (message) => this.#received(message.topic, message.payload),
        onDrained: () => this.#schedulePump(),
        onClose: (reason) => this.#closed(reason),
      });
    } catch (error) {
      this.#client = undefined;
      this.#retryLater(`connect to ${address} failed: cannot open a connection: ${error instanceof Error ? error.message : error}`);
    }
  }

  #connected(sessionPresent: boolean): void {
    const { report, schedule, connect } = this.#o;
    schedule.connected(this.#o.now());
    this.stats.connects++;
    if (this.stats.connects > 1) this.stats.reconnects++;
    this.#o.limiter.reset();
    for (const f of this.#inFlight) if (!f.acked) f.stale = true;
    this.#freshFrom = this.#o.log.nextSeq;
    this.#sessionUp = true;
    const waiting = this.#o.log.nextSeq - this.#o.log.tailSeq;
    report(`connected to ${this.#address} as ${connect.clientId} (session present: ${sessionPresent}); ${waiting} records waiting, ${this.#inFlight.length} batches to resend`);
    this.#announce = true;
    this.#schedulePump();
  }

  #closed(reason: string): void {
    this.#client = undefined;
    this.#statusIds.clear();
    this.#controlIds.clear();
    // QoS 1 means at least once: a response or shadow report whose PUBACK never came goes again.
    if (this.#controlSent.size > 0) {
      this.#control.unshift(...this.#controlSent.values());
      this.#controlSent.clear();
      while (this.#control.length > CONTROL_QUEUE) this.#control.pop();
    }
    if (this.#stopped) {
      this.#closing = false;
      for (const waiter of this.#closeWaiters.slice()) waiter();
      return;
    }
    // A drain waiting for acknowledgements ends now: none can come before a reconnect.
    for (const waiter of this.#idleWaiters.slice()) waiter(false);
    if (this.#paused) {
      this.#sessionUp = false;
      this.#o.report(`paused: ${reason}`);
      for (const waiter of this.#pauseWaiters.slice()) waiter();
      return;
    }
    this.#retryLater(this.#sessionUp ? `connection lost: ${reason}` : `connect to ${this.#address} failed: ${reason}`);
    this.#sessionUp = false;
  }

  /** what: the failure as said, e.g. "connection lost: ..." or "dns: ...". */
  #retryLater(what: string): void {
    this.stats.lastError = what;
    const next = this.#o.schedule.closed(this.#o.now());
    const why = next.because === "kicked" ? " (the broker keeps closing right after CONNACK: another client with this id?)" : "";
    this.#o.report(`${what}; retrying in ${next.delayMs} ms${why}`);
    if (next.because === "kicked") this.stats.lastError = `duplicate client id suspected: ${what}`;
    this.#retry = Timer.set(() => this.#open(), next.delayMs);
  }

  #acknowledged(packetId: number): void {
    if (this.#statusIds.delete(packetId)) return;
    if (this.#controlIds.delete(packetId)) {
      this.#controlSent.delete(packetId);
      return;
    }
    const entry = this.#inFlight.find((f) => f.packetId === packetId && !f.acked);
    if (!entry) {
      this.#o.report(`puback id=${packetId} matches nothing in flight (ignored)`);
      return;
    }
    entry.acked = true;
    if (entry.alarm) this.stats.alarmsAcknowledged++;
    else {
      this.stats.acknowledged++;
      this.stats.readingsAcknowledged += entry.count;
    }
    const what = entry.alarm ? `alarm seq=${entry.firstSeq}` : `seq=${entry.firstSeq}..${entry.lastSeq}`;
    this.#o.report(`puback id=${packetId} ${what} after ${this.#o.now() - entry.sentAt} ms`);
    this.#mergeAcknowledged();
    this.#advanceTail();
    this.#schedulePump();
  }

  /** Neighbouring acknowledged ranges become one, so what waits for the tail stays a few entries. */
  #mergeAcknowledged(): void {
    for (let i = 0; i + 1 < this.#inFlight.length; ) {
      const a = this.#inFlight[i];
      const b = this.#inFlight[i + 1];
      if (a.acked && b.acked && a.lastSeq + 1 === b.firstSeq) {
        a.lastSeq = b.lastSeq;
        a.count += b.count;
        this.#inFlight.splice(i + 1, 1);
      } else i++;
    }
  }

  /** The log's tail moves only over a contiguous run of acknowledged batches from the tail. */
  #advanceTail(): void {
    const tail = this.#o.log.tailSeq;
    let cursor = tail;
    const covered: InFlight[] = [];
    for (;;) {
      const entry = this.#inFlight.find((f) => f.acked && f.firstSeq <= cursor && f.lastSeq >= cursor);
      if (!entry) break;
      covered.push(entry);
      cursor = entry.lastSeq + 1;
    }
    if (cursor > tail) {
      try {
        this.#o.log.acknowledge(cursor - 1);
      } catch (error) {
        // The entries stay listed as acknowledged: the next PUBACK or pump tries again.
        this.#contain("acknowledge", error);
        return;
      }
    }
    this.#inFlight = this.#inFlight.filter((f) => !covered.includes(f));
    if (this.#isIdle()) for (const w of this.#idleWaiters.slice()) w();
  }

  /** Batches whose records the log dropped while offline need no delivery. */
  #dropLost(): void {
    const tail = this.#o.log.tailSeq;
    this.#inFlight = this.#inFlight.filter((f) => f.lastSeq >= tail);
  }

  #tick(): void {
    const now = this.#o.now();
    try {
      // While batches flow they carry the health; the full status still goes once a day (certificate days left).
      const quiet = now - Math.max(this.#lastHeartbeat, this.#lastTelemetry) >= this.#o.heartbeatMs;
      if (this.connected && (quiet || now - this.#lastHeartbeat >= DAILY_STATUS_MS)) this.#sendStatus("online", 0);
    } catch (error) {
      this.#contain("heartbeat", error);
    }
    this.pump();
  }

  /** The retained status; an offline one says why: "stopped" (clean stop) or "connection-lost" (the will). */
  #statusPayload(state: "online" | "offline", reason?: "stopped" | "connection-lost"): Uint8Array {
    const o = this.#o;
    const status: Record<string, unknown> = { schema: PAYLOAD_SCHEMA, state, device: o.device, boot: o.boot, firmware: o.firmware, reason };
    if (state === "online") {
      Object.assign(status, {
        uptime_s: Math.floor((o.now() - this.#startedAt) / 1000),
        log_depth: o.log.nextSeq - o.log.tailSeq,
        dropped: o.log.dropped,
        reconnects: this.stats.reconnects,
        last_error: this.stats.lastError || undefined,
        ...o.platformStatus(),
      });
    }
    return utf8(JSON.stringify(status));
  }

  /** Retained status: QoS 1 when coming online, QoS 0 for the heartbeat. False when it must wait. */
  #sendStatus(state: "online", qos: 0 | 1): boolean {
    const client = this.#client;
    if (!client?.connected) return false;
    const payload = this.#statusPayload(state);
    if (this.#o.limiter.delayFor(payload.length, this.#o.now()) > 0) return false; // a later pump
    this.#lastHeartbeat = this.#o.now();
    this.#countPublish(payload.length);
    let packetId: number | undefined;
    if (qos === 1) {
      packetId = this.#takePacketId();
      this.#statusIds.add(packetId);
    }
    client.publish({ topic: this.statusTopic, payload, qos, retain: true, packetId });
    const o = this.#o;
    this.#o.report(`${qos === 1 ? "status online" : "heartbeat"} bytes=${payload.length} log_depth=${o.log.nextSeq - o.log.tailSeq} dropped=${o.log.dropped}`);
    return true;
  }
}

/** Resolves with what the entry it adds to waiters is called with (true by default), or false after timeoutMs; the entry leaves the list either way. */
function waitOn(waiters: ((ok?: boolean) => void)[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      Timer.clear(timer);
      const at = waiters.indexOf(waiter);
      if (at >= 0) waiters.splice(at, 1);
      resolve(ok);
    };
    const waiter = (ok = true) => done(ok);
    const timer = Timer.set(() => done(false), timeoutMs);
    waiters.push(waiter);
  });
}
