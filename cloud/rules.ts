// The rules, each defined once: name, topic filter, IoT SQL (version 2016-03-23) and the kind of
// sink its output goes to. The CDK app (cloud/aws/), the local mirror (cloud/local/) and the tests
// all read these; none holds a second copy of a rule.
//
// Each rule's SQL works on the firmware's payloads as they are today (README "Telemetry" and
// "Status"); alarms assume the shape in payload-shapes.ts (ALARM) until schema v1 is defined.

import { ALARM, RESPONSE, STATUS, TELEMETRY } from "./payload-shapes.ts";
import { DEFAULT_LAYOUT, checkLayout, kindFilter, thingLevel, type MessageKind, type TopicLayout } from "./topics.ts";

/**
 * Where a rule's output goes. In AWS: a DynamoDB table, SNS, Firehose to S3. In the local mirror:
 * PostgreSQL tables and JSON-lines files. Every rule also has the dead-letter queue as error action.
 */
export type SinkKind = "telemetry-table" | "status-table" | "alert-topic" | "archive-stream" | "certificate-deactivation";

export interface RuleDefinition {
  /** AWS topic rule names allow letters, digits and underscores only. */
  name: string;
  description: string;
  kind: MessageKind;
  /** The FROM clause's topic filter; the local rules runner subscribes to exactly this. */
  topicFilter: string;
  /** The complete statement, FROM included. */
  sql: string;
  sink: SinkKind;
}

export const SQL_VERSION = "2016-03-23";
/** Process temperature above which the backstop rule alerts (README: alarms above 85 C). */
export const PROCESS_TEMPERATURE_LIMIT_C = 85;
export const TELEMETRY_RETENTION_DAYS = 90;
export const STATUS_RETENTION_DAYS = 30;
/** The archive's partition fields, in path order: the CDK's Firehose JQ query and the local archive read these. */
export const ARCHIVE_PARTITION_KEYS = ["kind", "event_date"] as const;

const DAY_S = 86_400;

function statement(select: string, filter: string, where?: string): string {
  return `SELECT ${select} FROM '${filter}'${where ? ` WHERE ${where}` : ""}`;
}

export function ruleDefinitions(layout: TopicLayout = DEFAULT_LAYOUT): RuleDefinition[] {
  checkLayout(layout);
  const filter = (kind: MessageKind) => kindFilter(layout, kind);
  // The thing level of the topic is the device's authenticated identity (the policy lets a device
  // publish only under its own root): a payload naming another device is not stored as that device.
  const ownDevice = (devicePath: string) => `${devicePath} = topic(${thingLevel(layout)})`;
  const r = TELEMETRY.reading;
  const overLimit = `${r.processTemperature} > ${PROCESS_TEMPERATURE_LIMIT_C} AND ${r.processTemperatureIsGood}`;
  // IoT SQL cannot filter inside an array in WHERE except through a nested SELECT over it.
  const hotReadings = `(SELECT ${r.seq}, ${r.ts}, ${r.processTemperature} AS temperature FROM ${TELEMETRY.readings} WHERE ${overLimit})`;
  const anyHot = `NOT isUndefined(get((SELECT VALUE ${r.seq} FROM ${TELEMETRY.readings} WHERE ${overLimit}), 0))`;
  const received = "topic() AS topic, timestamp() AS received_at";

  return [
    {
      name: "store",
      description: "Telemetry batches into the telemetry table, keyed by device and first sequence number, expiring after the retention period.",
      kind: "telemetry",
      topicFilter: filter("telemetry"),
      sql: statement(
        `${TELEMETRY.device} AS device, ${TELEMETRY.boot} AS boot, ${TELEMETRY.firstSeq} AS first_seq, ${TELEMETRY.channels} AS channels, ${TELEMETRY.readings} AS readings, ${received}, ` +
          `floor(timestamp() / 1000) + ${TELEMETRY_RETENTION_DAYS * DAY_S} AS expires_at`,
        filter("telemetry"),
        ownDevice(TELEMETRY.device),
      ),
      sink: "telemetry-table",
    },
    {
      name: "alert",
      description: "Alarm messages from the devices to the alert topic.",
      kind: "alarm",
      topicFilter: filter("alarm"),
      sql: statement(`*, ${received}`, filter("alarm"), `${ownDevice(ALARM.device)} AND (${ALARM.accept})`),
      sink: "alert-topic",
    },
    {
      name: "alert_threshold",
      description: `Backstop for device alarms: any good process temperature (max31865) above ${PROCESS_TEMPERATURE_LIMIT_C} C in a batch, to the alert topic.`,
      kind: "telemetry",
      topicFilter: filter("telemetry"),
      sql: statement(
        `${TELEMETRY.device} AS device, 'max31865.temperature' AS channel, ${PROCESS_TEMPERATURE_LIMIT_C} AS limit_c, ${hotReadings} AS over_limit, ${received}`,
        filter("telemetry"),
        `${ownDevice(TELEMETRY.device)} AND ${anyHot}`,
      ),
      sink: "alert-topic",
    },
    {
      name: "status",
      description: "Online, offline and heartbeat messages into the status table, keyed by device and arrival time.",
      kind: "status",
      topicFilter: filter("status"),
      sql: statement(`*, ${received}, floor(timestamp() / 1000) + ${STATUS_RETENTION_DAYS * DAY_S} AS expires_at`, filter("status"), ownDevice(STATUS.device)),
      sink: "status-table",
    },
    // The archive keeps everything, as sent, partitioned by event date: a batch by its first
    // reading's sampling time (a backlog replayed after an outage lands in the day it was measured),
    // an alarm by its own time, a status message (which has none) by arrival.
    {
      name: "archive_telemetry",
      description: "Every telemetry batch to the archive, dated by its first reading.",
      kind: "telemetry",
      topicFilter: filter("telemetry"),
      sql: statement(`*, 'telemetry' AS kind, ${received}, parse_time('yyyy-MM-dd', ${TELEMETRY.firstTs}) AS event_date`, filter("telemetry")),
      sink: "archive-stream",
    },
    {
      name: "archive_alarm",
      description: "Every alarm message to the archive, dated by the alarm's time.",
      kind: "alarm",
      topicFilter: filter("alarm"),
      sql: statement(`*, 'alarm' AS kind, ${received}, parse_time('yyyy-MM-dd', ${ALARM.ts}) AS event_date`, filter("alarm")),
      sink: "archive-stream",
    },
    {
      name: "rotation_confirmed",
      description: "A device confirmed it switched to its new certificate: the replaced one is deactivated (only then, and only if both are the device's own).",
      kind: "response",
      topicFilter: filter("response"),
      sql: statement(
        `topic(${thingLevel(layout)}) AS device, ${RESPONSE.certificate} AS certificate, ${RESPONSE.replaced} AS replaced, ${received}`,
        filter("response"),
        RESPONSE.rotated,
      ),
      sink: "certificate-deactivation",
    },
    {
      name: "archive_status",
      description: "Every status message to the archive, dated by arrival.",
      kind: "status",
      topicFilter: filter("status"),
      sql: statement(`*, 'status' AS kind, ${received}, parse_time('yyyy-MM-dd', timestamp()) AS event_date`, filter("status")),
      sink: "archive-stream",
    },
  ];
}

/** The distinct topic filters of a set of rules: what the local rules runner subscribes to. */
export function ruleTopicFilters(rules: readonly RuleDefinition[]): string[] {
  return [...new Set(rules.map((r) => r.topicFilter))];
}
