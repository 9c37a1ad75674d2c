// The node's settings, read from mc/config: the manifest's "config" plus mcconfig key=value arguments
// (which arrive as strings). Pure, so malformed settings get one clear error listing every problem.

import { validateTopicForPublish } from "./mqtt/codec";
import { gpioProblem } from "./esp32-gpio";
import { isHostName, isIPv4 } from "./net/broker-resolver";
import { PipelineConfigError, parsePipelineConfig, type PipelineConfig } from "./pipeline/channel-config";

export interface NodeConfig {
  thing: string;
  topicRoot: string;
  broker: BrokerSettings;
  keepAliveSeconds: number;
  i2c: { data: number; clock: number; hz: number; port?: number };
  /** Sensors the node reads, in this order (names as in drivers/ and telemetry CHANNELS). */
  sensors: SensorName[];
  /** The SPI bus every SPI chip shares (the SDK drives one), in mode 3 (both chips allow it). */
  spi: SpiBus;
  rtd: { select: number; nominal: 100 | 1000; referenceOhms: number; wires: 2 | 3 | 4; filterHz: 50 | 60; leadCheckEvery: number };
  accelerometer: { select: number; range: 2 | 4 | 8 | 16 };
  sampleIntervalMs: number;
  flushIntervalMs: number;
  maxBatchBytes: number;
  logPartition: string;
  logWhenFull: "drop-oldest" | "refuse";
  inFlightWindow: number;
  heartbeatMs: number;
  backoff: { baseMs: number; capMs: number; startupJitterMs: number; kickBackoffMs: number };
  resources: { ca: string; certificate: string; key: string; updateKey: string };
  /** A new image's self-test must pass within this (ota_selftest_s, default 300). */
  selfTestTimeoutMs: number;
  /** Provisioning by claim: set when the firmware carries a claim certificate instead of its own. */
  provisioning?: ProvisioningSettings;
  /** SNTP servers asked in turn when the clock was not set at boot. */
  sntpHosts: string[];
  /** Channels reported (manifest "channels") and alarm limits (manifest "alarms"), validated as one. */
  pipeline: PipelineConfig;
  /** The same as the manifest gave them (parsed JSON): what a shadow that leaves them out falls back to. */
  pipelineSource: { channels?: unknown; alarms?: unknown };
}

export interface ProvisioningSettings {
  /** Resource names of the claim certificate and key (DER, the key as PKCS#8). */
  claimCertificate: string;
  claimKey: string;
  /** The fleet provisioning template (cloud/aws/fleet.ts) and its parameters besides ThingName. */
  template: string;
  parameters: Record<string, string>;
  /** The raw flash partition that keeps the node's own identity (src/fleet/identity-store.ts). */
  partition: string;
}

export interface BrokerSettings {
  /** Host name (resolved at each connect) or IPv4 address. */
  host: string;
  /** A fixed IPv4 address: no DNS lookup. */
  address?: string;
  port: number;
  /** TLS server name: SNI and the name the broker's certificate must carry. */
  serverName: string;
  /** The ALPN protocol offered in the TLS handshake, if any. */
  alpn?: string;
  dnsTimeoutMs: number;
}

/** AWS IoT Core takes MQTT on port 443 only from clients that offer this ALPN protocol. */
export const AWS_MQTT_ALPN = "x-amzn-mqtt-ca";

export const SENSOR_NAMES = ["sht3x", "bme280", "max31865", "adxl345"] as const;
export type SensorName = (typeof SENSOR_NAMES)[number];

export interface SpiBus {
  port: number;
  clock: number;
  out: number;
  in: number;
  hz: number;
}


export class ConfigError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
  }
}

/** AWS IoT Core meters in 5 KB units: a batch stays within one. */
export const BILLING_UNIT_BYTES = 5 * 1024;

export function parseConfig(raw: Record<string, unknown>): NodeConfig {
  const problems: string[] = [];
  const text = (key: string, fallback?: string): string => {
    const value = raw[key] ?? fallback;
    if (typeof value !== "string" || value.length === 0) {
      problems.push(`${key} must be a non-empty string`);
      return "";
    }
    return value;
  };
  const integer = (key: string, min: number, max: number, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      problems.push(`${key} must be an integer in ${min}..${max} (got ${JSON.stringify(value)})`);
      return min;
    }
    return n;
  };

  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const value = raw[key] ?? fallback;
    if (!allowed.includes(value as T)) {
      problems.push(`${key} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return value as T;
  };

  const gpio = (key: string, use: "input" | "output" | "select", fallback?: number): number => {
    const pin = integer(key, 0, 39, fallback);
    const problem = gpioProblem(pin, use);
    if (problem && raw[key] !== undefined) problems.push(`${key}: ${problem}`);
    return pin;
  };
  const choice = <T extends number>(key: string, allowed: readonly T[], fallback: T): T => {
    const value = raw[key] ?? fallback;
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (!allowed.includes(n as T)) {
      problems.push(`${key} must be one of ${allowed.join(", ")} (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return n as T;
  };
  const sensorList = (): SensorName[] => {
    const value = raw.sensors ?? SENSOR_NAMES.join(",");
    const names = typeof value === "string" ? value.split(",").map((n) => n.trim()).filter((n) => n !== "") : [];
    const unknown = names.filter((n) => !(SENSOR_NAMES as readonly string[]).includes(n));
    if (typeof value !== "string" || unknown.length > 0 || new Set(names).size !== names.length)
      problems.push(`sensors must be a comma-separated list of distinct names from ${SENSOR_NAMES.join(", ")} (got ${JSON.stringify(value)})`);
    return names.filter((n): n is SensorName => (SENSOR_NAMES as readonly string[]).includes(n));
  };

  const thing = text("thing");
  // AWS IoT thing names; also the MQTT client id (128 bytes at most) and the certificate CN (64).
  if (thing && !/^[A-Za-z0-9:_-]{1,64}$/.test(thing)) problems.push(`thing must be 1..64 of A-Z a-z 0-9 : _ - (got ${JSON.stringify(thing)})`);
  const topicRoot = text("topic_root", `iiot/${thing}/`);
  if (topicRoot && !topicRoot.endsWith("/")) problems.push("topic_root must end with /");
  else if (topicRoot) {
    try {
      validateTopicForPublish(`${topicRoot}telemetry`);
    } catch (error) {
      problems.push(`topic_root: ${(error as Error).message}`);
    }
  }
  const broker = brokerSettings(raw, problems, text, integer);
  const config: NodeConfig = {
    thing,
    topicRoot,
    broker,
    keepAliveSeconds: integer("keepalive", 30, 1200, 60),
    i2c: {
      data: gpio("i2c_sda", "output"),
      clock: gpio("i2c_scl", "output"),
      hz: integer("i2c_hz", 10_000, 1_000_000, 100_000),
      ...(raw.i2c_port !== undefined ? { port: integer("i2c_port", 0, 1) } : {}),
    },
    sensors: sensorList(),
    // ESP32 SPI3 (VSPI) on its default pins; port 0 is the flash chip's bus.
    // 1.6 MHz at most: the ADXL345's FIFO needs 5 us between pops, which ending a transaction gives only up to there.
    spi: { port: integer("spi_port", 1, 2, 2), clock: gpio("spi_sck", "output", 18), out: gpio("spi_mosi", "output", 23), in: gpio("spi_miso", "input", 19), hz: integer("spi_hz", 100_000, 1_600_000, 1_000_000) },
    rtd: {
      select: gpio("rtd_cs", "select", 4),
      nominal: choice("rtd_nominal", [100, 1000] as const, 100),
      referenceOhms: integer("rtd_ref_ohms", 100, 100_000, 430),
      wires: choice("rtd_wires", [2, 3, 4] as const, 3),
      filterHz: choice("rtd_filter_hz", [50, 60] as const, 50),
      leadCheckEvery: integer("rtd_lead_check", 0, 1_000_000, 600),
    },
    accelerometer: {
      select: gpio("accel_cs", "select", 5),
      range: choice("accel_range", [2, 4, 8, 16] as const, 16),
    },
    sampleIntervalMs: integer("sample_ms", 100, 3_600_000, 1000),
    flushIntervalMs: integer("flush_ms", 100, 3_600_000, 5000),
    maxBatchBytes: integer("batch_bytes", 512, BILLING_UNIT_BYTES, BILLING_UNIT_BYTES),
    logPartition: text("log_partition", "iiotlog"),
    logWhenFull: oneOf("log_full", ["drop-oldest", "refuse"] as const, "drop-oldest"),
    inFlightWindow: integer("inflight", 1, 50, 10),
    heartbeatMs: integer("heartbeat_s", 10, 3600, 60) * 1000,
    selfTestTimeoutMs: integer("ota_selftest_s", 10, 3600, 300) * 1000,
    backoff: {
      baseMs: integer("backoff_base_ms", 100, 60_000, 1000),
      capMs: integer("backoff_cap_ms", 1000, 86_400_000, 300_000),
      startupJitterMs: integer("startup_jitter_ms", 0, 600_000, 5000),
      kickBackoffMs: integer("duplicate_backoff_ms", 1000, 86_400_000, 600_000),
    },
    resources: { ca: text("ca", "ca.der"), certificate: text("cert", "device.der"), key: text("key", "device-key.der"), updateKey: text("ota_key", "ota-key.der") },
    sntpHosts: sntpHosts(raw.sntp, problems),
    ...(raw.claim_cert !== undefined || raw.claim_key !== undefined ? { provisioning: provisioningSettings(raw, topicRoot, problems, text) } : {}),
    pipeline: undefined as unknown as PipelineConfig, // below: it needs the sample period and the sensors
    pipelineSource: {},
  };
  config.pipeline = pipelineSettings(raw, config.sampleIntervalMs, config.sensors, problems, config.pipelineSource);
  if (config.rtd.referenceOhms <= config.rtd.nominal) problems.push("rtd_ref_ohms must exceed rtd_nominal (the reference resistor is above the RTD's range)");
  // Every pin in use has one job.
  const pins: [string, number][] = [["i2c_sda", config.i2c.data], ["i2c_scl", config.i2c.clock]];
  const spiChips: [SensorName, string, number][] = [["max31865", "rtd_cs", config.rtd.select], ["adxl345", "accel_cs", config.accelerometer.select]];
  if (spiChips.some(([name]) => config.sensors.includes(name))) {
    pins.push(["spi_sck", config.spi.clock], ["spi_mosi", config.spi.out], ["spi_miso", config.spi.in]);
    for (const [name, key, pin] of spiChips) if (config.sensors.includes(name)) pins.push([key, pin]);
  }
  for (let i = 0; i < pins.length; i++)
    for (let k = i + 1; k < pins.length; k++) if (pins[i][1] === pins[k][1]) problems.push(`${pins[i][0]} and ${pins[k][0]} are both GPIO ${pins[i][1]}`);
  if (config.backoff.capMs < config.backoff.baseMs) problems.push("backoff_cap_ms must not be below backoff_base_ms");
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

type TextField = (key: string, fallback?: string) => string;
type IntegerField = (key: string, min: number, max: number, fallback?: number) => number;

function brokerSettings(raw: Record<string, unknown>, problems: string[], text: TextField, integer: IntegerField): BrokerSettings {
  const host = text("broker_host", "localhost");
  if (host && !isIPv4(host) && !isHostName(host)) problems.push(`broker_host must be a host name or an IPv4 address (got ${JSON.stringify(host)})`);
  const port = integer("broker_port", 1, 65535, 8883);
  const settings: BrokerSettings = { host, port, serverName: text("broker_name", host), dnsTimeoutMs: integer("dns_timeout_ms", 500, 60_000, 5000) };
  if (raw.broker_address !== undefined) {
    const address = text("broker_address");
    if (address && !isIPv4(address)) problems.push(`broker_address must be an IPv4 address (it skips DNS; give a name as broker_host): ${JSON.stringify(address)}`);
    settings.address = address;
  }
  // Port 443 reaches AWS IoT Core's MQTT only with its ALPN protocol: offered there unless told otherwise.
  const alpn = raw.broker_alpn ?? (port === 443 ? AWS_MQTT_ALPN : "none");
  if (typeof alpn !== "string" || !/^[\x21-\x7e]{1,255}$/.test(alpn)) problems.push(`broker_alpn must be a protocol name of 1..255 printable ASCII characters, or none (got ${JSON.stringify(alpn)})`);
  else if (alpn !== "none") settings.alpn = alpn;
  return settings;
}

/**
 * claim_cert and claim_key (both), provisioning_template (iiot-fleet), template_params ("Site=..,
 * Building=..,Line=.."; by default from a topic_root of factory/<site>/<building>/<line>/<thing>/),
 * identity_partition (iiotid).
 */
function provisioningSettings(raw: Record<string, unknown>, topicRoot: string, problems: string[], text: TextField): ProvisioningSettings {
  const claimCertificate = text("claim_cert");
  const claimKey = text("claim_key");
  const template = text("provisioning_template", "iiot-fleet");
  if (template && !/^[A-Za-z0-9_-]{1,36}$/.test(template)) problems.push(`provisioning_template must be 1..36 of A-Z a-z 0-9 _ - (got ${JSON.stringify(template)})`);
  const parameters: Record<string, string> = {};
  const given = raw.template_params;
  if (given === undefined) {
    const levels = topicRoot.split("/");
    if (levels.length === 6 && levels[0] === "factory") Object.assign(parameters, { Site: levels[1], Building: levels[2], Line: levels[3] });
  } else if (typeof given !== "string") problems.push("template_params must be a string like Site=chicago,Building=building-a,Line=line-3");
  else
    for (const pair of given.split(",").filter((p) => p.trim() !== "")) {
      const m = /^\s*([A-Za-z][A-Za-z0-9]{0,31})=([A-Za-z0-9:_.-]{1,64})\s*$/.exec(pair);
      if (!m || m[1] === "ThingName") problems.push(`template_params: ${JSON.stringify(pair)} is not Name=value (ThingName is the thing's own)`);
      else parameters[m[1]] = m[2];
    }
  return { claimCertificate, claimKey, template, parameters, partition: text("identity_partition", "iiotid") };
}

/** The SDK's network setup reads "sntp" as one host; a comma-separated list is asked in turn here. */
function sntpHosts(raw: unknown, problems: string[]): string[] {
  const value = raw ?? "pool.ntp.org";
  const hosts = typeof value === "string" ? value.split(",").map((h) => h.trim()).filter((h) => h !== "") : [];
  if (hosts.length === 0 || hosts.some((h) => !isIPv4(h) && !isHostName(h)))
    problems.push(`sntp must be one or more host names or IPv4 addresses, comma-separated (got ${JSON.stringify(value)})`);
  return hosts;
}

/** The manifest's "channels" and "alarms" objects (JSON strings from mcconfig work too); the reference device's by default. */
function pipelineSettings(raw: Record<string, unknown>, sampleMs: number, sensors: readonly string[], problems: string[], parsed: { channels?: unknown; alarms?: unknown }): PipelineConfig {
  for (const key of ["channels", "alarms"] as const) {
    const value = raw[key];
    try {
      parsed[key] = typeof value === "string" ? JSON.parse(value) : value;
    } catch (error) {
      problems.push(`${key}: not JSON (${error instanceof Error ? error.message : String(error)})`);
      return parsePipelineConfig({ channels: {}, alarms: {} }, 1000, []);
    }
  }
  try {
    return parsePipelineConfig(parsed, sampleMs, sensors);
  } catch (error) {
    if (!(error instanceof PipelineConfigError)) throw error;
    problems.push(...error.problems);
    return parsePipelineConfig({ channels: {}, alarms: {} }, 1000, []);
  }
}
