// The dashboard's JSON API: a few read-only queries over the local mirror's tables (schema.ts), the
// same on PostgreSQL and PGlite. Times go out as ms since the epoch; reading values as sent.

import type { Database } from "../database.ts";

export interface ChannelInfo {
  /** `sensor.quantity`, the path of the value in a reading. */
  key: string;
  sensor: string;
  quantity: string;
  unit: string;
  chart: string;
}
export interface ChartInfo {
  id: string;
  title: string;
  unit: string;
}

/** The reference device's measurements (README "Telemetry"), grouped into charts. */
export const CHARTS: readonly ChartInfo[] = [
  { id: "air", title: "SHT3x air temperature and humidity", unit: "C, %RH" },
  { id: "pressure", title: "BME280 pressure", unit: "Pa" },
  { id: "process", title: "MAX31865 process temperature", unit: "C" },
  { id: "vibration", title: "ADXL345 vibration", unit: "m/s^2" },
];
export const CHANNELS: readonly ChannelInfo[] = [
  ["sht3x", "temperature", "C", "air"],
  ["sht3x", "humidity", "%RH", "air"],
  ["bme280", "pressure", "Pa", "pressure"],
  ["max31865", "temperature", "C", "process"],
  ["adxl345", "rms_x", "m/s^2", "vibration"],
  ["adxl345", "rms_y", "m/s^2", "vibration"],
  ["adxl345", "rms_z", "m/s^2", "vibration"],
  ["adxl345", "peak", "m/s^2", "vibration"],
].map(([sensor, quantity, unit, chart]) => ({ key: `${sensor}.${quantity}`, sensor, quantity, unit, chart }));

/**
 * A device that sent nothing for this long is shown as silent (2.5 heartbeats of 60 s). The firmware
 * sends no heartbeat while telemetry flows (batches carry its health), so telemetry counts too.
 */
export const SILENT_AFTER_MS = 150_000;

export interface DeviceSummary {
  device: string;
  /** The last status message's state: online or offline. */
  state: string | null;
  /** Why offline: stopped (a clean stop) or connection-lost (the will). */
  reason: string | null;
  lastStatusAt: number | null;
  /** The last online status (on connect, then every heartbeat) and what it said. */
  lastHeartbeatAt: number | null;
  boot: number | null;
  firmware: string | null;
  uptimeS: number | null;
  logDepth: number | null;
  dropped: number | null;
  reconnects: number | null;
  lastError: string | null;
  readings: number;
  lastReadingTs: number | null;
  /** The last message of any kind, status or telemetry: what "silent" is measured from. */
  lastHeardAt: number | null;
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;

export async function devices(db: Database): Promise<DeviceSummary[]> {
  const rows = await db.query<{
    device: string; readings: number; last_reading_ts: number | null; last_received_at: number | null;
    state: string | null; last_status_at: number | null; status: Record<string, unknown> | null;
    last_heartbeat_at: number | null; heartbeat: Record<string, unknown> | null;
  }>(
    `WITH names AS (SELECT device FROM readings UNION SELECT device FROM device_status),
     counts AS (SELECT device, count(*)::float8 AS readings, ${ms("max(ts)")} AS last_reading_ts, ${ms("max(received_at)")} AS last_received_at FROM readings GROUP BY device),
     last_status AS (SELECT DISTINCT ON (device) device, state, received_at, data FROM device_status ORDER BY device, received_at DESC),
     last_online AS (SELECT DISTINCT ON (device) device, received_at, data FROM device_status WHERE state = 'online' ORDER BY device, received_at DESC)
     SELECT n.device, coalesce(c.readings, 0) AS readings, c.last_reading_ts, c.last_received_at,
            s.state, ${ms("s.received_at")} AS last_status_at, s.data AS status,
            ${ms("o.received_at")} AS last_heartbeat_at, o.data AS heartbeat
     FROM names n LEFT JOIN counts c USING (device) LEFT JOIN last_status s USING (device) LEFT JOIN last_online o USING (device)
     ORDER BY n.device`,
  );
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  return rows.map((r) => {
    const h = r.heartbeat ?? {};
    return {
      device: r.device,
      state: r.state,
      reason: str(r.status?.reason),
      lastStatusAt: r.last_status_at,
      lastHeartbeatAt: r.last_heartbeat_at,
      boot: num(h.boot),
      firmware: str(h.firmware),
      uptimeS: num(h.uptime_s),
      logDepth: num(h.log_depth),
      dropped: num(h.dropped),
      reconnects: num(h.reconnects),
      lastError: str(h.last_error),
      readings: r.readings,
      lastReadingTs: r.last_reading_ts,
      lastHeardAt: Math.max(r.last_status_at ?? -Infinity, r.last_received_at ?? -Infinity) === -Infinity ? null : Math.max(r.last_status_at ?? -Infinity, r.last_received_at ?? -Infinity),
    };
  });
}

export interface ReadingRow {
  seq: number;
  ts: number;
  receivedAt: number;
  /** Per channel key: the value as sent, or null (a bad sample, or a sensor not fitted). */
  values: Record<string, number | null>;
  /** Per channel key that was not good: "bad (crc)", "uncertain (range)". */
  quality: Record<string, string>;
}

/**
 * Readings of one device in sampling order: the latest `limit` by time, or, with `since` (a
 * received_at in ms), those that arrived at or after it (the page's cursor; it drops the
 * readings it already has by seq, and a backlog that arrives late still shows).
 */
export async function readings(db: Database, device: string, options: { since?: number; limit?: number } = {}): Promise<ReadingRow[]> {
  const limit = Math.min(Math.max(1, options.limit ?? 3600), 20_000);
  const rows = options.since === undefined
    ? await db.query<{ seq: number; ts: number; received_at: number; data: Record<string, unknown> }>(
        `SELECT * FROM (SELECT seq::float8 AS seq, ${ms("ts")} AS ts, ${ms("received_at")} AS received_at, data FROM readings WHERE device = $1 ORDER BY ts DESC, seq DESC LIMIT $2) AS latest ORDER BY ts, seq`,
        [device, limit],
      )
    : await db.query<{ seq: number; ts: number; received_at: number; data: Record<string, unknown> }>(
        `SELECT seq::float8 AS seq, ${ms("ts")} AS ts, ${ms("received_at")} AS received_at, data FROM readings
         WHERE device = $1 AND received_at >= to_timestamp($2::float8 / 1000) ORDER BY ts, seq LIMIT $3`,
        [device, options.since, limit],
      );
  return rows.map((r) => {
    const values: Record<string, number | null> = {};
    const quality: Record<string, string> = {};
    for (const c of CHANNELS) {
      const sensor = r.data[c.sensor] as Record<string, unknown> | undefined;
      const v = sensor?.[c.quantity];
      values[c.key] = typeof v === "number" ? v : null;
      if (sensor && typeof sensor.quality === "string") quality[c.key] = `${sensor.quality}${typeof sensor.reason === "string" ? ` (${sensor.reason})` : ""}`;
    }
    return { seq: r.seq, ts: r.ts, receivedAt: r.received_at, values, quality };
  });
}

export interface AlarmRow {
  seq: number;
  ts: number | null;
  channel: string | null;
  state: string | null;
  value: number | null;
  limit: number | null;
  receivedAt: number;
}

export interface Alarms {
  /** Per channel, the latest alarm message when it says raised. */
  active: AlarmRow[];
  /** Every alarm message, newest first (at most 100). */
  past: AlarmRow[];
  /** The backstop rule's rows: readings above the limit, newest first (at most 100). */
  threshold: { seq: number; ts: number; channel: string; temperature: number; limit: number }[];
}

export async function alarms(db: Database, device: string): Promise<Alarms> {
  const columns = `seq::float8 AS seq, ${ms("ts")} AS ts, channel, state, value, limit_value AS "limit", ${ms("received_at")} AS "receivedAt"`;
  const active = await db.query<AlarmRow & Record<string, unknown>>(
    `SELECT ${columns} FROM (SELECT DISTINCT ON (channel) * FROM alarms WHERE device = $1 ORDER BY channel, seq DESC) AS latest WHERE state = 'raised' ORDER BY seq DESC`,
    [device],
  );
  const past = await db.query<AlarmRow & Record<string, unknown>>(`SELECT ${columns} FROM alarms WHERE device = $1 ORDER BY seq DESC LIMIT 100`, [device]);
  const threshold = await db.query<Alarms["threshold"][number] & Record<string, unknown>>(
    `SELECT seq::float8 AS seq, ${ms("ts")} AS ts, channel, temperature, limit_c AS "limit" FROM threshold_alerts WHERE device = $1 ORDER BY seq DESC LIMIT 100`,
    [device],
  );
  return { active, past, threshold };
}
