// Firmware entry point: wires the platform's modules (ECMA-419 IO, sockets, resources, preferences)
// to the node. The same file runs on ESP32, on the simulator and on the host target; the manifest
// (or the host loader) decides what each imported module is.

import config from "mc/config";
import Preference from "preference";
import Resource from "Resource";
import I2C from "embedded:io/i2c";
import SPI from "embedded:io/spi";
import Digital from "embedded:io/digital";
import Timer from "timer";
import TCP from "embedded:io/socket/tcp";
import TLSSocket from "embedded:io/socket/tcp/tls";
import Net from "net";
import SNTP from "sntp";
import Time from "time";
import { parseConfig, type NodeConfig, type SensorName } from "./config";
import { EARLIEST_VALID_TIME, idleStats, startNode, supervisedSensor, type RotationSession, type RunningNode, type SensorSource } from "./app";
import { CommandRefused } from "./fleet/commands";
import { sha256, toHex } from "./ota/sha256";
import { IdentityStore, type Identity } from "./fleet/identity-store";
import { ProvisioningMachine, type Credentials } from "./fleet/provisioning";
import { MqttProvisioningLink } from "./fleet/mqtt-link";
import { BrokerResolver } from "./net/broker-resolver";
import { ShadowAgent } from "./fleet/shadow";
import { utf8Encode } from "./util/utf8";
import type { NodeConfig as Settings } from "./config";
import Sht3x, { rateForSamplingPeriod } from "../drivers/sht3x/sht3x";
import Bme280 from "../drivers/bme280/bme280";
import Max31865 from "../drivers/max31865/max31865";
import Adxl345, { type Adxl345Sample } from "../drivers/adxl345/adxl345";
import type { DigitalConstructor, I2CConstructor, SPIDevice } from "../drivers/bus";
import { SharedSPI } from "../drivers/shared-spi";
import type { SampleQuality } from "../drivers/sample";
import { guardedTCP } from "./net/guarded-tcp";
import { ClockSync, sntpRetryDelay } from "./net/clock-sync";
import { abortNote, describeReset, restartNote } from "./fleet/reset-reason";
import "system"; // defines globalThis.System (typings/system.d.ts)
import getResetReason from "resetReason";
import openOtaPlatform from "ota-platform";
import { UpdateService } from "./ota/update-service";
import { flashPartition } from "./flash-partition";
import { FIRMWARE_VERSION } from "./version";

/** Each TLS write becomes one record: leave room for its header, IV, MAC and padding. */
const TLS_RECORD_OVERHEAD = 96;

function log(line: string): void {
  trace(`${line}\n`);
}

/**
 * The broker address that last worked, one preference "host address": on a boot while DNS is down
 * the node still reaches its broker. Written only when the address changes (flash wear).
 */
const brokerMemory = {
  recall(host: string): string | undefined {
    const saved = Preference.get("iiot", "broker_ip");
    return typeof saved === "string" && saved.startsWith(`${host} `) ? saved.slice(host.length + 1) : undefined;
  },
  remember(host: string, address: string): void {
    try {
      Preference.set("iiot", "broker_ip", `${host} ${address}`);
    } catch (error) {
      log(`dns: cannot keep ${address} for later (${error instanceof Error ? error.message : error})`);
    }
  },
};

/** How recent boots' monotonic times map to UTC (src/pipeline/time-base.ts): one short preference. */
const timeAnchors = {
  load(): string | undefined {
    const saved = Preference.get("iiot", "time");
    return typeof saved === "string" ? saved : undefined;
  },
  save(text: string): void {
    Preference.set("iiot", "time", text);
  },
};

/** Command request ids already handled: a reboot the broker delivers again must not restart the node again. */
const commandIds = {
  load(): string | undefined {
    const saved = Preference.get("iiot", "cmd_ids");
    return typeof saved === "string" ? saved : undefined;
  },
  save(ids: string): void {
    Preference.set("iiot", "cmd_ids", ids);
  },
};

/**
 * Why this boot happened, from the note the last run left (a requested restart, or an abort), used
 * once, and the platform's own reason where there is one (ESP-IDF's esp_reset_reason(); -1 elsewhere).
 */
function resetInfo() {
  const note = Preference.get("iiot", "reset_note");
  if (note !== undefined) {
    try {
      Preference.delete("iiot", "reset_note");
    } catch {
      // kept: the next boot reports it again, which says more than nothing
    }
  }
  const { reason } = getResetReason();
  return describeReset(reason >= 0 ? reason : undefined, note);
}

function nextBootId(): number {
  const previous = Preference.get("iiot", "boot");
  const boot = (typeof previous === "number" ? previous : 0) + 1;
  Preference.set("iiot", "boot", boot);
  return boot;
}

type Values = Record<string, number>;

/** A started driver: ECMA-419 sample() with quality, and close(). */
interface Driver<S extends SampleQuality> {
  sample(): S;
  close(): void;
}

/** A driver as the node's sensor: supervised, its sample mapped to the node's quantities. */
function driverSource<S extends SampleQuality>(
  name: string, quantities: readonly string[], open: () => Driver<S>, values: (sample: S) => Values,
): SensorSource {
  return supervisedSensor(name, quantities, () => {
    const driver = open();
    return {
      sample: () => {
        const s = driver.sample();
        return { quality: s.quality, reason: s.reason, values: values(s) };
      },
      close: () => driver.close(),
    };
  }, log);
}

/** The ADXL345's FIFO holds 40 ms at 800 Hz: drain it every 20 ms, outside the sampling tick. */
const ACCELEROMETER_DRAIN_MS = 20;

/** An ADXL345 with the timer that drains its FIFO, which stops when the driver closes. */
function drainedAdxl345(sensor: Adxl345): Driver<Adxl345Sample> {
  let drainer: Timer;
  try {
    drainer = Timer.repeat(() => sensor.drain(), ACCELEROMETER_DRAIN_MS);
  } catch (error) {
    sensor.close();
    throw error;
  }
  return {
    sample: () => sensor.sample(),
    close: () => {
      Timer.clear(drainer);
      sensor.close();
    },
  };
}

/** Mode 3: the ADXL345 needs it and the MAX31865 allows it (modes 1 and 3). */
const SPI_MODE = 3;

/**
 * The SPI chips share one bus and SPI instance, each selected by a digital output (see
 * drivers/shared-spi.ts). Opened once: the sensors' restarts never reopen the bus.
 */
function sharedSPI(settings: NodeConfig): SharedSPI {
  const { port, clock, out, in: input, hz } = settings.spi;
  // The selects of the configured SPI chips, driven inactive for the bus's lifetime.
  const selects = [];
  if (settings.sensors.includes("max31865")) selects.push({ pin: settings.rtd.select });
  if (settings.sensors.includes("adxl345")) selects.push({ pin: settings.accelerometer.select });
  const spi = new SPI({ port, clock, out, in: input, hz, mode: SPI_MODE }) as unknown as SPIDevice;
  // On failure SharedSPI closes what it opened, the SPI instance included.
  return new SharedSPI({ spi, hz, mode: SPI_MODE, digital: Digital as unknown as DigitalConstructor, selects });
}

/**
 * The configured sensors, each on its bus, and what closes the buses once the sensors are closed.
 * Drivers open inside their supervised start, so a bus that cannot open makes its sensors absent
 * (and retried), never the node. The SDK's I2C, SPI and Digital have close() and Digital takes
 * initialValue; their typings leave those out, hence the casts.
 */
function sensorSources(settings: NodeConfig): { sensors: SensorSource[]; closeBuses(): void } {
  const i2c = I2C as unknown as I2CConstructor;
  let shared: SharedSPI | undefined;
  const spiBus = () => (shared ??= sharedSPI(settings));
  const { rtd, accelerometer } = settings;
  const start: Record<SensorName, () => SensorSource> = {
    sht3x: () => driverSource("sht3x", ["temperature", "humidity"],
      () => new Sht3x({ sensor: { io: i2c, ...settings.i2c }, measurementsPerSecond: rateForSamplingPeriod(settings.sampleIntervalMs) }),
      (s): Values => ({ ...(s.thermometer && { temperature: s.thermometer.temperature }), ...(s.hygrometer && { humidity: s.hygrometer.humidity }) })),
    // The reference device logs the BME280's pressure; its temperature and humidity duplicate the SHT3x.
    bme280: () => driverSource("bme280", ["pressure"],
      () => new Bme280({ sensor: { io: i2c, ...settings.i2c, address: 0x76 } }),
      (s): Values => (s.barometer ? { pressure: s.barometer.pressure } : {})),
    max31865: () => driverSource("max31865", ["temperature"],
      () => new Max31865({
        sensor: { io: spiBus().io, select: rtd.select }, rtdNominal: rtd.nominal, referenceOhms: rtd.referenceOhms, wires: rtd.wires, filterHz: rtd.filterHz,
        leadCheckEvery: rtd.leadCheckEvery,
      }),
      (s): Values => (s.thermometer ? { temperature: s.thermometer.temperature } : {})),
    adxl345: () => driverSource("adxl345", ["rms_x", "rms_y", "rms_z", "peak"],
      () => drainedAdxl345(new Adxl345({ sensor: { io: spiBus().io, select: accelerometer.select }, range: accelerometer.range })),
      ({ vibration: v }): Values => (v ? { rms_x: v.rms.x, rms_y: v.rms.y, rms_z: v.rms.z, peak: v.peak } : {})),
  };
  return {
    sensors: settings.sensors.map((name) => start[name]()),
    closeBuses() {
      shared?.close();
      shared = undefined;
    },
  };
}

export default function main(): RunningNode {
  // XS calls a global abort() before it restarts an ESP32 on an abort (manifest define xs.abortHook):
  // the note lets the next boot's status say crash, and what it was, instead of a bare software reset.
  // Returning nothing lets the abort go on.
  (globalThis as { abort?: unknown }).abort = (message: string, exception?: unknown) => {
    try {
      Preference.set("iiot", "reset_note", abortNote(String(message), exception instanceof Error ? exception.message : undefined));
    } catch {
      // the abort goes on either way
    }
  };
  try {
    return start();
  } catch (error) {
    // XS reports an uncaught exception only as "unhandled exception": say what it was first.
    log(`fatal: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

/** The node's own certificate and key: resources built in, or an identity provisioning stored. */
type ClientIdentity = { certificate: ArrayBuffer | InstanceType<typeof Resource>; key: ArrayBuffer | InstanceType<typeof Resource> };

function start(): RunningNode {
  const settings = parseConfig(config);
  const p = settings.provisioning;
  if (!p) return startWith(settings, { certificate: new Resource(settings.resources.certificate), key: new Resource(settings.resources.key) });
  const store = new IdentityStore(flashPartition(p.partition));
  const identity = store.active();
  // The claim is used only until the node has its own identity; then never again.
  if (identity) return startWith(settings, { certificate: bytes(identity.certificate), key: bytes(identity.key) }, store);
  return provisionThenStart(settings, store);
}

const bytes = (data: Uint8Array): ArrayBuffer => data.slice().buffer as ArrayBuffer;

/**
 * Provisioning by claim (src/fleet/README.md): the node gets its own certificate over the claim
 * connection, stores it, and starts as itself. Until then it samples nothing: what it would sample
 * has nowhere to go it could be trusted with.
 */
/**
 * One run of the provisioning machine (src/fleet/provisioning.ts) over its own MQTT connection to the
 * broker: "claim" for the first identity, "rotate" for a new one over the node's current identity.
 * Returns a stop function.
 */
function runProvisioning(
  settings: Settings, store: IdentityStore, mode: "claim" | "rotate",
  done: (identity: Identity, replaced: string) => void, failed?: (why: string) => void,
): { stop(): void; lastError(): string } {
  const p = settings.provisioning!;
  let stopped = false;
  let machine: ProvisioningMachine | undefined;
  const GuardedTCP = guardedTCP(TCP, log) as unknown as typeof TCP;
  const timers = { set: (callback: () => void, ms: number) => Timer.set(callback, ms), clear: (timer: unknown) => Timer.clear(timer as Timer) };
  const resolver = new BrokerResolver({
    host: settings.broker.host, fixedAddress: settings.broker.address, timeoutMs: settings.broker.dnsTimeoutMs,
    resolve: (host, callback) => Net.resolve(host, callback), timers, lastGood: brokerMemory.recall(settings.broker.host),
  });
  let lookups = 0;
  const begin = () => resolver.lookup((result) => {
    if (stopped) return;
    if ("error" in result) {
      // A rotation holds the uplink closed: it gives up after a few tries and the node goes on as it was.
      if (mode === "rotate" && ++lookups >= 5) {
        stopped = true;
        failed?.(`the broker's address: ${result.error}`);
        return;
      }
      log(`provisioning: ${result.error}; retrying in 5 s`);
      Timer.set(begin, 5000);
      return;
    }
    const link = new MqttProvisioningLink({
      writeReserve: TLS_RECORD_OVERHEAD,
      keepAliveSeconds: settings.keepAliveSeconds,
      openSocket: (credentials: Credentials, callbacks) =>
        new TLSSocket({
          TCP: { io: GuardedTCP },
          address: result.address,
          port: settings.broker.port,
          host: settings.broker.serverName,
          secure: tlsSecure(settings, credentials.kind === "claim"
            ? { certificate: new Resource(p.claimCertificate), key: new Resource(p.claimKey) }
            : { certificate: bytes(credentials.identity.certificate), key: bytes(credentials.identity.key) }),
          ...callbacks,
        }),
    });
    machine = new ProvisioningMachine({
      store, link, timers, mode, thingName: settings.thing, templateName: p.template, parameters: p.parameters,
      nowSeconds: () => Math.floor(Date.now() / 1000),
      retryDelayMs: (failures) => Math.min(300_000, 1000 * 2 ** Math.min(failures, 8)) * (0.5 + Math.random() / 2),
      report: (line) => log(`provisioning: ${line}`),
      onDone: (identity, replaced) => {
        link.close();
        if (!stopped) done(identity, replaced);
      },
      onFailed: (why) => {
        link.close();
        if (!stopped) failed?.(why);
      },
    });
    link.machine = machine;
    machine.start();
  });
  begin();
  return {
    stop() {
      stopped = true;
      machine?.stop();
    },
    lastError: () => machine?.lastError ?? "",
  };
}

/**
 * Provisioning by claim (src/fleet/README.md): the node gets its own certificate over the claim
 * connection, stores it, and starts as itself. Until then it samples nothing: what it would sample
 * has nowhere to go it could be trusted with.
 */
function provisionThenStart(settings: Settings, store: IdentityStore): RunningNode {
  let node: RunningNode | undefined;
  log(`provisioning: no identity of its own yet; asking for one with the claim certificate (template ${settings.provisioning!.template})`);
  const run = runProvisioning(settings, store, "claim", (identity) => {
    log(`provisioning: done; starting as ${settings.thing} with the new identity`);
    node = startWith(settings, { certificate: bytes(identity.certificate), key: bytes(identity.key) }, store);
  });
  return {
    get stats() {
      return node?.stats ?? idleStats(run.lastError());
    },
    applySettings(settings) {
      if (!node) throw new Error("the node is still provisioning its identity");
      node.applySettings(settings);
    },
    async stop(drainMs) {
      run.stop();
      return node ? node.stop(drainMs) : idleStats(run.lastError());
    },
  };
}

/**
 * The rotate command: the uplink closes (the trial connection uses the node's client id), a new
 * identity is made, registered and tried, and only then switched to; the uplink comes back with it,
 * or with the old one if the rotation failed. The outcome goes out on the response topic; the
 * cloud deactivates the replaced certificate only once it reads "identity-rotated".
 */
function rotation(settings: Settings, store: IdentityStore, use: (identity: ClientIdentity) => void) {
  let rotating = false;
  return (session: RotationSession) => {
    if (rotating) throw new CommandRefused("a rotation is under way");
    rotating = true;
    // AWS IoT names a certificate by the SHA-256 of its DER: the id the cloud deactivates.
    const old = store.active();
    const previous = old ? toHex(sha256(old.certificate)) : null;
    const giveUp = (why: string) => {
      rotating = false;
      log(`rotation: failed (${why}); the node keeps its certificate`);
      session.resume();
      session.report(false, { code: "failed", message: `rotation failed: ${why}`.slice(0, 200) });
    };
    void session.pause().then(() => {
      try {
        runProvisioning(settings, store, "rotate", (identity, certificateId) => {
          rotating = false;
          use({ certificate: bytes(identity.certificate), key: bytes(identity.key) });
          log(`rotation: done; the node uses its new certificate ${certificateId}`);
          session.resume();
          session.report(true, { event: "identity-rotated", certificate: certificateId || toHex(sha256(identity.certificate)), replaced: previous });
        }, giveUp);
      } catch (error) {
        giveUp(error instanceof Error ? error.message : String(error));
      }
    });
    return { started: true };
  };
}

function tlsSecure(settings: Settings, identity: ClientIdentity) {
  return {
    certificate: new Resource(settings.resources.ca),
    clientCertificates: [identity.certificate],
    clientKey: identity.key,
    serverName: settings.broker.serverName,
    protocolVersion: 0x303,
    ...(settings.broker.alpn !== undefined && { applicationLayerProtocolNegotiation: settings.broker.alpn }),
  };
}

/**
 * The named shadow "config": the settings an operator changes on a running node (src/fleet/shadow.ts),
 * kept in one preference (one NVS write: a power cut leaves the old text or the new).
 */
function shadowAgent(settings: Settings, node: () => RunningNode | undefined, send: () => ((topic: string, payload: Uint8Array) => void) | undefined): ShadowAgent {
  const shadow = new ShadowAgent({
    thing: settings.thing,
    base: {
      channels: settings.pipelineSource.channels, alarms: settings.pipelineSource.alarms,
      sampleIntervalMs: settings.sampleIntervalMs, sensors: settings.sensors,
      flushIntervalMs: settings.flushIntervalMs, heartbeatMs: settings.heartbeatMs, maxBatchBytes: settings.maxBatchBytes,
    },
    store: {
      load: () => {
        const saved = Preference.get("iiot", "shadow");
        return typeof saved === "string" ? saved : undefined;
      },
      save: (text) => Preference.set("iiot", "shadow", text),
    },
    // A stored configuration is applied in the constructor, before the node exists: it starts with shadow.settings.
    apply: (runtime) => node()?.applySettings(runtime),
    publish: (topic, payload) => {
      const sender = send();
      if (!sender) throw new Error("no session yet");
      sender(topic, utf8Encode(payload));
    },
    log,
  });
  if (shadow.loadProblem) log(`shadow: the stored configuration is not used (${shadow.loadProblem}); starting with the built one`);
  return shadow;
}

/**
 * Firmware updates (src/ota/README.md): the platform's slots and boot control, the update key built
 * in as a resource, and the node's connection for the job and the image. On a board without update
 * slots (a partition table without OTA) every update job is rejected with that reason.
 */
function updateService(settings: Settings, online: () => boolean, send: () => ((topic: string, payload: Uint8Array) => void) | undefined,
  restart: (why: string) => void): UpdateService {
  let platform;
  let unavailable: string | undefined;
  try {
    platform = openOtaPlatform();
  } catch (error) {
    // The node runs on, and says why to every update job (a board flashed with a table without OTA slots).
    unavailable = `this board has no update slots (${error instanceof Error ? error.message : error})`;
  }
  let key: Uint8Array | undefined;
  try {
    key = new Uint8Array(new Resource(settings.resources.updateKey));
  } catch {
    key = undefined; // the service says so and rejects update jobs
  }
  const inner = platform?.boot;
  return new UpdateService({
    thing: settings.thing,
    version: FIRMWARE_VERSION,
    unavailable,
    // The reboot into a new image, and a rollback's, go through the node's clean stop first.
    platform: platform && inner && {
      ...platform,
      boot: {
        runningState: () => inner.runningState(),
        markValid: () => inner.markValid(),
        rollback: () => {
          inner.rollback();
          restart("ota rollback");
        },
        reboot: () => restart("ota update"),
      },
    },
    publicKey: key,
    publish: (topic, payload) => {
      const sender = send();
      if (!sender || !online()) return false;
      sender(topic, utf8Encode(payload));
      return true;
    },
    now: () => Date.now(),
    log,
    defer: (fn) => Timer.set(fn, 0),
    selfTestTimeoutMs: settings.selfTestTimeoutMs,
  });
}

function startWith(built: Settings, identity: ClientIdentity, store?: IdentityStore): RunningNode {
  let running: RunningNode | undefined;
  let send: ((topic: string, payload: Uint8Array) => void) | undefined;
  const shadow = shadowAgent(built, () => running, () => send);
  const runtime = shadow.settings;
  const settings: Settings = { ...built, pipeline: runtime.pipeline, flushIntervalMs: runtime.flushIntervalMs, heartbeatMs: runtime.heartbeatMs, maxBatchBytes: runtime.maxBatchBytes };
  // The identity in use: a rotation replaces it, and the next connect uses the new one.
  let current = identity;
  const { sensors, closeBuses } = sensorSources(settings);
  const clockSync = new ClockSync({
    earliestValid: EARLIEST_VALID_TIME,
    now: () => Date.now(),
    setTime: (seconds) => Time.set(seconds),
    // The SDK's SNTP client is its socket: it closes itself after answering.
    ask: (host, callback) => new SNTP({ host }, callback) as unknown as { close(): void },
    hosts: settings.sntpHosts,
    retryDelay: (failures) => sntpRetryDelay(failures, Math.random),
    timers: { set: (callback, ms) => Timer.set(callback, ms), clear: (timer) => Timer.clear(timer as Timer) },
    report: log,
  });
  const GuardedTCP = guardedTCP(TCP, log) as unknown as typeof TCP;
  // The reboot command and an update: a clean stop (offline status, what can be delivered is), a
  // note that says the restart was asked for (the next boot's status tells it from a crash), then the restart.
  const system = (globalThis as unknown as { System?: { restart(): void; canRestart?: boolean } }).System;
  const canRestart = () => system !== undefined && system.canRestart !== false;
  const restartNow = (why: string) => {
    if (!system || !canRestart()) {
      log(`restart (${why}): this target cannot restart itself; power-cycle it to go on`);
      return;
    }
    try {
      Preference.set("iiot", "reset_note", restartNote(why));
    } catch {
      // the next boot reports a crash instead: worse, but the restart was asked for
    }
    void wrapped.stop(3000).then(() => system.restart(), () => system.restart());
  };
  const updates = updateService(settings, () => running?.online === true, () => send, restartNow);
  // Before the network: on a new image's first boot this starts the self-test.
  updates.boot();
  let node: RunningNode;
  try {
    node = startNode({
      config: settings,
      firmware: updates.runningVersion,
      boot: nextBootId(),
      sensors,
      closeBuses,
      flash: flashPartition(settings.logPartition),
      writeReserve: TLS_RECORD_OVERHEAD,
      resolve: (host, callback) => Net.resolve(host, callback),
      brokerMemory,
      clockSync,
      ticks: () => Time.ticks,
      timeAnchors,
      commandIds,
      reset: resetInfo(),
      restart: canRestart() ? restartNow : undefined,
      certificate: new Uint8Array(identity.certificate as ArrayBuffer),
      rotate: store ? rotation(settings, store, (next) => (current = next)) : undefined,
      subscriptions: () => [...shadow.subscriptions, ...updates.subscriptions],
      onMessage: (topic, payload) => shadow.handle(topic, payload) || updates.handle(topic, payload),
      onSession: (sender) => {
        send = sender;
        shadow.subscribed();
        updates.connected();
        updates.selfTestPassed("broker");
      },
      openSocket: (callbacks, address) =>
        new TLSSocket({
          TCP: { io: GuardedTCP },
          address,
          port: settings.broker.port,
          host: settings.broker.serverName,
          secure: tlsSecure(settings, current),
          ...callbacks,
        }),
      log,
    });
  } catch (error) {
    // A new image that cannot mount its log (or start at all) goes back to the previous one.
    updates.selfTestFailed("log", error instanceof Error ? error.message : String(error));
    throw error;
  }
  updates.selfTestPassed("log");
  // Once a second: the jobs' and the download's timeouts, and the self-test's wait for the sensors
  // (a sensor that failed to start is retried by its supervisor; the self-test passes when all run).
  const ticker = Timer.repeat(() => {
    if (updates.phase === "testing" && sensors.every((sensor) => sensor.started !== false)) updates.selfTestPassed("sensors");
    updates.tick(running?.online === true);
  }, 1000);
  const wrapped: RunningNode = {
    get stats() {
      return node.stats;
    },
    get online() {
      return node.online;
    },
    applySettings: (next) => node.applySettings(next),
    stop(drainMs) {
      Timer.clear(ticker);
      return node.stop(drainMs);
    },
  };
  running = wrapped;
  return wrapped;
}
