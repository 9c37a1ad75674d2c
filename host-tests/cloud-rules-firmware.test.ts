// Every rule of cloud/rules.ts, through the IoT SQL evaluator, on the messages the unchanged
// firmware really publishes on the host target (captured from the embedded broker in this test,
// not a fixture): a payload change that breaks a rule fails here.

import { expandReadings } from "../cloud/expand-readings.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedBroker } from "../host/broker.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import type { Value } from "../cloud/iot-sql/ast.ts";
import { compile, parsePayload, type CompiledRule } from "../cloud/iot-sql/evaluate.ts";
import { PROCESS_TEMPERATURE_LIMIT_C, ruleDefinitions, STATUS_RETENTION_DAYS, TELEMETRY_RETENTION_DAYS } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT, topicMatches } from "../cloud/topics.ts";
import { captureFirmwareMessages, HOT_C, type CapturedMessage, type Phases } from "./support/firmware-capture.ts";
import { devPki, SUBSCRIBER } from "./support/pki.ts";

const THING = "press-7";
const RECEIVED = Date.UTC(2026, 10, 24, 12, 0, 0); // timestamp() at the rules engine
const rules = new Map(ruleDefinitions().map((r) => [r.name, { ...r, compiled: compile(r.sql) }]));
let messages: CapturedMessage[];
let phases: Phases;
let topicRoot: string;
let sampled: number;
const firmwareLog: string[] = [];

beforeAll(async () => {
  traceSink.write = (text) => void firmwareLog.push(text);
  const pki = devPki(THING, SUBSCRIBER);
  const broker = await startEmbeddedBroker({ certsDir: pki.dir });
  try {
    const captured = await captureFirmwareMessages({ port: broker.port, pki, thing: THING, subscriber: SUBSCRIBER, clientId: `${SUBSCRIBER}-rules`, layout: DEFAULT_LAYOUT });
    ({ messages, phases, topicRoot } = captured);
    sampled = captured.stats.sampled;
  } finally {
    await broker.close();
  }
}, 60_000);
afterAll(() => {
  traceSink.write = (text) => void process.stdout.write(text);
});

type Reading = { seq: number; ts: number; max31865: { temperature?: number; quality?: string; reason?: string } };
type Batch = { device: string; boot: number; channels: Record<string, string[]>; readings: unknown[] };
/** The batch's readings with their values named. */
const named = (batch: Batch) => expandReadings(batch) as unknown as Reading[];

function rule(name: string): CompiledRule {
  const r = rules.get(name);
  if (!r) throw new Error(`no rule ${name}`);
  return r.compiled;
}
/** The messages a rule's filter takes, each run through it. */
function apply(name: string, on: CapturedMessage[] = messages) {
  const r = rule(name);
  return on
    .filter((m) => topicMatches(r.topicFilter, m.topic))
    .map((m) => ({ message: m, payload: parsePayload(m.payload), outcome: r.run(parsePayload(m.payload), { topic: m.topic, timestamp: RECEIVED }) }));
}
const telemetry = () => messages.filter((m) => m.topic === `${topicRoot}telemetry`);
const status = () => messages.filter((m) => m.topic === `${topicRoot}status`);
const alarms = () => messages.filter((m) => m.topic === `${topicRoot}alarm`);
const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

test("the firmware published telemetry and status under its default root, which the rules' filters take", () => {
  expect(topicRoot).toBe(`factory/chicago/building-a/line-3/${THING}/`);
  // Readings and alarm records share the log's sequence numbers: together they leave no gap.
  const seqs = [...telemetry().flatMap((m) => named(parsePayload(m.payload) as Batch).map((r) => r.seq)), ...alarms().map((m) => (parsePayload(m.payload) as { seq: number }).seq)];
  expect(new Set(seqs), `every record arrived\n${firmwareLog.join("")}`).toStrictEqual(new Set(Array.from({ length: sampled + alarms().length }, (_, i) => i)));
  const states = status().map((m) => (parsePayload(m.payload) as { state: string; reason?: string }));
  expect(states[0].state).toBe("online");
  expect(states.at(-1)).toMatchObject({ state: "offline", reason: "stopped" });
  expect(messages.every((m) => [...rules.values()].some((r) => topicMatches(r.topicFilter, m.topic)))).toBe(true);
});

test("store: one item per batch, keyed by device and first seq, readings as sent, TTL after the retention", () => {
  const results = apply("store");
  expect(results.length).toBe(telemetry().length);
  for (const { payload, outcome } of results) {
    const batch = payload as Batch;
    expect(outcome).toStrictEqual({
      matched: true,
      output: {
        device: THING,
        boot: batch.boot,
        first_seq: named(batch)[0].seq,
        channels: batch.channels,
        readings: batch.readings,
        topic: `${topicRoot}telemetry`,
        received_at: RECEIVED,
        expires_at: Math.floor(RECEIVED / 1000) + TELEMETRY_RETENTION_DAYS * 86_400,
      },
    });
  }
});

test("alert_threshold: exactly the batches with a good process temperature above the limit, and exactly those readings", () => {
  const results = apply("alert_threshold");
  let fired = 0;
  let hotSeen = 0;
  for (const { payload, outcome } of results) {
    const batch = payload as Batch;
    const hot = named(batch).filter((r) => r.max31865.quality === undefined && (r.max31865.temperature ?? -Infinity) > PROCESS_TEMPERATURE_LIMIT_C);
    if (hot.length === 0) {
      expect(outcome, JSON.stringify(batch)).toStrictEqual({ matched: false });
      continue;
    }
    fired++;
    hotSeen += hot.length;
    expect(outcome).toStrictEqual({
      matched: true,
      output: {
        device: THING,
        channel: "max31865.temperature",
        limit_c: PROCESS_TEMPERATURE_LIMIT_C,
        over_limit: hot.map((r) => ({ seq: r.seq, ts: r.ts, temperature: r.max31865.temperature })),
        topic: `${topicRoot}telemetry`,
        received_at: RECEIVED,
      },
    });
  }
  // The hot phase's readings were above the limit and fired; the faulted ones (bad, no value) did not.
  expect(fired > 0 && fired < results.length, `${fired} of ${results.length} batches`).toBe(true);
  expect(hotSeen >= phases.hot.until - phases.hot.from + 1, `${hotSeen} hot readings`).toBe(true);
  const readings = telemetry().flatMap((m) => named(parsePayload(m.payload) as Batch));
  for (const r of readings.filter((x) => x.seq >= phases.hot.from && x.seq <= phases.hot.until)) expect(Math.abs(r.max31865.temperature! - HOT_C) < 0.1, JSON.stringify(r)).toBe(true);
  const faulted = readings.filter((x) => x.seq >= phases.faulted.from && x.seq <= phases.faulted.until);
  expect(faulted.length > 0 && faulted.every((r) => r.max31865.quality === "bad" && r.max31865.temperature === undefined), JSON.stringify(faulted)).toBe(true);
});

test("archive_telemetry: the batch as sent, dated by its first reading's sampling time", () => {
  for (const { payload, outcome } of apply("archive_telemetry")) {
    const batch = payload as Batch;
    expect(outcome).toStrictEqual({
      matched: true,
      output: { ...batch, kind: "telemetry", topic: `${topicRoot}telemetry`, received_at: RECEIVED, event_date: utcDate(named(batch)[0].ts) },
    });
  }
});

test("status and archive_status: online and offline messages stored with arrival time and TTL, archived by arrival date", () => {
  const stored = apply("status");
  expect(stored.length).toBe(status().length);
  for (const { payload, outcome } of stored) {
    expect(outcome).toStrictEqual({
      matched: true,
      output: { ...(payload as object), topic: `${topicRoot}status`, received_at: RECEIVED, expires_at: Math.floor(RECEIVED / 1000) + STATUS_RETENTION_DAYS * 86_400 },
    });
  }
  for (const { payload, outcome } of apply("archive_status")) {
    expect(outcome).toStrictEqual({ matched: true, output: { ...(payload as object), kind: "status", topic: `${topicRoot}status`, received_at: RECEIVED, event_date: "2026-11-24" } });
  }
});

test("a payload naming the device on another device's topic is neither stored nor alerted, only archived", () => {
  const moved = [...telemetry(), ...status()].map((m) => ({ ...m, topic: m.topic.replace(`/${THING}/`, "/press-8/") }));
  for (const name of ["store", "alert_threshold", "status"]) for (const { outcome } of apply(name, moved)) expect(outcome, name).toStrictEqual({ matched: false });
  for (const name of ["archive_telemetry", "archive_status"]) for (const { outcome } of apply(name, moved)) expect(outcome.matched, name).toBe(true);
});

describe("alarm rules", () => {
  const topic = `factory/chicago/building-a/line-3/${THING}/alarm`;
  const alarm = { schema: 1, device: THING, boot: 1, seq: 42, ts: Date.UTC(2026, 10, 23, 23, 59, 59), channel: "max31865.temperature", alarm: "high", state: "raised", value: 91.2, limit: 85 };
  const run = (name: string, payload: Value, on = topic) => rule(name).run(payload, { topic: on, timestamp: RECEIVED });

  test("the alarm the firmware raised above 85 C passes alert and archive_alarm whole", () => {
    const raised = alarms().map((m) => parsePayload(m.payload) as Record<string, unknown>).filter((a) => a.state === "raised" && a.alarm === "high");
    expect(raised.length, `the firmware raised the process temperature alarm\n${firmwareLog.join("")}`).toBeGreaterThanOrEqual(1);
    for (const { payload, outcome } of apply("alert", alarms())) expect(outcome).toStrictEqual({ matched: true, output: { ...(payload as object), topic, received_at: RECEIVED } });
    for (const { payload, outcome } of apply("archive_alarm", alarms()))
      expect(outcome).toStrictEqual({ matched: true, output: { ...(payload as object), kind: "alarm", topic, received_at: RECEIVED, event_date: utcDate((payload as { ts: number }).ts) } });
  });
  test("alert passes raised and cleared alarms on whole, from their own device", () => {
    expect(run("alert", alarm)).toStrictEqual({ matched: true, output: { ...alarm, topic, received_at: RECEIVED } });
    expect(run("alert", { ...alarm, state: "cleared" }).matched).toBe(true);
    expect(run("alert", { ...alarm, state: "maybe" }).matched).toBe(false);
    expect(run("alert", { ...alarm, seq: undefined }).matched).toBe(false);
    expect(run("alert", alarm, topic.replace(THING, "press-8")).matched).toBe(false);
  });
  test("archive_alarm dates the alarm by its own time", () => {
    expect(run("archive_alarm", alarm)).toStrictEqual({ matched: true, output: { ...alarm, kind: "alarm", topic, received_at: RECEIVED, event_date: "2026-11-23" } });
  });
});
