// Alarms end to end: the firmware on the host target with the simulated RTD driven across the
// reference device's limits (above 85 C raises, below 83 C clears), against the embedded broker.
// An alarm raised while the broker is away is stored and arrives after the reconnect.

import { expandReadings } from "../cloud/expand-readings.ts";
import { test, expect, beforeAll, afterAll, onTestFinished } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { simBoard } from "../sim/board.ts";
import { rtdResistance } from "../drivers/max31865/rtd.ts";
import { devPki, type Pki } from "./support/pki.ts";
import { stopWhenFinished } from "./support/stop-when-finished.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const ROOT = `iiot-test/${THING}/`;
let pki: Pki;
const firmwareLog: string[] = [];

beforeAll(() => {
  pki = devPki(THING);
  traceSink.write = (text) => void firmwareLog.push(text);
});
afterAll(() => {
  traceSink.write = (text) => void process.stdout.write(text);
});

interface AlarmMessage { schema: number; device: string; seq: number; ts: number; channel: string; alarm: string; state: string; value?: number; limit?: number }

/** The embedded broker on `port`, collecting alarm messages and the readings' sequence numbers. */
async function broker(port = 0, seen = { alarms: [] as AlarmMessage[], readings: new Map<number, number>() }) {
  const b: EmbeddedBroker = await startEmbeddedBroker({ certsDir: pki.dir, port });
  b.aedes.on("publish", (packet, client) => {
    if (!client) return;
    const doc = JSON.parse(packet.payload.toString());
    if (packet.topic === `${ROOT}alarm`) seen.alarms.push(doc);
    if (packet.topic === `${ROOT}telemetry`) for (const r of expandReadings(doc)) seen.readings.set(r.seq, (r.max31865 as { temperature?: number } | undefined)?.temperature as number);
  });
  onTestFinished(() => b.close());
  return { b, seen };
}

const celsius = (t: number) => (simBoard().max31865.resistance = rtdResistance(t, 100));

async function boot(port: number) {
  return stopWhenFinished(await bootFirmware({
    config: { thing: THING, topic_root: ROOT, broker_host: "localhost", broker_port: port, sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0, backoff_base_ms: 100, backoff_cap_ms: 1000 },
    resources: pki.resources(THING),
    state: mkdtempSync(join(tmpdir(), "iiot-alarm-")),
  }));
}

test("the process temperature crossing 85 C raises an alarm at once; below 83 C clears it; the band between changes nothing", async () => {
  celsius(80);
  const { b, seen } = await broker();
  const node = await boot(b.port);
  await until(() => node.stats.connects === 1 && seen.readings.size >= 3, "online with readings");
  celsius(84); // inside the band: nothing
  await until(() => [...seen.readings.values()].some((t) => t > 83.9), "a reading at 84 C");
  expect(seen.alarms).toStrictEqual([]);
  celsius(86);
  await until(() => seen.alarms.length === 1, "the alarm");
  const raised = seen.alarms[0];
  expect(raised).toMatchObject({ schema: 1, device: THING, channel: "max31865.temperature", alarm: "high", state: "raised", limit: 85 });
  expect(raised.value).toBeGreaterThan(85);
  celsius(84);
  await until(() => [...seen.readings.entries()].some(([seq, t]) => seq > raised.seq && t < 84.5), "back in the band");
  expect(seen.alarms.length, "84 C does not clear it").toBe(1);
  celsius(82);
  await until(() => seen.alarms.length === 2, "the clear");
  expect(seen.alarms[1]).toMatchObject({ alarm: "high", state: "cleared", limit: 83 });
  const stats = await node.stop(5000);
  expect([stats.alarmsRaised, stats.alarmsPublished, stats.alarmsAcknowledged]).toStrictEqual([1, 2, 2]);
  expect(firmwareLog.join("")).toMatch(/alarm raised max31865\.temperature high value=8[5-9][.\d]* limit=85 seq=\d+/);
  // The alarm records sit between readings in the log: no reading is missing around them.
  // The broker may report the last PUBLISH a moment after its PUBACK reached the node: wait for it.
  await until(() => seen.readings.size === stats.sampled, "every reading seen by the broker");
  const seqs = [...seen.readings.keys(), ...seen.alarms.map((a) => a.seq)].sort((x, y) => x - y);
  expect(seqs).toStrictEqual(Array.from({ length: stats.sampled + 2 }, (_, i) => i));
});

test("an alarm raised while the broker is away is stored and arrives after the reconnect, with every reading", async () => {
  celsius(80);
  const first = await broker();
  const port = first.b.port;
  const node = await boot(port);
  await until(() => node.stats.connects === 1 && first.seen.readings.size >= 2, "online");
  await first.b.close();
  await until(() => node.stats.lastError !== "", "the node notices");
  celsius(88);
  await until(() => /alarm raised max31865/.test(firmwareLog.join("")), "the alarm raised offline");
  const second = await broker(port, first.seen);
  await until(() => second.seen.alarms.some((a) => a.state === "raised"), "the stored alarm after the reconnect", 20_000);
  const stats = await node.stop(5000);
  expect(stats.connects).toBeGreaterThanOrEqual(2);
  const seqs = [...second.seen.readings.keys(), ...second.seen.alarms.map((a) => a.seq)];
  const unique = [...new Set(seqs)].sort((x, y) => x - y);
  expect(unique, "every record delivered").toStrictEqual(Array.from({ length: unique.length }, (_, i) => i));
  expect(unique.length).toBe(stats.sampled + stats.alarmsRaised);
});
