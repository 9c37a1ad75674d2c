// Every message the host target really sends (telemetry, alarms, online and offline status) validates
// against schema/payload-v1.schema.json, and the schema refuses what breaks the contract.

import { test, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import { startEmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { simBoard } from "../sim/board.ts";
import { rtdResistance } from "../drivers/max31865/rtd.ts";
import { devPki } from "./support/pki.ts";
import type { RunningNode } from "../src/app.ts";
import { until } from "./support/until.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const schema = JSON.parse(readFileSync(join(root, "schema/payload-v1.schema.json"), "utf8"));
// CommonJS under ESM: the class may arrive as the module's default.
const AjvClass = (Ajv2020 as unknown as { default?: typeof Ajv2020 }).default ?? Ajv2020;
const ajv = new AjvClass({ allErrors: true, strict: true });
const validate = ajv.compile(schema);
const THING = "press-7";
const ROOT = `iiot-test/${THING}/`;
const sent: { topic: string; doc: Record<string, unknown> }[] = [];
let running: RunningNode | undefined;

beforeAll(async () => {
  traceSink.write = () => {};
  const pki = devPki(THING);
  const broker = await startEmbeddedBroker({ certsDir: pki.dir });
  broker.aedes.on("publish", (packet, client) => {
    if (client && packet.topic.startsWith(ROOT)) sent.push({ topic: packet.topic.slice(ROOT.length), doc: JSON.parse(packet.payload.toString()) });
  });
  try {
    simBoard().max31865.resistance = rtdResistance(80, 100);
    const node = await bootFirmware({
      config: { thing: THING, topic_root: ROOT, broker_host: "localhost", broker_port: broker.port, sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0 },
      resources: pki.resources(THING),
      state: mkdtempSync(join(tmpdir(), "iiot-schema-")),
    });
    running = node;
    await until(() => node.stats.readingsAcknowledged >= 3, "readings delivered");
    simBoard().max31865.resistance = rtdResistance(87, 100);
    await until(() => node.stats.alarmsAcknowledged >= 1, "an alarm delivered");
    simBoard().faultEveryChip(true); // bad and uncertain readings too
    await until(() => node.stats.sampled >= 12, "faulted readings");
    simBoard().faultEveryChip(false);
    await node.stop(5000);
    await until(() => sent.some((m) => m.doc.state === "offline"), "the offline status");
  } finally {
    await running?.stop(0); // stopping twice returns at once
    await broker.close();
  }
}, 60_000);
afterAll(() => {
  traceSink.write = (text) => void process.stdout.write(text);
});

test("schema: every message the host target sent validates", () => {
  const kinds = new Set(sent.map((m) => m.topic));
  expect([...kinds].sort()).toStrictEqual(["alarm", "status", "telemetry"]);
  for (const { topic, doc } of sent) expect(validate(doc) ? "valid" : `${topic} ${JSON.stringify(doc)}: ${ajv.errorsText(validate.errors)}`).toBe("valid");
  expect(sent.some((m) => JSON.stringify(m.doc).includes('"quality":"bad"')), "bad readings were among them").toBe(true);
});

test("schema: batch-level bounds agree with the readings", () => {
  for (const { doc } of sent.filter((m) => m.topic === "telemetry")) {
    const readings = doc.readings as { seq: number; ts: number }[];
    expect([doc.first_seq, doc.last_seq, doc.count, doc.first_ts, doc.last_ts]).toStrictEqual([readings[0].seq, readings.at(-1)!.seq, readings.length, readings[0].ts, readings.at(-1)!.ts]);
  }
});

test("schema: it refuses what breaks the contract", () => {
  const telemetry = sent.find((m) => m.topic === "telemetry")!.doc;
  const alarm = sent.find((m) => m.topic === "alarm")!.doc;
  const status = sent.find((m) => m.topic === "status")!.doc;
  for (const bad of [
    { ...telemetry, schema: 2 },
    { ...telemetry, first_seq: undefined },
    { ...telemetry, readings: [] },
    { ...telemetry, extra: 1 },
    { ...alarm, ts: 1000 }, // a 1970 time
    { ...alarm, alarm: "hot" },
    { ...status, state: "offline" }, // offline without its reason
    { ...telemetry, readings: [{ seq: 1, ts: 1_795_000_000_000, sht3x: { v: [null], quality: "bad" } }] }, // quality without reason
    { ...telemetry, readings: [{ seq: 1, ts: 5000, sht3x: [1] }] }, // a 1970 time
    { ...telemetry, first_ts: 5000 },
    { ...telemetry, channels: undefined }, // values without their names
    { ...telemetry, readings: [{ seq: 1, ts: 1_795_000_000_000, sht3x: ["21.5"] }] },
    { ...telemetry, ts_estimated: false },
  ]) expect(validate(JSON.parse(JSON.stringify(bad))), JSON.stringify(bad).slice(0, 120)).toBe(false);
});
