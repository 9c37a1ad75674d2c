// What the reference device costs on AWS per month: the unchanged firmware runs on the host target
// with the manifest's reference settings (sample_ms 1000, flush_ms 5000, heartbeat_s 60) against the
// embedded broker for a few minutes; every MQTT packet AWS would meter is counted there (CONNECT
// with its will, PUBLISH with topic and payload, retained twice), the rules' outputs are computed
// with the IoT SQL evaluator on the same messages (DynamoDB item sizes, Firehose records), and the
// month is priced with cloud/pricing.ts, with and without Basic Ingest for the telemetry.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { compile, parsePayload } from "../../cloud/iot-sql/evaluate.ts";
import { METERING, PRICES, units } from "../../cloud/pricing.ts";
import { ruleDefinitions } from "../../cloud/rules.ts";
import { topicMatches } from "../../cloud/topics.ts";
import { startEmbeddedBroker } from "../../host/broker.ts";
import { bootFirmware, manifestConfig } from "../../host/firmware.ts";
import { traceSink } from "../../host/moddable/runtime.ts";
import type { Figure } from "./report.ts";

const MONTH_S = 30 * 86_400;
const MONTH_MIN = MONTH_S / 60;

export interface CapturedPublish {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  at: number;
}

export interface ReferenceRun {
  seconds: number;
  publishes: CapturedPublish[];
  /** CONNECT bytes AWS meters: will topic plus will payload (the client id and keep-alive are not named). */
  connectBytes: number[];
  subscribeBytes: number;
  sampled: number;
}

/** The firmware with the manifest's settings against the embedded broker for `seconds`, every packet of its client counted. */
export async function runReferenceDevice(certsDir: string, resources: string, seconds: number, log: (line: string) => void): Promise<ReferenceRun> {
  const broker = await startEmbeddedBroker({ certsDir });
  const thing = String(manifestConfig().thing);
  const publishes: CapturedPublish[] = [];
  const connectBytes: number[] = [];
  let subscribeBytes = 0;
  broker.aedes.preConnect = (_client, packet, done) => {
    if (packet.clientId === thing) connectBytes.push(packet.will ? Buffer.byteLength(packet.will.topic) + Buffer.from(packet.will.payload ?? "").length : 0);
    done(null, true);
  };
  broker.aedes.on("publish", (packet, client) => {
    if (client?.id === thing) publishes.push({ topic: packet.topic, payload: Buffer.from(packet.payload), retain: packet.retain, qos: packet.qos, at: Date.now() });
  });
  broker.aedes.on("subscribe", (subs, client) => {
    if (client?.id === thing) subscribeBytes += subs.reduce((n, s) => n + Buffer.byteLength(s.topic), 0);
  });
  const sink = traceSink.write;
  traceSink.write = () => {};
  const started = Date.now();
  try {
    const node = await bootFirmware({
      // The manifest's reference settings; only the broker and a fresh flash image are the bench's.
      config: { thing, broker_address: "127.0.0.1", broker_port: broker.port, broker_name: "localhost" },
      resources,
      state: mkdtempSync(join(tmpdir(), "iiot-bench-cost-")),
    });
    log(`cloud: reference device on the host target for ${seconds} s`);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const stats = await node.stop(10_000);
    return { seconds: (Date.now() - started) / 1000, publishes, connectBytes, subscribeBytes, sampled: stats.sampled };
  } finally {
    traceSink.write = sink;
    await broker.close();
  }
}

/** Per device and month, at the rates the run measured; figures named cloud.<name>. */
export function costFigures(run: ReferenceRun, fleetSize: number): Figure[] {
  const figures: Figure[] = [];
  const add = (name: string, value: number, unit: string, note: string) => figures.push({ name: `cloud.${name}`, value, unit, note });
  const rules = ruleDefinitions().map((d) => ({ d, c: compile(d.sql) }));
  const size = (p: CapturedPublish) => p.payload.length + Buffer.byteLength(p.topic);
  const msgUnits = (p: CapturedPublish) => units(size(p), METERING.messageUnitBytes) * (p.retain && METERING.retainedCountsTwice ? 2 : 1);

  const telemetry = run.publishes.filter((p) => p.topic.endsWith("/telemetry"));
  // Heartbeats are the online statuses at QoS 0; the online at connect (QoS 1) and the offline at a
  // clean stop happen once per connection.
  const heartbeats = run.publishes.filter((p) => p.topic.endsWith("/status") && p.qos === 0);
  const perConnection = run.publishes.filter((p) => p.topic.endsWith("/status") && p.qos === 1);
  if (telemetry.length < 2 || heartbeats.length === 0) throw new Error(`cloud bench: the reference run saw ${telemetry.length} batches and ${heartbeats.length} heartbeats; run it longer than heartbeat_s (BENCH_CLOUD_REFERENCE_S)`);
  // The steady rate: from the first telemetry batch to the last.
  const span = (telemetry[telemetry.length - 1].at - telemetry[0].at) / 1000;
  const batchesPerMonth = ((telemetry.length - 1) / span) * MONTH_S;
  const heartbeatsPerMonth = MONTH_S / 60; // heartbeat_s: one a minute; the run's count is checked below
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const readingsPerBatch = mean(telemetry.map((p) => (JSON.parse(p.payload.toString()) as { readings: unknown[] }).readings.length));

  // What each message does in the rules: rules triggered, their outputs' sizes per sink.
  const now = Date.now();
  const ruleWork = (p: CapturedPublish) => {
    const out = { triggered: 0, dynamoUnits: 0, firehoseUnits: 0, archiveBytes: 0, archiveLines: [] as string[] };
    for (const { d, c } of rules) {
      if (!topicMatches(d.topicFilter, p.topic)) continue;
      out.triggered += units(size(p), METERING.messageUnitBytes);
      const result = c.run(parsePayload(p.payload), { topic: p.topic, timestamp: now });
      if (!result.matched || result.output === undefined) continue;
      const json = JSON.stringify(result.output);
      const bytes = Buffer.byteLength(json);
      if (d.sink === "telemetry-table" || d.sink === "status-table") out.dynamoUnits += units(bytes, METERING.dynamoWriteUnitBytes);
      if (d.sink === "archive-stream") {
        out.firehoseUnits += units(bytes + 1, METERING.firehoseRecordUnitBytes); // + the newline the delivery appends
        out.archiveBytes += bytes + 1;
        out.archiveLines.push(json);
      }
    }
    return out;
  };
  const perBatch = telemetry.map(ruleWork);
  const perHeartbeat = heartbeats.map(ruleWork);
  const perConn = perConnection.map(ruleWork);
  const avg = (xs: ReturnType<typeof ruleWork>[], k: "triggered" | "dynamoUnits" | "firehoseUnits" | "archiveBytes") => mean(xs.map((x) => x[k]));
  const gzipRatio = (() => {
    const lines = [...perBatch, ...perHeartbeat].flatMap((x) => x.archiveLines).join("\n") + "\n";
    return gzipSync(lines).length / Buffer.byteLength(lines);
  })();

  // Counts per month (one connection a month: CONNECT, its online and a final offline).
  const messages = {
    telemetry: batchesPerMonth * mean(telemetry.map(msgUnits)),
    heartbeats: heartbeatsPerMonth * mean(heartbeats.map(msgUnits)),
    connection: run.connectBytes.slice(0, 1).reduce((n, b) => n + units(b, METERING.messageUnitBytes), 0) + perConnection.reduce((n, p) => n + msgUnits(p), 0) + (run.subscribeBytes ? units(run.subscribeBytes, METERING.messageUnitBytes) : 0),
  };
  const triggered = batchesPerMonth * avg(perBatch, "triggered") + heartbeatsPerMonth * avg(perHeartbeat, "triggered") + perConn.reduce((n, x) => n + x.triggered, 0);
  // Every rule has one action (the error action runs only on failure): billed at least one per rule triggered.
  const actions = triggered;
  const dynamoUnits = batchesPerMonth * avg(perBatch, "dynamoUnits") + heartbeatsPerMonth * avg(perHeartbeat, "dynamoUnits") + perConn.reduce((n, x) => n + x.dynamoUnits, 0);
  const firehoseGb = ((batchesPerMonth * avg(perBatch, "firehoseUnits") + heartbeatsPerMonth * avg(perHeartbeat, "firehoseUnits")) * METERING.firehoseRecordUnitBytes) / 1024 ** 3;
  const archiveGb = ((batchesPerMonth * avg(perBatch, "archiveBytes") + heartbeatsPerMonth * avg(perHeartbeat, "archiveBytes")) * gzipRatio) / 1024 ** 3;
  // Firehose writes an object per partition (kind, event date) per 300 s buffer: telemetry and status, shared by the fleet.
  const s3PutsPerDevice = (2 * (MONTH_S / 300)) / fleetSize;

  const usd = {
    messaging: (messages.telemetry + messages.heartbeats + messages.connection) * PRICES.iotMessage.usd,
    connectivity: MONTH_MIN * PRICES.iotConnectionMinute.usd,
    rules: triggered * PRICES.iotRuleTriggered.usd,
    actions: actions * PRICES.iotActionExecuted.usd,
    dynamodb: dynamoUnits * PRICES.dynamoWriteRequestUnit.usd,
    firehose: firehoseGb * PRICES.firehoseIngestGb.usd,
    s3: archiveGb * PRICES.s3StorageGbMonth.usd + s3PutsPerDevice * PRICES.s3Put.usd,
  };
  const total = Object.values(usd).reduce((a, b) => a + b, 0);
  const basicIngest = total - messages.telemetry * PRICES.iotMessage.usd;
  const r = (x: number, d = 4) => Number(x.toFixed(d));

  add("ref_run_seconds", r(run.seconds, 0), "s", `the reference device (manifest settings: sample_ms 1000, flush_ms 5000, heartbeat_s 60) on the host target against the embedded broker, ${run.sampled} readings`);
  add("ref_batches_per_hour", r((batchesPerMonth / MONTH_S) * 3600, 1), "batches", `telemetry publishes per hour (${telemetry.length} seen, ${readingsPerBatch.toFixed(1)} readings each, mean ${Math.round(mean(telemetry.map(size)))} bytes with the topic)`);
  add("ref_heartbeats_seen", heartbeats.length, "messages", `heartbeats (retained, QoS 0) in the run; priced at one a minute (${Math.round(mean(heartbeats.map(size)))} bytes)`);
  add("messages_per_device_month", Math.round(messages.telemetry + messages.heartbeats + messages.connection), "messages", "metered 5 KB units: batches, heartbeats (retained: counted twice), one CONNECT with its will, the online and offline status; PUBACKs from the broker are not metered");
  add("rules_triggered_per_device_month", Math.round(triggered), "rules", "telemetry: store, alert_threshold, archive_telemetry; status: status, archive_status");
  add("dynamodb_wru_per_device_month", Math.round(dynamoUnits), "WRU", "one item per batch (store) and per status message, 1 KB units of the rule output's JSON");
  add("archive_gzip_ratio", r(gzipRatio, 3), "ratio", "GZIP size / JSON-lines size of the archive records, as Firehose compresses them");
  add("usd_messaging", r(usd.messaging), "USD", "per device and month");
  add("usd_connectivity", r(usd.connectivity), "USD", "43,200 connection-minutes");
  add("usd_rules", r(usd.rules), "USD", "rules triggered");
  add("usd_actions", r(usd.actions), "USD", "one action per rule triggered (the billed minimum)");
  add("usd_dynamodb_writes", r(usd.dynamodb), "USD", "on-demand write request units");
  add("usd_firehose", r(usd.firehose), "USD", "Direct PUT ingestion, records rounded up to 5 KB; dynamic partitioning's own charges not included");
  add("usd_s3", r(usd.s3), "USD", `a month of GZIP archive in S3 Standard, plus PUTs (${Math.round(2 * (MONTH_S / 300))} objects a month per stream, shared by a fleet of ${fleetSize})`);
  add("usd_per_device_month", r(total, 3), "USD", "the reference device on AWS at first-tier list prices (cloud/pricing.ts)");
  add("usd_per_device_month_basic_ingest", r(basicIngest, 3), "USD", "the same with telemetry on Basic Ingest topics ($aws/rules/...: no messaging charge); status stays on the broker (retained, last will)");
  return figures;
}
