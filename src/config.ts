// The node's settings, read from mc/config: the manifest's "config" plus mcconfig key=value arguments
// (which arrive as strings). Pure, so malformed settings get one clear error listing every problem.

import { validateTopicForPublish } from "./mqtt/codec";

export interface NodeConfig {
  thing: string;
  topicRoot: string;
  broker: { address: string; port: number; serverName: string };
  keepAliveSeconds: number;
  i2c: { data: number; clock: number; hz: number; port?: number };
  sampleIntervalMs: number;
  flushIntervalMs: number;
  maxBatchBytes: number;
  logPartition: string;
  logWhenFull: "drop-oldest" | "refuse";
  inFlightWindow: number;
  heartbeatMs: number;
  backoff: { baseMs: number; capMs: number; startupJitterMs: number; kickBackoffMs: number };
  resources: { ca: string; certificate: string; key: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

/** AWS IoT Core meters in 5 KB units: a batch stays within one. */
export const BILLING_UNIT_BYTES = 5 * 1024;

export function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

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
  const address = text("broker_address");
  if (address && !isIPv4(address))
    problems.push(`broker_address must be an IPv4 address (the SDK's TCP socket does not resolve names): ${address}`);
  const config: NodeConfig = {
    thing,
    topicRoot,
    broker: { address, port: integer("broker_port", 1, 65535, 8883), serverName: text("broker_name") },
    keepAliveSeconds: integer("keepalive", 30, 1200, 60),
    i2c: {
      data: integer("i2c_sda", 0, 48),
      clock: integer("i2c_scl", 0, 48),
      hz: integer("i2c_hz", 10_000, 1_000_000, 100_000),
      ...(raw.i2c_port !== undefined ? { port: integer("i2c_port", 0, 1) } : {}),
    },
    sampleIntervalMs: integer("sample_ms", 100, 3_600_000, 1000),
    flushIntervalMs: integer("flush_ms", 100, 3_600_000, 5000),
    maxBatchBytes: integer("batch_bytes", 512, BILLING_UNIT_BYTES, BILLING_UNIT_BYTES),
    logPartition: text("log_partition", "iiotlog"),
    logWhenFull: oneOf("log_full", ["drop-oldest", "refuse"] as const, "drop-oldest"),
    inFlightWindow: integer("inflight", 1, 50, 10),
    heartbeatMs: integer("heartbeat_s", 10, 3600, 60) * 1000,
    backoff: {
      baseMs: integer("backoff_base_ms", 100, 60_000, 1000),
      capMs: integer("backoff_cap_ms", 1000, 86_400_000, 300_000),
      startupJitterMs: integer("startup_jitter_ms", 0, 600_000, 5000),
      kickBackoffMs: integer("duplicate_backoff_ms", 1000, 86_400_000, 600_000),
    },
    resources: { ca: text("ca", "ca.der"), certificate: text("cert", "device.der"), key: text("key", "device-key.der") },
  };
  if (config.backoff.capMs < config.backoff.baseMs) problems.push("backoff_cap_ms must not be below backoff_base_ms");
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
