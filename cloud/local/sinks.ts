// The local mirror's sinks, one per sink kind of cloud/rules.ts, each taking a rule's output as
// the AWS action would: the telemetry and status tables and the alert topic become PostgreSQL
// tables, the archive becomes JSON-lines files by event date. A sink that cannot take an output
// throws: the rules runner turns that into a dead letter.

import { appendFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Value } from "../iot-sql/ast.ts";
import { expandReadings } from "../expand-readings.ts";
import { ALARM, STATUS, TELEMETRY } from "../payload-shapes.ts";
import { ARCHIVE_PARTITION_KEYS, type RuleDefinition, type SinkKind } from "../rules.ts";
import type { Database } from "./database.ts";

export interface SinkContext {
  rule: RuleDefinition;
  topic: string;
  receivedAt: number;
}
export type Sink = (output: Value, context: SinkContext) => Promise<void>;
export type Sinks = Record<SinkKind, Sink>;

type Json = { [key: string]: Value };

function object(output: Value, what: string): Json {
  if (output === null || typeof output !== "object" || Array.isArray(output)) throw new Error(`${what}: the rule's output is not an object`);
  return output;
}

/** A dotted path (`a.b`) of payload-shapes.ts in a JSON object. */
export function readPath(value: Value, path: string): Value {
  let v = value;
  for (const key of path.split(".")) v = v !== null && typeof v === "object" && !Array.isArray(v) ? v[key] : undefined;
  return v;
}

function text(v: Value, what: string): string {
  if (typeof v !== "string" || v === "") throw new Error(`${what} is missing or not a string`);
  return v;
}
function number(v: Value, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${what} is missing or not a number`);
  return v;
}

export function databaseSinks(db: Database): Omit<Sinks, "archive-stream"> {
  return {
    // The store rule's output: device, boot, first_seq, readings, received_at.
    async "telemetry-table"(output, { receivedAt }) {
      const batch = object(output, "telemetry");
      const device = text(batch.device, "device");
      // Stored with their values named (cloud/expand-readings.ts): the rows do not depend on a legend.
      const readings = expandReadings(batch);
      // One statement per batch: all of it or none, and readings already stored are left as they are.
      await db.query(
        `INSERT INTO readings (device, seq, ts, published_boot, data, received_at)
         SELECT $1, (r->>'${TELEMETRY.reading.seq}')::bigint, to_timestamp((r->>'${TELEMETRY.reading.ts}')::double precision / 1000), $2, r, to_timestamp($3::double precision / 1000)
         FROM jsonb_array_elements($4::jsonb) AS r
         ON CONFLICT (device, seq) DO NOTHING`,
        [device, typeof batch.boot === "number" ? batch.boot : null, receivedAt, JSON.stringify(readings)],
      );
    },
    async "status-table"(output, { receivedAt }) {
      const status = object(output, "status");
      await db.query(
        `INSERT INTO device_status (device, received_at, state, data) VALUES ($1, to_timestamp($2::double precision / 1000), $3, $4::jsonb)
         ON CONFLICT (device, received_at) DO NOTHING`,
        [text(readPath(status, STATUS.device), "device"), receivedAt, typeof status.state === "string" ? status.state : null, JSON.stringify(status)],
      );
    },
    // The local mirror has no certificate registry to change: it records what AWS would deactivate.
    async "certificate-deactivation"(output, { receivedAt }) {
      const o = object(output, "rotation");
      const id = /^[0-9a-f]{64}$/;
      const replaced = text(o.replaced, "replaced");
      const certificate = text(o.certificate, "certificate");
      if (!id.test(replaced) || !id.test(certificate)) throw new Error("rotation: certificate ids must be 64 hex digits");
      await db.query(
        `INSERT INTO certificate_deactivations (device, certificate_id, replaced_by, received_at)
         VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000)) ON CONFLICT (device, certificate_id) DO NOTHING`,
        [text(o.device, "device"), replaced, certificate, receivedAt],
      );
    },
    // Two rules feed the alert topic: device alarms (passed on whole) and the threshold backstop.
    async "alert-topic"(output, { receivedAt }) {
      const alert = object(output, "alert");
      if (Array.isArray(alert.over_limit)) {
        const device = text(alert.device, "device");
        await db.query(
          `INSERT INTO threshold_alerts (device, seq, ts, channel, temperature, limit_c, received_at)
           SELECT $1, (r->>'seq')::bigint, to_timestamp((r->>'ts')::double precision / 1000), $2, (r->>'temperature')::double precision, $3, to_timestamp($4::double precision / 1000)
           FROM jsonb_array_elements($5::jsonb) AS r
           ON CONFLICT (device, seq) DO NOTHING`,
          [device, text(alert.channel, "channel"), number(alert.limit_c, "limit_c"), receivedAt, JSON.stringify(alert.over_limit)],
        );
        return;
      }
      const ts = readPath(alert, ALARM.ts);
      const value = readPath(alert, ALARM.value);
      const limit = readPath(alert, ALARM.limit);
      await db.query(
        `INSERT INTO alarms (device, seq, ts, channel, state, value, limit_value, data, received_at)
         VALUES ($1, $2, to_timestamp($3::double precision / 1000), $4, $5, $6, $7, $8::jsonb, to_timestamp($9::double precision / 1000))
         ON CONFLICT (device, seq) DO NOTHING`,
        [
          text(readPath(alert, ALARM.device), "device"),
          number(readPath(alert, ALARM.seq), "seq"),
          typeof ts === "number" ? ts : null,
          text(readPath(alert, ALARM.channel), "channel"),
          text(readPath(alert, ALARM.state), "state"),
          typeof value === "number" ? value : null,
          typeof limit === "number" ? limit : null,
          JSON.stringify(alert),
          receivedAt,
        ],
      );
    },
  };
}

const PARTITION_VALUE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * The archive as Firehose's dynamic partitioning lays it out: `archive/kind=<kind>/event_date=<date>/`,
 * one JSON document per line. A record without its partition fields fails, as in Firehose.
 */
export function archiveSink(dir: string): Sink {
  return async (output) => {
    const record = object(output, "archive");
    const levels = ARCHIVE_PARTITION_KEYS.map((key) => {
      const v = record[key];
      if (typeof v !== "string" || !PARTITION_VALUE.test(v)) throw new Error(`no usable partition field ${key}: ${JSON.stringify(v)}`);
      return `${key}=${v}`;
    });
    const folder = join(dir, "archive", ...levels);
    await mkdir(folder, { recursive: true });
    await appendFile(join(folder, "records.jsonl"), `${JSON.stringify(record)}\n`);
  };
}
