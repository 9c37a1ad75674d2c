// A telemetry batch's readings with their values named: the compact payload (a legend per batch,
// each sensor's values as an array in legend order; schema/payload-v1.schema.json) turned into one
// object per reading, {"seq","ts","sht3x":{"temperature":21.5,"humidity":40.1},...}, which the stores
// keep and the dashboard reads. Pure: no platform imports.

export interface ExpandedReading {
  seq: number;
  ts: number;
  /** Present (true) when the batch's times are estimates (sampled before the clock was set). */
  ts_estimated?: true;
  undecodable?: string;
  [sensor: string]: unknown;
}

export type SensorValues = Record<string, number | string>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Throws with a clear message when the batch is not payload v1 telemetry. */
export function expandReadings(batch: unknown): ExpandedReading[] {
  if (!isObject(batch)) throw new Error("telemetry: not an object");
  const legend = batch.channels;
  const readings = batch.readings;
  if (!isObject(legend)) throw new Error("telemetry: channels (the legend) is missing or not an object");
  if (!Array.isArray(readings) || readings.length === 0) throw new Error("telemetry: readings is missing or empty");
  for (const [sensor, names] of Object.entries(legend))
    if (!Array.isArray(names) || names.some((n) => typeof n !== "string")) throw new Error(`telemetry: channels.${sensor} is not a list of names`);
  const estimated = batch.ts_estimated === true;
  return readings.map((r, i) => {
    if (!isObject(r) || typeof r.seq !== "number" || typeof r.ts !== "number") throw new Error(`telemetry: reading ${i} has no seq or ts`);
    const out: ExpandedReading = { seq: r.seq, ts: r.ts };
    if (estimated) out.ts_estimated = true;
    if (typeof r.undecodable === "string") out.undecodable = r.undecodable;
    for (const [sensor, value] of Object.entries(r)) {
      if (sensor === "seq" || sensor === "ts" || sensor === "undecodable") continue;
      const names = legend[sensor] as string[] | undefined;
      if (!names) throw new Error(`telemetry: reading ${r.seq} has ${sensor}, which the legend does not name`);
      const values = Array.isArray(value) ? value : isObject(value) && Array.isArray(value.v) ? value.v : undefined;
      if (!values || values.length !== names.length) throw new Error(`telemetry: reading ${r.seq}: ${sensor} does not match the legend's ${names.length} columns`);
      const named: SensorValues = {};
      values.forEach((v, k) => {
        if (typeof v === "number") named[names[k]] = v;
        else if (v !== null) throw new Error(`telemetry: reading ${r.seq}: ${sensor}.${names[k]} is neither a number nor null`);
      });
      if (isObject(value)) {
        if (typeof value.quality === "string") named.quality = value.quality;
        if (typeof value.reason === "string") named.reason = value.reason;
        if (typeof value.n === "number") named.n = value.n;
      }
      out[sensor] = named;
    }
    return out;
  });
}

/**
 * The inverse: named readings in the compact form, with the legend they need ({channels, readings}).
 * For test doubles and simulated fleets that make batches from readings the firmware sent.
 */
export function compactReadings(readings: readonly ExpandedReading[]): { channels: Record<string, string[]>; readings: Record<string, unknown>[] } {
  const channels: Record<string, string[]> = {};
  for (const r of readings)
    for (const [sensor, value] of Object.entries(r)) {
      if (!isObject(value)) continue;
      const names = (channels[sensor] ??= []);
      for (const [name, v] of Object.entries(value)) if (typeof v === "number" && name !== "n" && !names.includes(name)) names.push(name);
    }
  const compact = readings.map((r) => {
    const out: Record<string, unknown> = { seq: r.seq, ts: r.ts };
    if (r.undecodable !== undefined) out.undecodable = r.undecodable;
    for (const [sensor, value] of Object.entries(r)) {
      if (!isObject(value)) continue;
      const v = (channels[sensor] ?? []).map((name) => (typeof value[name] === "number" ? value[name] : null));
      out[sensor] = typeof value.quality === "string"
        ? { v, quality: value.quality, reason: value.reason, ...(typeof value.n === "number" ? { n: value.n } : {}) }
        : v;
    }
    return out;
  });
  // A sensor with no number anywhere still needs a column for its nulls.
  for (const r of compact) for (const sensor of Object.keys(r)) if (channels[sensor]?.length === 0) channels[sensor].push("value");
  for (const r of compact) for (const [sensor, value] of Object.entries(r)) {
    if (sensor === "seq" || sensor === "ts" || sensor === "undecodable") continue;
    const width = channels[sensor].length;
    const v = Array.isArray(value) ? value : (value as { v: unknown[] }).v;
    while (v.length < width) v.push(null);
  }
  return { channels, readings: compact };
}
