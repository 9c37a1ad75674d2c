// A new configuration applied to the running node (what the shadow does): windows follow the new
// intervals, a raised alarm whose limit is removed is cleared through the log like any other.

import { test, expect, onTestFinished } from "vitest";
import { firmwareClock } from "../host/moddable/clock.ts";
import { startNode, type SensorSource } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { parseRuntimeSettings, RuntimeSettingsError } from "../src/fleet/runtime-settings.ts";
import { FlashLog } from "../src/log/flash-log.ts";
import { decodeReading } from "../src/telemetry/reading.ts";
import { RECORD_ALARM, decodeAlarm, recordType } from "../src/telemetry/alarm-record.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";

test("settings applied to the running node: a 3 s window from then on, and a removed limit clears its raised alarm", async () => {
  firmwareClock.manual(Date.UTC(2026, 10, 24));
  onTestFinished(() => firmwareClock.wall());
  const config = parseConfig({ thing: "press-7", i2c_sda: 21, i2c_scl: 22, sensors: "max31865", startup_jitter_ms: 0 });
  let celsius = 90;
  const rtd: SensorSource = { name: "max31865", quantities: ["temperature"], sample: () => ({ quality: "good", values: { temperature: celsius } }), close() {} };
  const flash = new SimNorFlash({ byteLength: 16 * 4096 });
  const lines: string[] = [];
  const node = startNode({
    config, boot: 1, sensors: [rtd], flash, writeReserve: 0, log: (l) => void lines.push(l),
    openSocket: () => {
      throw new Error("offline");
    },
    resolve: (_h, done) => done("localhost", "127.0.0.1"),
    ticks: () => firmwareClock.now() % 2 ** 32,
  });
  firmwareClock.advance(3_000);
  expect(node.stats.alarmsRaised, "90 C is above the 85 C limit").toBe(1);
  const before = new FlashLog(flash).nextSeq;
  const base = { sampleIntervalMs: 1000, sensors: config.sensors, flushIntervalMs: 5000, heartbeatMs: 60_000, maxBatchBytes: 5120 };
  expect(() => parseRuntimeSettings({ channels: { "max31865.temperature": { interval_s: "3" } } }, base)).toThrow(RuntimeSettingsError);
  const change = { channels: { "max31865.temperature": { interval_s: 3, stats: ["max"] } }, alarms: { fault_after_s: 30 } };
  node.applySettings(parseRuntimeSettings(change, base));
  // Still 90 C: only the removed limit can clear the alarm.
  firmwareClock.advance(2_000);
  // A change that leaves the channels alone keeps the window under way (two samples in it now).
  node.applySettings(parseRuntimeSettings({ ...change, heartbeat_s: 30 }, base));
  firmwareClock.advance(7_000);
  await node.stop(0);
  const records = new FlashLog(flash).read(before, 100);
  const alarms = records.filter((r) => recordType(r.payload) === RECORD_ALARM).map((r) => decodeAlarm(r.seq, r.payload));
  expect(alarms.map((a) => [a.kind, a.state])).toStrictEqual([["high", "cleared"]]);
  const reports = records.filter((r) => recordType(r.payload) !== RECORD_ALARM).map((r) => decodeReading(r.seq, r.payload));
  expect(reports.length, "one report per 3 s window over 9 s, the heartbeat change notwithstanding").toBe(3);
  expect(reports.every((r) => r.channels.get(5)?.max !== undefined)).toBe(true);
  expect(lines.join("\n")).toMatch(/settings applied: 1 channels reported, 0 with limits, flush 5000 ms/);
});
