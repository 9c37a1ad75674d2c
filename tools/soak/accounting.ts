// What a soak's store holds against what each device produced (its ledger, ./ledger.ts): every
// record once, value by value, except the records a full log dropped (the firmware's own ranges).

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "../../cloud/local/database.ts";
import { CHANNELS, decodeReading } from "../../src/telemetry/reading.ts";
import { RECORD_ALARM, decodeAlarm, recordType } from "../../src/telemetry/alarm-record.ts";
import { readLedger } from "./ledger.ts";

export interface DeviceAccount {
  produced: number;
  readingsProduced: number;
  readingsStored: number;
  /** Produced, not stored, and not among the records the log dropped. */
  lost: number;
  /** Produced and not stored because the log dropped them (its ranges). */
  droppedNotStored: number;
  /** In the log's dropped ranges, yet stored (they were in flight when the log dropped them). */
  droppedButStored: number;
  /** Records the log's ranges name. */
  droppedInRanges: number;
  /** Stored rows whose values differ from the device's record under that sequence number. */
  mismatched: number;
  /** Stored rows the device never produced. */
  unexpected: number;
  /** The same reading (time and values) stored under more than one sequence number, or a key stored twice. */
  duplicatesStored: number;
  alarmsRaised: number;
  alarmsProduced: number;
  alarmsStored: number;
  alarmsRaisedStored: number;
  /** First few differences, for a person. */
  examples: string[];
}

/** A decoded readings record as the store keeps it: {sensor: {quantity: value, quality?, reason?}}, ts. */
function expectedReading(seq: number, payload: Uint8Array): { ts: number; sensors: Map<string, Map<string, number>>; qualities: Map<string, string> } {
  const r = decodeReading(seq, payload);
  const sensors = new Map<string, Map<string, number>>();
  const qualities = new Map<string, string>();
  for (const [n, sample] of r.channels) {
    const { sensor, quantity } = CHANNELS[n];
    const values = sensors.get(sensor) ?? new Map<string, number>();
    sensors.set(sensor, values);
    if (sample.quality !== "bad" && sample.value !== undefined && Number.isFinite(sample.value)) values.set(quantity, sample.value);
    if (sample.quality !== "good") qualities.set(sensor, qualities.get(sensor) === "bad" ? "bad" : sample.quality);
  }
  return { ts: r.ts, sensors, qualities };
}

function readingDiffers(seq: number, payload: Uint8Array, data: Record<string, unknown>): string | undefined {
  const want = expectedReading(seq, payload);
  if (data.ts !== want.ts) return `ts ${String(data.ts)} != ${want.ts}`;
  for (const [sensor, values] of want.sensors) {
    const got = data[sensor] as Record<string, unknown> | undefined;
    if (!got) return `${sensor} missing`;
    for (const [quantity, value] of values) if (got[quantity] !== value) return `${sensor}.${quantity} ${String(got[quantity])} != ${value}`;
    const quality = want.qualities.get(sensor);
    if ((got.quality ?? undefined) !== quality) return `${sensor} quality ${String(got.quality)} != ${String(quality)}`;
    const extra = Object.keys(got).filter((k) => typeof got[k] === "number" && k !== "n" && !values.has(k));
    if (extra.length > 0) return `${sensor} has ${extra.join(",")} the record has not`;
  }
  const sensorsStored = Object.keys(data).filter((k) => k !== "seq" && k !== "ts" && k !== "ts_estimated");
  const extra = sensorsStored.filter((k) => !want.sensors.has(k));
  if (extra.length > 0) return `sensors ${extra.join(",")} not in the record`;
  return undefined;
}

interface AlarmRow {
  seq: string;
  ts: Date | null;
  channel: string;
  state: string;
  value: number | null;
  limit_value: number | null;
}

function alarmDiffers(seq: number, payload: Uint8Array, row: AlarmRow): string | undefined {
  const e = decodeAlarm(seq, payload);
  const c = CHANNELS[e.channel];
  if (row.channel !== `${c.sensor}.${c.quantity}`) return `alarm channel ${row.channel}`;
  if (row.state !== e.state) return `alarm state ${row.state} != ${e.state}`;
  if ((row.value ?? undefined) !== e.value) return `alarm value ${row.value} != ${e.value}`;
  if ((row.limit_value ?? undefined) !== e.limit) return `alarm limit ${row.limit_value} != ${e.limit}`;
  if (row.ts?.getTime() !== e.ts) return `alarm ts ${row.ts?.getTime()} != ${e.ts}`;
  return undefined;
}

/** The ranges a full log dropped, from the device's drops.txt. */
function droppedRanges(state: string): [number, number][] {
  try {
    return readFileSync(join(state, "drops.txt"), "utf8").trim().split("\n").filter(Boolean).map((l) => l.split(" ").map(Number) as [number, number]);
  } catch {
    return [];
  }
}

export async function accountDevice(db: Database, device: string, state: string): Promise<DeviceAccount> {
  const ledgers = readdirSync(state).filter((f) => f.startsWith("ledger-")).sort().map((f) => join(state, f));
  const produced = readLedger(ledgers);
  const ranges = droppedRanges(state);
  const inDropped = (seq: number) => ranges.some(([a, b]) => seq >= a && seq <= b);
  const a: DeviceAccount = {
    produced: produced.size, readingsProduced: 0, readingsStored: 0, lost: 0, droppedNotStored: 0, droppedButStored: 0,
    droppedInRanges: new Set(ranges.flatMap(([x, y]) => Array.from({ length: y - x + 1 }, (_, i) => x + i))).size,
    mismatched: 0, unexpected: 0, duplicatesStored: 0, alarmsRaised: 0, alarmsProduced: 0, alarmsStored: 0, alarmsRaisedStored: 0, examples: [],
  };
  const note = (text: string) => void (a.examples.length < 5 && a.examples.push(`${device}: ${text}`));
  const stored = new Set<number>();
  // Readings, in pages: a month of one device is millions of rows. Each sample has its own time:
  // two rows with the same time and the same values are one reading stored twice.
  const byTime = new Map<number, number>();
  let after = -1;
  for (;;) {
    const rows = await db.query<{ seq: string; data: Record<string, unknown> }>(
      "SELECT seq, data FROM readings WHERE device = $1 AND seq > $2 ORDER BY seq LIMIT 20000", [device, after]);
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = Number(row.seq);
      after = seq;
      if (stored.has(seq)) a.duplicatesStored++;
      stored.add(seq);
      const ts = Number(row.data.ts);
      const earlier = byTime.get(ts);
      if (earlier !== undefined) {
        const [first] = await db.query<{ data: Record<string, unknown> }>("SELECT data FROM readings WHERE device = $1 AND seq = $2", [device, earlier]);
        const { seq: _a, ...one } = first?.data ?? {};
        const { seq: _b, ...other } = row.data;
        if (JSON.stringify(one) === JSON.stringify(other)) {
          a.duplicatesStored++;
          note(`reading ${earlier} stored again as ${seq}`);
        }
      } else byTime.set(ts, seq);
      const payload = produced.get(seq);
      if (!payload || recordType(payload) === RECORD_ALARM) {
        a.unexpected++;
        note(`reading ${seq} stored, never produced as one`);
        continue;
      }
      a.readingsStored++;
      const diff = readingDiffers(seq, payload, row.data);
      if (diff) {
        a.mismatched++;
        note(`reading ${seq}: ${diff}`);
      }
    }
  }
  const alarms = await db.query<AlarmRow & Record<string, unknown>>("SELECT seq, ts, channel, state, value, limit_value FROM alarms WHERE device = $1", [device]);
  for (const row of alarms) {
    const seq = Number(row.seq);
    if (stored.has(seq)) a.duplicatesStored++;
    stored.add(seq);
    const payload = produced.get(seq);
    if (!payload || recordType(payload) !== RECORD_ALARM) {
      a.unexpected++;
      note(`alarm ${seq} stored, never produced as one`);
      continue;
    }
    a.alarmsStored++;
    if (decodeAlarm(seq, payload).state === "raised") a.alarmsRaisedStored++;
    const diff = alarmDiffers(seq, payload, row);
    if (diff) {
      a.mismatched++;
      note(`alarm ${seq}: ${diff}`);
    }
  }
  for (const [seq, payload] of produced) {
    const alarm = recordType(payload) === RECORD_ALARM;
    if (alarm) {
      a.alarmsProduced++;
      if (decodeAlarm(seq, payload).state === "raised") a.alarmsRaised++;
    } else a.readingsProduced++;
    const dropped = inDropped(seq);
    if (stored.has(seq)) {
      if (dropped) a.droppedButStored++;
    } else if (dropped) a.droppedNotStored++;
    else {
      a.lost++;
      note(`${alarm ? "alarm" : "reading"} ${seq} produced, never stored`);
    }
  }
  return a;
}
