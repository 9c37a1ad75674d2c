// The settings an operator may change on a running node (through the named shadow "config"): the
// pipeline's channels and alarms, and the uplink's batch latency, batch size and heartbeat. One
// document, validated as a whole (types, ranges, unknown keys), so a change is applied entirely or
// not at all. Pure: runs on XS.

import { PipelineConfigError, parsePipelineConfig, type PipelineConfig } from "../pipeline/channel-config";
import { BILLING_UNIT_BYTES } from "../config";

export interface RuntimeSettings {
  readonly pipeline: PipelineConfig;
  readonly flushIntervalMs: number;
  readonly heartbeatMs: number;
  readonly maxBatchBytes: number;
}

/** What the node was built with: a key the document leaves out keeps this value. */
export interface RuntimeBase {
  /** The manifest's channels and alarms objects, as parsed JSON (undefined: the reference device's). */
  channels?: unknown;
  alarms?: unknown;
  sampleIntervalMs: number;
  sensors: readonly string[];
  flushIntervalMs: number;
  heartbeatMs: number;
  maxBatchBytes: number;
}

export class RuntimeSettingsError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "RuntimeSettingsError";
  constructor(readonly problems: string[]) {
    super(`invalid settings: ${problems.join("; ")}`);
  }
}

export const RUNTIME_KEYS: readonly string[] = Object.freeze(["channels", "alarms", "flush_ms", "heartbeat_s", "batch_bytes"]);

/**
 * {"channels": {...}, "alarms": {...}, "flush_ms": 5000, "heartbeat_s": 60, "batch_bytes": 5120}, any
 * key left out taking the built value (channels and alarms: the reference device's). Numbers must be
 * JSON numbers: a shadow is JSON, and "5000" there is a mistake worth naming.
 */
export function parseRuntimeSettings(raw: unknown, base: RuntimeBase): RuntimeSettings {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new RuntimeSettingsError(["the settings must be an object"]);
  const o = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(o)) if (!RUNTIME_KEYS.includes(key)) problems.push(`${key}: unknown setting (allowed: ${RUNTIME_KEYS.join(", ")})`);
  const integer = (key: string, min: number, max: number, fallback: number): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${key} must be an integer in ${min}..${max} (got ${describe(v)})`);
      return fallback;
    }
    return v;
  };
  const flushIntervalMs = integer("flush_ms", 100, 3_600_000, base.flushIntervalMs);
  const heartbeatMs = integer("heartbeat_s", 10, 3600, base.heartbeatMs / 1000) * 1000;
  const maxBatchBytes = integer("batch_bytes", 512, BILLING_UNIT_BYTES, base.maxBatchBytes);
  let pipeline: PipelineConfig | undefined;
  try {
    pipeline = parsePipelineConfig({ channels: o.channels ?? base.channels, alarms: o.alarms ?? base.alarms }, base.sampleIntervalMs, base.sensors);
  } catch (error) {
    if (!(error instanceof PipelineConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !pipeline) throw new RuntimeSettingsError(problems);
  return Object.freeze({ pipeline, flushIntervalMs, heartbeatMs, maxBatchBytes });
}

/** A value in an error message, cut short: a shadow may send anything, of any size. */
function describe(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
