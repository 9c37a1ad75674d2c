// The node: every sampling period, read all sensors into one window, store it durably in the flash
// log, and let the uplink deliver the log to the broker.

import Timer from "timer";
import type { BrokerSettings, NodeConfig } from "./config";
import { FlashLog, LogFullError, type FlashDevice } from "./log/flash-log";
import { CHANNELS, channelNumber, decodeReading, encodeReport, type ChannelSample, type Quality } from "./telemetry/reading";
import { Uplink } from "./uplink";
import { ReconnectSchedule } from "./session/reconnect-schedule";
import { PublishLimiter } from "./session/publish-limiter";
import { jitterRandom } from "./session/jitter-random";
import { FIRMWARE_VERSION } from "./version";
import type { SocketCallbacks, StreamSocket } from "./mqtt/client";
import { BrokerResolver, type ResolveFunction } from "./net/broker-resolver";
import { AlarmMonitor, type AlarmEvent } from "./pipeline/alarms";
import { RECORD_ALARM, decodeAlarm, encodeAlarm, recordType } from "./telemetry/alarm-record";
import { ReportWindows } from "./pipeline/windows";
import { MonotonicClock, TimeBase } from "./pipeline/time-base";
import type { PipelineConfig } from "./pipeline/channel-config";
import type { RuntimeSettings } from "./fleet/runtime-settings";
import { CommandDispatcher, CommandRefused, type IdMemory } from "./fleet/commands";
import type { ResetInfo } from "./fleet/reset-reason";
import { CertificateExpiry } from "./fleet/certificate-expiry";
import { utf8Encode } from "./util/utf8";

/** A sensor as the node sees it: its quantities and a sample() that never throws. */
export interface SensorSource {
  name: string;
  quantities: readonly string[];
  sample(): { quality: Quality; reason?: string; values: Record<string, number> };
  /** Stops the driver's own timers and releases its bus. */
  close(): void;
  /** Whether its driver is running (a new image's self-test waits for every sensor). */
  readonly started?: boolean;
}

export type SampleResult = ReturnType<SensorSource["sample"]>;

/** A started driver, adapted to the node's quantities. */
export interface SensorHandle {
  sample(): SampleResult;
  close(): void;
}

/**
 * A sensor whose driver may fail to start (absent, unpowered, wrong chip): until it starts, every
 * sample is bad with reason "absent" and the start is retried every retryEvery samples, so one
 * broken sensor never stops the node.
 */
export function supervisedSensor(
  name: string, quantities: readonly string[], start: () => SensorHandle, log: (line: string) => void, retryEvery = 30,
): SensorSource {
  let handle: SensorHandle | undefined;
  let closed = false;
  let countdown = 0;
  const tryStart = () => {
    try {
      handle = start();
      log(`${name}: started`);
    } catch (error) {
      log(`${name}: cannot start (${error instanceof Error ? error.message : error}); retrying every ${retryEvery} samples`);
    }
  };
  tryStart();
  return {
    name,
    quantities,
    get started() {
      return handle !== undefined;
    },
    sample() {
      if (!handle && !closed && ++countdown >= retryEvery) {
        countdown = 0;
        tryStart();
      }
      if (!handle) return { quality: "bad", reason: "absent", values: {} };
      try {
        return handle.sample();
      } catch (error) {
        // Drivers do not throw; if one ever does, the window still gets stored (an escaping
        // exception in a timer callback would restart an ESP32).
        log(`${name}: sample failed (${error instanceof Error ? error.message : error})`);
        return { quality: "bad", reason: "driver", values: {} };
      }
    },
    close() {
      closed = true;
      handle?.close();
      handle = undefined;
    },
  };
}

export interface RotationSession {
  pause(): Promise<boolean>;
  resume(): void;
  /** A result on the response topic: {"id":null,"command":"rotate","ok":...}. */
  report(ok: boolean, body: Record<string, string | number | null>): void;
}

export interface NodeDependencies {
  config: NodeConfig;
  boot: number;
  sensors: SensorSource[];
  /** Closes the buses the sensors shared, after the sensors are closed. */
  closeBuses?(): void;
  flash: FlashDevice;
  /** A TLS connection to the broker at this IPv4 address. */
  openSocket(callbacks: SocketCallbacks, address: string): StreamSocket;
  /** The platform's DNS lookup (Net.resolve on Moddable). */
  resolve: ResolveFunction;
  /** The broker address that last worked, kept across restarts for when DNS is down. */
  brokerMemory?: { recall(host: string): string | undefined; remember(host: string, address: string): void };
  writeReserve: number;
  log(line: string): void;
  /** Free heap, RSSI and the like, where the platform reports them (for the heartbeat). */
  platformStatus?(): Record<string, number | undefined>;
  /** Sets the clock if it was not set at boot; onSet is called once it is. */
  clockSync?: { start(onSet: () => void): void; stop(): void };
  /** The platform's millisecond counter (Time.ticks: it wraps); Date.now() where there is none. */
  ticks?(): number;
  /** Where the mapping from boot time to UTC is kept across restarts (src/pipeline/time-base.ts). */
  timeAnchors?: { load(): string | undefined; save(text: string): void };
  /** The client certificate (DER), for its days left in the status and the warning from 30 days out. */
  certificate?: Uint8Array;
  /** Command request ids already handled, kept across restarts (a redelivered reboot must not loop). */
  commandIds?: IdMemory;
  /** Why this boot happened, for the online status (src/fleet/reset-reason.ts). */
  reset?: ResetInfo;
  /**
   * Starts a certificate rotation (the rotate command); a node without a stored identity refuses it.
   * The session lets it close the uplink for the trial connection (same client id) and report the outcome.
   */
  rotate?(session: RotationSession): Record<string, string | number | boolean | null>;
  /** Restarts the device (the reboot command); a target without one refuses the command. `why` is kept for the next boot's status. */
  restart?(why: string): void;
  /** Other incoming messages (the shadow): handled here when the topic is theirs, else false. */
  onMessage?(topic: string, payload: Uint8Array): boolean;
  /** Extra subscriptions (the shadow's topics), and what to do when a session is up. */
  subscriptions?(): string[];
  onSession?(send: (topic: string, payload: Uint8Array) => void): void;
  /** The running image's version, where it is not this build's FIRMWARE_VERSION (a simulated update's image). */
  firmware?: string;
}

/** Before this the clock was never set: certificate dates cannot be checked. */
export const EARLIEST_VALID_TIME = Date.UTC(2025, 0, 1);
/** How long a stop waits for the connection to close after DISCONNECT (a stuck socket is dropped sooner). */
const CLOSE_WAIT_MS = 3000;

export interface NodeStats {
  sampled: number;
  /** Records of reports stored or attempted (a sample whose windows sent nothing adds none). */
  reported: number;
  /** Windows refused by a full log (refuse policy) or lost to a failing flash. */
  notStored: number;
  /** Records the log dropped when full (drop-oldest policy), durable across restarts. */
  dropped: number;
  /** Records stored and not yet acknowledged. */
  pending: number;
  published: number;
  acknowledged: number;
  readingsAcknowledged: number;
  connects: number;
  reconnects: number;
  lastError: string;
  /** Alarms raised on this run, alarm messages first published, and acknowledged (raise and clear). */
  alarmsRaised: number;
  alarmsPublished: number;
  alarmsAcknowledged: number;
}

/** A node that has not started yet (still provisioning its identity): nothing sampled or sent. */
export function idleStats(lastError = ""): NodeStats {
  return {
    sampled: 0, reported: 0, notStored: 0, dropped: 0, pending: 0, published: 0, acknowledged: 0, readingsAcknowledged: 0,
    connects: 0, reconnects: 0, lastError, alarmsRaised: 0, alarmsPublished: 0, alarmsAcknowledged: 0,
  };
}

export interface RunningNode {
  readonly stats: NodeStats;
  /**
   * A new validated configuration (the shadow), applied at once: channels' windows restart under it,
   * raised alarms stay raised where their limit remains (and are cleared where it went), batches
   * collected from now on follow the new flush bound, size and heartbeat.
   */
  applySettings(settings: RuntimeSettings): void;
  /** Stops sampling, publishes everything stored and waits up to drainMs for its acknowledgement. */
  stop(drainMs?: number): Promise<NodeStats>;
  /** Connected to the broker now. */
  readonly online?: boolean;
}

export function startNode(deps: NodeDependencies): RunningNode {
  const { config, log } = deps;
  const flashLog = new FlashLog(deps.flash, { whenFull: config.logWhenFull, onEvent: log });
  const droppedAtStart = flashLog.dropped;
  const clock = new MonotonicClock(deps.ticks ?? (() => Date.now()));
  const timeBase = new TimeBase(deps.boot, deps.timeAnchors?.load());
  const keepTime = (text: string) => {
    try {
      deps.timeAnchors?.save(text);
    } catch (error) {
      log(`time: cannot keep the clock's anchor (${error instanceof Error ? error.message : error})`);
    }
  };
  noteUnsyncedBoot(flashLog, timeBase, keepTime);
  /** True once the clock is set; the first time, samples switch from boot time to UTC. */
  const clockIsSet = (): boolean => {
    if (timeBase.synced) return true;
    if (Date.now() < EARLIEST_VALID_TIME) return false;
    keepTime(timeBase.set(Date.now(), clock.now()));
    log(`time: clock set; boot ${deps.boot} began at ${new Date(timeBase.resolve({ boot: deps.boot, ms: 0 })!.ts).toISOString()}`);
    return true;
  };
  const uplink = new Uplink({
    log: flashLog,
    device: config.thing,
    boot: deps.boot,
    firmware: deps.firmware ?? FIRMWARE_VERSION,
    broker: new BrokerResolver({
      host: config.broker.host,
      fixedAddress: config.broker.address,
      timeoutMs: config.broker.dnsTimeoutMs,
      resolve: deps.resolve,
      timers: { set: (callback, ms) => Timer.set(callback, ms), clear: (timer) => Timer.clear(timer as Timer) },
      lastGood: deps.brokerMemory?.recall(config.broker.host),
      onNewAddress: (address) => deps.brokerMemory?.remember(config.broker.host, address),
    }),
    openSocket: deps.openSocket,
    writeReserve: deps.writeReserve,
    connect: { clientId: config.thing, keepAliveSeconds: config.keepAliveSeconds },
    topicRoot: config.topicRoot,
    maxBatchBytes: config.maxBatchBytes,
    flushIntervalMs: config.flushIntervalMs,
    inFlightWindow: config.inFlightWindow,
    heartbeatMs: config.heartbeatMs,
    // Seeded per device and boot: where Math.random repeats at every start (the simulator), devices
    // would otherwise back off in lockstep.
    schedule: new ReconnectSchedule(config.backoff, jitterRandom(`${config.thing}/${deps.boot}/${Date.now()}`)),
    limiter: new PublishLimiter(),
    clockValid: () => clockIsSet(),
    subscriptions: () => [commands.subscription, ...(deps.subscriptions?.() ?? [])],
    onMessage: (topic, payload) => {
      const response = commands.handle(topic, payload);
      if (response) {
        log(`command ${response.summary}: ${response.payload}`);
        uplink.sendControl(response.topic, utf8Encode(response.payload));
      } else if (!deps.onMessage?.(topic, payload)) log(`message on ${topic} ignored: no handler`);
    },
    onSession: () => deps.onSession?.((topic, payload) => uplink.sendControl(topic, payload)),
    resolveTime: (t) => timeBase.resolve(t),
    columns: reportColumns(config.pipeline),
    readingIntervalMs: config.sampleIntervalMs,
    platformStatus: () => ({ ...deps.reset, ...certificateStatus(), ...deps.platformStatus?.() }),
    now: () => Date.now(),
    report: log,
  });
  const channels = deps.sensors.map((sensor) => sensor.quantities.map((q) => channelNumber(sensor.name, q)));
  let sampled = 0;
  /** Sampling periods that closed at least one channel's window with something to send. */
  let reported = 0;
  let notStored = 0;

  const stats = (): NodeStats => {
    const u = uplink.stats;
    return {
      sampled, reported, notStored, dropped: flashLog.dropped - droppedAtStart, pending: flashLog.pendingRecords,
      published: u.published, acknowledged: u.acknowledged, readingsAcknowledged: u.readingsAcknowledged,
      connects: u.connects, reconnects: u.reconnects, lastError: u.lastError,
      alarmsRaised, alarmsPublished: u.alarms, alarmsAcknowledged: u.alarmsAcknowledged,
    };
  };

  let expiry: CertificateExpiry | undefined;
  try {
    if (deps.certificate) expiry = new CertificateExpiry(deps.certificate);
  } catch (error) {
    log(`certificate: cannot read its validity (${error instanceof Error ? error.message : error}); no days left in the status`);
  }
  /** cert_days_left once the clock is set, and cert_warning from 30 days out (logged once a day). */
  const certificateStatus = (): Record<string, number | string | undefined> => {
    if (!expiry) return {};
    const now = Date.now();
    const warning = expiry.check(now, clockIsSet());
    if (warning) log(`certificate: ${warning.event}, ${warning.days_left} days left (not after ${warning.not_after}); rotate the identity`);
    const days = expiry.daysLeft(now, clockIsSet());
    return { cert_days_left: days, cert_warning: days !== undefined && days <= 30 ? (days < 0 ? "certificate-expired" : "certificate-expiring") : undefined };
  };
  const startedAt = clock.now();
  let identifying: Timer | undefined;
  let restarting: Timer | undefined;
  const commands = new CommandDispatcher({
    topicRoot: config.topicRoot,
    now: () => Date.now(),
    clockValid: () => clockIsSet(),
    memory: deps.commandIds,
    handlers: {
      flush: () => ({ waiting: uplink.flushNow() }),
      resend: (from) => {
        if (from < flashLog.tailSeq) throw new CommandRefused(`records before ${flashLog.tailSeq} were acknowledged and have left the log`);
        if (from >= flashLog.nextSeq) throw new CommandRefused(`no record ${from} yet (the next is ${flashLog.nextSeq})`);
        return { batches: uplink.resendFrom(from) };
      },
      reboot: (delayS) => {
        const restart = deps.restart;
        if (!restart) throw new CommandRefused("this target cannot restart itself");
        if (restarting) throw new CommandRefused("a restart is already scheduled");
        restarting = Timer.set(() => restart("command"), delayS * 1000);
        return { in_s: delayS };
      },
      identify: (seconds) => {
        // No LED is configured: the log says who this is, once a second.
        if (identifying) Timer.clear(identifying);
        let left = seconds;
        identifying = Timer.repeat(() => {
          log(`identify: ${config.thing} (${left} s left)`);
          if (--left <= 0 && identifying) {
            Timer.clear(identifying);
            identifying = undefined;
          }
        }, 1000);
        return { seconds };
      },
      rotate: () => {
        if (!deps.rotate) throw new CommandRefused("this node's identity is built in (no claim, no identity partition): nothing to rotate");
        return deps.rotate({
          pause: () => uplink.pause(),
          resume: () => uplink.resume(),
          report: (ok, body) => uplink.sendControl(commands.responseTopic, utf8Encode(JSON.stringify({ id: null, command: "rotate", ok, ...(ok ? { result: body } : { error: body }) }))),
        });
      },
      acknowledgeAlarm: () => {
        throw new CommandRefused("alarms are not latched: each clears on its own below its clear value");
      },
      diagnostics: () => {
        const u = uplink.stats;
        return {
          boot: deps.boot, firmware: deps.firmware ?? FIRMWARE_VERSION, uptime_s: Math.floor((clock.now() - startedAt) / 1000),
          log_depth: flashLog.nextSeq - flashLog.tailSeq, dropped: flashLog.dropped, sampled, alarms_raised: alarmsRaised,
          connects: u.connects, reconnects: u.reconnects, last_error: u.lastError || null, reset: deps.reset?.reset ?? null,
          clock_set: timeBase.synced,
        };
      },
    },
  });
  let windows = new ReportWindows(config.pipeline, config.sampleIntervalMs);
  let currentChannels: PipelineConfig = config.pipeline;
  // Sensor faults are watched on the channels the node reports or has limits for.
  const watched = (p: PipelineConfig, w: ReportWindows) => [...new Set([...w.channels, ...p.alarms.channels.keys()])];
  const alarms = new AlarmMonitor(config.pipeline.alarms, watched(config.pipeline, windows));
  let alarmsRaised = 0;
  /** Every channel's sample through its alarm; a raise or clear is stored as its own record and sent first. */
  const checkAlarms = (window: Map<number, ChannelSample>, ts: number) => {
    for (const [n, sample] of window) {
      // At the stored resolution: the alarm says what the reading says.
      const value = sample.value === undefined ? undefined : Math.round(sample.value * 10 ** CHANNELS[n].decimals) / 10 ** CHANNELS[n].decimals;
      const event = alarms.update(n, sample.quality === "good", value, ts);
      if (event) storeAlarm(event);
    }
  };
  const storeAlarm = (event: AlarmEvent) => {
    if (event.state === "raised") alarmsRaised++;
    const stamp = timeBase.stamp(event.ts);
    if (typeof stamp === "number") event.ts = stamp;
    else {
      event.sinceBoot = stamp;
      event.ts = 0;
    }
    const { sensor, quantity } = CHANNELS[event.channel];
    const what = `alarm ${event.state} ${sensor}.${quantity} ${event.kind}${event.value !== undefined ? ` value=${event.value}` : ""}${event.limit !== undefined ? ` limit=${event.limit}` : ""}`;
    try {
      const seq = flashLog.append(encodeAlarm(event));
      log(`${what} seq=${seq}`);
      uplink.alarmStored(seq);
    } catch (error) {
      log(`${what} NOT STORED: ${error instanceof Error ? error.message : error}`);
    }
  };

  const sampleAll = () => {
    clockIsSet();
    const ms = clock.now();
    const window = new Map<number, ChannelSample>();
    const described: string[] = [];
    deps.sensors.forEach((sensor, i) => {
      const s = sensor.sample();
      sensor.quantities.forEach((quantity, k) => {
        const value = s.values[quantity];
        const number = typeof value === "number" && Number.isFinite(value);
        const good = s.quality === "good" && number;
        // An uncertain sample keeps its value (a BME280 outside its operating range); a bad one never has one.
        window.set(channels[i][k], good ? { quality: "good", value } : s.quality === "uncertain" && number
          ? { quality: "uncertain", reason: s.reason ?? "range", value }
          : { quality: s.quality === "good" ? "bad" : s.quality, reason: s.reason ?? "range" });
      });
      described.push(`${sensor.name} ${describe(s, channels[i])}`);
    });
    sampled++;
    const reports = windows.sample(window, ms);
    let where = "nothing due";
    if (reports) {
      reported++;
      try {
        const payload = encodeReport(timeBase.stamp(ms), reports);
        const seq = flashLog.append(payload);
        where = `seq=${seq} stored ${payload.length} bytes`;
      } catch (error) {
        notStored++;
        where = error instanceof LogFullError ? "NOT STORED: log full (refuse policy)" : `NOT STORED: ${error instanceof Error ? error.message : error}`;
      }
    }
    log(`sample ${where}: ${described.join("; ")}`);
    checkAlarms(window, ms);
    uplink.pump();
  };

  log(`${config.thing} boot ${deps.boot}: sampling every ${config.sampleIntervalMs} ms, batches up to ${config.maxBatchBytes} bytes or ${config.flushIntervalMs} ms`);
  const waiting = flashLog.pendingRecords;
  log(`flash log: ${flashLog.sectorCount} sectors, ${waiting} records waiting${waiting > 0 ? ` (seq ${flashLog.tailSeq}..${flashLog.nextSeq - 1})` : ""}, ${flashLog.dropped} dropped since format`);
  log(`broker ${describeBroker(config.broker)}`);
  uplink.start();
  // The uplink does not try TLS before the clock is set: connect as soon as it is.
  deps.clockSync?.start(() => {
    clockIsSet();
    uplink.connectSoon();
  });
  // Chips convert on their own and a sample reads the latest result. One read half a period in,
  // discarded, lets each finish its first conversion (the MAX31865 ends its start-up lead check
  // there), so the first window holds values instead of "no-data".
  let settle: Timer | undefined = Timer.set(() => {
    settle = undefined;
    for (const sensor of deps.sensors) sensor.sample();
  }, config.sampleIntervalMs / 2);
  const sampler = Timer.repeat(sampleAll, config.sampleIntervalMs);

  return {
    get stats() {
      return stats();
    },
    get online() {
      return uplink.connected;
    },
    applySettings(settings: RuntimeSettings) {
      // Windows under way are kept unless the channels' reporting changed (a long window's samples
      // would otherwise be thrown away by a change to, say, the heartbeat).
      if (!sameReporting(currentChannels, settings.pipeline)) windows = new ReportWindows(settings.pipeline, config.sampleIntervalMs);
      currentChannels = settings.pipeline;
      for (const event of alarms.reconfigure(settings.pipeline.alarms, watched(settings.pipeline, windows), clock.now())) storeAlarm(event);
      uplink.reconfigure({
        flushIntervalMs: settings.flushIntervalMs, heartbeatMs: settings.heartbeatMs, maxBatchBytes: settings.maxBatchBytes,
        columns: reportColumns(settings.pipeline),
      });
      log(`settings applied: ${settings.pipeline.channels.size} channels reported, ${settings.pipeline.alarms.channels.size} with limits, flush ${settings.flushIntervalMs} ms, batches up to ${settings.maxBatchBytes} bytes, heartbeat ${settings.heartbeatMs / 1000} s`);
    },
    async stop(drainMs = 10_000) {
      Timer.clear(sampler);
      if (settle) Timer.clear(settle);
      for (const t of [identifying, restarting]) if (t) Timer.clear(t);
      deps.clockSync?.stop();
      for (const sensor of deps.sensors) sensor.close();
      deps.closeBuses?.();
      const drained = await uplink.drain(drainMs);
      if (!drained) {
        const why = uplink.connected ? `after waiting ${drainMs} ms` : "with no connection to the broker";
        log(`stop: ${flashLog.pendingRecords} records unacknowledged ${why}; they stay in flash for the next start`);
      }
      uplink.stop();
      await uplink.whenClosed(CLOSE_WAIT_MS);
      return stats();
    },
  };
}

/** The report columns (value, min, max channel masks) the configuration asks for: each batch's legend. */
function reportColumns(pipeline: PipelineConfig): [number, number, number] {
  const masks: [number, number, number] = [0, 0, 0];
  for (const [n, r] of pipeline.channels) {
    masks[0] |= 1 << n;
    if (r.min) masks[1] |= 1 << n;
    if (r.max) masks[2] |= 1 << n;
  }
  return masks;
}

/** Whether two configurations report the same channels the same way. */
function sameReporting(a: PipelineConfig, b: PipelineConfig): boolean {
  if (a.channels.size !== b.channels.size) return false;
  for (const [n, r] of a.channels) {
    const o = b.channels.get(n);
    if (!o || o.intervalMs !== r.intervalMs || o.min !== r.min || o.max !== r.max || o.deadband !== r.deadband || o.deadbandPct !== r.deadbandPct || o.maxSilentMs !== r.maxSilentMs) return false;
  }
  return true;
}

/**
 * If the last record stored before this boot was dated by its boot's clock and that boot never set
 * the clock, remember when it ended: its times can then be estimated (src/pipeline/time-base.ts).
 */
function noteUnsyncedBoot(log: FlashLog, timeBase: TimeBase, keep: (text: string) => void): void {
  if (log.pendingRecords === 0) return;
  try {
    const [last] = log.read(log.nextSeq - 1, 1);
    if (!last) return;
    const sinceBoot = recordType(last.payload) === RECORD_ALARM ? decodeAlarm(last.seq, last.payload).sinceBoot : decodeReading(last.seq, last.payload).sinceBoot;
    if (sinceBoot && timeBase.resolve(sinceBoot) === undefined) keep(timeBase.previousBootEnded(sinceBoot.boot, sinceBoot.ms));
  } catch {
    // An undecodable last record: its own delivery reports it.
  }
}

/** "temperature=22.51 humidity=45.20", at each channel's stored resolution. */
function describe(s: SampleResult, channelNumbers: number[]): string {
  const parts: string[] = [];
  for (const n of channelNumbers) {
    const { quantity, decimals } = CHANNELS[n];
    const value = s.values[quantity];
    if (typeof value === "number") parts.push(`${quantity}=${value.toFixed(decimals)}`);
  }
  if (s.quality !== "good") parts.push(`${s.quality}${s.reason ? ` (${s.reason})` : ""}`);
  return parts.join(" ") || "-";
}

/** "a1b2-ats.iot.eu-west-1.amazonaws.com:443 (TLS server name ..., ALPN x-amzn-mqtt-ca)". */
function describeBroker(b: BrokerSettings): string {
  const notes = [`TLS server name ${b.serverName}`];
  if (b.alpn) notes.push(`ALPN ${b.alpn}`);
  if (b.address) notes.push(`fixed address ${b.address}, no DNS`);
  return `${b.host}:${b.port} (${notes.join(", ")})`;
}
