// The edge pipeline between the drivers and the flash log: channel configuration as one validated
// object, report windows with quality, deadband and maximum silence, record type 3, the batch legend,
// and time before the clock is set (monotonic clock across the tick wrap, boot-relative times
// converted or estimated).

import { test, equal, deepEqual, throws, assert, near } from "./api";
import { DEFAULT_CHANNELS, PipelineConfigError, parsePipelineConfig } from "../../src/pipeline/channel-config";
import { ReportWindows } from "../../src/pipeline/windows";
import { MonotonicClock, TICKS_WRAP, TimeBase } from "../../src/pipeline/time-base";
import { CHANNELS, RecordFormatError, channelNumber, decodeReading, encodeReport, type ChannelSample } from "../../src/telemetry/reading";
import { BatchEncoder, Legend, readingJson } from "../../src/telemetry/batch";
import { decodeAlarm, encodeAlarm } from "../../src/telemetry/alarm-record";

const ALL = ["sht3x", "bme280", "max31865", "adxl345"];
const RTD = channelNumber("max31865", "temperature");
const RMS_X = channelNumber("adxl345", "rms_x");
const PEAK = channelNumber("adxl345", "peak");
const HUMIDITY = channelNumber("sht3x", "humidity");
const good = (value: number): ChannelSample => ({ quality: "good", value });
const one = (n: number, s: ChannelSample) => new Map([[n, s]]);

function problemsOf(body: () => unknown): string[] {
  try {
    body();
  } catch (error) {
    if (error instanceof PipelineConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a PipelineConfigError");
}

test("pipeline config: the default is the reference device (eight channels in 1 s windows, all sent) with its alarms", () => {
  const c = parsePipelineConfig({}, 1000, ALL);
  equal(c.channels.size, 8);
  deepEqual(c.channels.get(RTD), { intervalMs: 1000, min: false, max: false, deadband: 0, deadbandPct: 0, maxSilentMs: 0 });
  equal(c.channels.has(channelNumber("bme280", "temperature")), false, "the workload reports the BME280's pressure only");
  equal(c.alarms.channels.get(RTD)?.high, 85);
  assert(Object.isFrozen(c) && Object.isFrozen(c.channels.get(RTD)), "one frozen object, replaced whole");
  equal(Object.keys(DEFAULT_CHANNELS).length, 8);
});

test("pipeline config: every invalid field is named at once, and nothing is returned", () => {
  const problems = problemsOf(() => parsePipelineConfig({
    channels: {
      "max31865.temperature": { interval_s: 1.5, stats: ["min", "avg"], deadband: -1 },
      "nosuch.thing": { interval_s: 1 },
      "sht3x.humidity": { interval_s: 10, max_silent_s: 60 },
      "adxl345.rms_x": { every: 1 },
      "bme280.pressure": 5,
    },
    alarms: { "max31865.temperature": { high: 85 } },
  }, 1000, ALL));
  const text = problems.join("\n");
  for (const expected of [
    "channels.max31865.temperature.interval_s must be a whole number of sample periods",
    "channels.max31865.temperature.stats must be a list of distinct names from min, max",
    "channels.max31865.temperature.deadband must be a number in 0..1000000000",
    "channels.nosuch.thing: not a channel",
    "channels.sht3x.humidity.max_silent_s needs a deadband",
    "channels.adxl345.rms_x.every: unknown key",
    "channels.bme280.pressure must be an object",
    "alarms.max31865.temperature: high and clear_high go together",
  ]) assert(text.includes(expected), `missing: ${expected}\nin: ${text}`);
  equal(problems.length, 8);
});

test("pipeline config: a channel or alarm of a sensor the node does not have is refused", () => {
  const problems = problemsOf(() => parsePipelineConfig({ channels: { "sht3x.temperature": {} }, alarms: { "max31865.temperature": { high: 85, clear_high: 83 } } }, 1000, ["bme280"]));
  assert(problems.some((p) => p === "channels.sht3x.temperature: sensor sht3x is not in sensors"), problems.join("; "));
  assert(problems.some((p) => p.startsWith("alarms.max31865.temperature: sensor max31865 is not in sensors")), problems.join("; "));
  throws(() => parsePipelineConfig({ channels: [] }, 1000, ALL), PipelineConfigError, /channels must be an object/);
});

test("pipeline config: a deadband brings a maximum silent interval (60 s unless given)", () => {
  const c = parsePipelineConfig({ channels: { "sht3x.humidity": { interval_s: 5, deadband_pct: 2 }, "sht3x.temperature": { deadband: 0.1, max_silent_s: 300 } } }, 1000, ALL);
  equal(c.channels.get(HUMIDITY)?.maxSilentMs, 60_000);
  equal(c.channels.get(0)?.maxSilentMs, 300_000);
  equal(c.channels.get(0)?.intervalMs, 1000, "interval defaults to the sample period");
});

const windowsFor = (channels: Record<string, unknown>) => new ReportWindows(parsePipelineConfig({ channels, alarms: {} }, 1000, ALL), 1000);

test("windows: a 5 s window reports mean, min and max of its good samples once, at its end", () => {
  const w = windowsFor({ "max31865.temperature": { interval_s: 5, stats: ["min", "max"] } });
  const values = [60, 62, 61, 65, 67];
  for (let i = 0; i < 4; i++) equal(w.sample(one(RTD, good(values[i])), i * 1000), undefined, `sample ${i}: not due`);
  deepEqual(w.sample(one(RTD, good(values[4])), 4000), one(RTD, { quality: "good", value: 63, min: 60, max: 67 }));
  equal(w.sample(one(RTD, good(1)), 5000), undefined, "a new window starts");
});

test("windows: vibration RMS combines as RMS and the peak as the maximum", () => {
  const w = windowsFor({ "adxl345.rms_x": { interval_s: 2 }, "adxl345.peak": { interval_s: 2 } });
  w.sample(new Map([[RMS_X, good(3)], [PEAK, good(9)]]), 0);
  const r = w.sample(new Map([[RMS_X, good(4)], [PEAK, good(7)]]), 1000)!;
  near(r.get(RMS_X)!.value!, Math.sqrt((9 + 16) / 2), 1e-12, "sqrt of the mean square");
  equal(r.get(PEAK)!.value, 9);
});

test("windows: bad samples never enter a statistic; some bad makes it uncertain with the good count, all bad is bad with the last reason", () => {
  const w = windowsFor({ "max31865.temperature": { interval_s: 4, stats: ["max"] } });
  w.sample(one(RTD, good(60)), 0);
  w.sample(one(RTD, { quality: "bad", reason: "crc" }), 1000);
  w.sample(one(RTD, { quality: "bad", reason: "nack", value: 999 }), 2000);
  deepEqual(w.sample(one(RTD, good(70)), 3000), one(RTD, { quality: "uncertain", value: 65, max: 70, reason: "nack", count: 2 }));
  for (let i = 0; i < 3; i++) w.sample(one(RTD, { quality: "bad", reason: "crc" }), 4000 + i * 1000);
  deepEqual(w.sample(one(RTD, { quality: "bad", reason: "open-circuit" }), 7000), one(RTD, { quality: "bad", reason: "open-circuit" }));
  // A channel the sensors did not deliver at all is absent.
  for (let i = 0; i < 3; i++) w.sample(new Map(), 8000 + i * 1000);
  deepEqual(w.sample(new Map(), 11_000), one(RTD, { quality: "bad", reason: "absent" }));
});

test("windows: an uncertain sample keeps its value in the statistics and makes the window uncertain", () => {
  const w = windowsFor({ "bme280.pressure": { interval_s: 2 } });
  const P = channelNumber("bme280", "pressure");
  w.sample(one(P, good(100_000)), 0);
  deepEqual(w.sample(one(P, { quality: "uncertain", reason: "range", value: 100_010 }), 1000), one(P, { quality: "uncertain", reason: "range", value: 100_005, count: 2 }));
});

test("windows: inside the deadband nothing is sent until the maximum silence; a step, an extreme or a quality change is sent at once", () => {
  const w = windowsFor({ "max31865.temperature": { interval_s: 1, deadband: 0.5, max_silent_s: 10, stats: ["max"] } });
  let t = 0;
  const step = (s: ChannelSample) => w.sample(one(RTD, s), (t += 1000));
  deepEqual(step(good(60)), one(RTD, { quality: "good", value: 60, max: 60 }), "the first window is always sent");
  equal(step(good(60.5)), undefined, "exactly at the band: quiet");
  equal(step(good(59.6)), undefined);
  assert(step(good(60.6)) !== undefined, "beyond the band: sent");
  for (let i = 0; i < 9; i++) equal(step(good(60.6)), undefined, `quiet ${i}`);
  assert(step(good(60.6)) !== undefined, "10 s without a report: sent although unchanged");
  deepEqual(step({ quality: "bad", reason: "crc" }), one(RTD, { quality: "bad", reason: "crc" }), "quality change: sent");
  equal(step({ quality: "bad", reason: "crc" }), undefined, "still bad for the same reason: quiet");
  assert(step({ quality: "bad", reason: "nack" }) !== undefined, "a new reason: sent");
  assert(step(good(60.6)) !== undefined, "good again: sent");
});

test("windows: a percent deadband scales with the last value sent", () => {
  const w = windowsFor({ "sht3x.humidity": { deadband_pct: 10 } });
  let t = 0;
  assert(w.sample(one(HUMIDITY, good(50)), (t += 1000)) !== undefined, "first");
  equal(w.sample(one(HUMIDITY, good(54.9)), (t += 1000)), undefined, "within 10 % of 50");
  assert(w.sample(one(HUMIDITY, good(55.1)), (t += 1000)) !== undefined, "beyond 5");
});

test("windows: channels with different intervals close on their own ticks; a channel not configured is not reported", () => {
  const w = windowsFor({ "max31865.temperature": { interval_s: 1 }, "sht3x.humidity": { interval_s: 3 } });
  const samples = new Map([[RTD, good(60)], [HUMIDITY, good(40)], [0, good(20)]]);
  deepEqual([...w.sample(samples, 0)!.keys()], [RTD]);
  deepEqual([...w.sample(samples, 1000)!.keys()], [RTD]);
  deepEqual([...w.sample(samples, 2000)!.keys()], [HUMIDITY, RTD]);
});

test("record type 3: statistics, quality, count and both kinds of time survive the round trip at stored resolution", () => {
  const reports = new Map<number, ChannelSample>([
    [0, { quality: "good", value: 21.534, min: 20.1, max: 22.999 }],
    [HUMIDITY, { quality: "uncertain", reason: "crc", value: 40.5, count: 3 }],
    [RTD, { quality: "bad", reason: "open-circuit" }],
    [PEAK, { quality: "good", value: -0.001 }],
  ]);
  const utc = decodeReading(7, encodeReport(1_795_000_000_123, reports));
  equal(utc.ts, 1_795_000_000_123);
  equal(utc.sinceBoot, undefined);
  deepEqual(utc.channels.get(0), { quality: "good", value: 21.53, min: 20.1, max: 23 });
  deepEqual(utc.channels.get(HUMIDITY), { quality: "uncertain", reason: "crc", count: 3, value: 40.5 });
  deepEqual(utc.channels.get(RTD), { quality: "bad", reason: "open-circuit" });
  deepEqual(utc.channels.get(PEAK), { quality: "good", value: -0.001 });
  const early = decodeReading(8, encodeReport({ boot: 3, ms: 2 ** 40 + 5 }, reports));
  deepEqual([early.ts, early.sinceBoot], [0, { boot: 3, ms: 2 ** 40 + 5 }]);
  const bytes = encodeReport(5, reports);
  throws(() => decodeReading(1, bytes.subarray(0, bytes.length - 1)), RecordFormatError, /ends early/);
  throws(() => decodeReading(1, Uint8Array.of(...bytes, 0)), RecordFormatError, /left over/);
  throws(() => decodeReading(1, Uint8Array.of(3, 2, 0, 0, 0, 0, 0, 0, 0)), RecordFormatError, /unknown flags/);
  throws(() => decodeReading(1, Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0)), RecordFormatError, /bad channel head/);
  // A good window without a value is stored as bad, never as a number.
  deepEqual(decodeReading(1, encodeReport(5, one(0, { quality: "good" }))).channels.get(0), { quality: "bad", reason: "range" });
});

test("alarm record: a boot-relative time round-trips, and old records without it still decode", () => {
  const e = { channel: RTD, kind: "high" as const, state: "raised" as const, value: 86, limit: 85, ts: 0, sinceBoot: { boot: 4, ms: 12_345 } };
  deepEqual(decodeAlarm(1, encodeAlarm(e)), e);
  const utc = { channel: RTD, kind: "high" as const, state: "cleared" as const, value: 82, limit: 83, ts: 1_795_000_000_000 };
  deepEqual(decodeAlarm(2, encodeAlarm(utc)), utc);
});

test("batch legend: values in column order, null where a channel has none, quality as an object, min/max columns", () => {
  const legend = new Legend([(1 << 0) | (1 << HUMIDITY) | (1 << RTD), 1 << RTD, 1 << RTD]);
  equal(legend.json, '{"sht3x":["temperature","humidity"],"max31865":["temperature","temperature_min","temperature_max"]}');
  const r = { seq: 9, ts: 1000, channels: new Map<number, ChannelSample>([[HUMIDITY, good(40.5)], [RTD, { quality: "uncertain", reason: "crc", value: 61, min: 60, max: 62, count: 4 }]]) };
  equal(readingJson(r, legend), '{"seq":9,"ts":1000,"sht3x":[null,40.5],"max31865":{"v":[61,60,62],"quality":"uncertain","reason":"crc","n":4}}');
  const bad = { seq: 10, ts: 2000, channels: new Map<number, ChannelSample>([[0, { quality: "bad", reason: "nack" }], [HUMIDITY, good(41)]]) };
  equal(readingJson(bad, legend), '{"seq":10,"ts":2000,"sht3x":{"v":[null,41],"quality":"bad","reason":"nack"}}');
});

test("batches: a reading with a column outside the legend, or a change to estimated times, starts a new batch", () => {
  const encoder = new BatchEncoder({ device: "d", boot: 2, maxBytes: 5120, columns: [1 << RTD, 0, 0] });
  equal(encoder.add({ seq: 1, ts: 1000, channels: one(RTD, good(60)) }), undefined);
  equal(encoder.add({ seq: 2, ts: 2000, channels: one(RTD, good(61)) }), undefined);
  const closed = encoder.add({ seq: 3, ts: 3000, channels: new Map([[RTD, good(62)], [0, good(20)]]) });
  const first = JSON.parse(new TextDecoder().decode(closed!.payload));
  deepEqual([first.count, first.channels, first.readings[1]], [2, { max31865: ["temperature"] }, { seq: 2, ts: 2000, max31865: [61] }]);
  const estimated = encoder.add({ seq: 4, ts: 3500, estimated: true, channels: one(RTD, good(63)) });
  const second = JSON.parse(new TextDecoder().decode(estimated!.payload));
  deepEqual([second.count, second.channels, second.ts_estimated], [1, { sht3x: ["temperature"], max31865: ["temperature"] }, undefined]);
  const third = JSON.parse(new TextDecoder().decode(encoder.flush()!.payload));
  deepEqual([third.ts_estimated, third.first_seq, third.channels], [true, 4, { max31865: ["temperature"] }]);
});

test("monotonic clock: counts through the 32-bit tick wrap", () => {
  let ticks = TICKS_WRAP - 1500;
  const clock = new MonotonicClock(() => ticks);
  equal(clock.now(), 0);
  ticks = TICKS_WRAP - 500;
  equal(clock.now(), 1000);
  ticks = 700; // wrapped
  equal(clock.now(), 2200);
  ticks = 700;
  equal(clock.now(), 2200, "no time passed");
});

test("time base: before the clock is set samples carry the boot's ms; once set they are UTC and earlier ones convert exactly", () => {
  const t = new TimeBase(5);
  deepEqual(t.stamp(1200), { boot: 5, ms: 1200 });
  equal(t.resolve({ boot: 5, ms: 1200 }), undefined, "no UTC before the clock is set");
  const saved = t.set(1_795_000_010_000, 10_000);
  equal(t.stamp(11_000), 1_795_000_011_000);
  deepEqual(t.resolve({ boot: 5, ms: 1200 }), { ts: 1_795_000_001_200, estimated: false });
  // After a restart the anchor still converts the old boot exactly.
  const after = new TimeBase(6, saved);
  deepEqual(after.resolve({ boot: 5, ms: 1200 }), { ts: 1_795_000_001_200, estimated: false });
});

test("time base: a boot that never set its clock is estimated as ending just before the next began, order kept", () => {
  // Boot 7 ran 50 s without a clock; boot 8 sets it 2 s in, at a known UTC.
  const boot8 = new TimeBase(8, "6=1794000000000");
  boot8.previousBootEnded(7, 50_000);
  const saved = boot8.set(1_795_000_002_000, 2_000);
  const start8 = 1_795_000_000_000;
  deepEqual(boot8.resolve({ boot: 7, ms: 50_000 }), { ts: start8 - 1, estimated: true });
  deepEqual(boot8.resolve({ boot: 7, ms: 10_000 }), { ts: start8 - 1 - 40_000, estimated: true });
  deepEqual(boot8.resolve({ boot: 6, ms: 5 }), { ts: 1_794_000_000_005, estimated: false });
  // Two unsynced boots in a row chain back from the first boot with a clock.
  const boot9 = new TimeBase(9, saved);
  deepEqual(boot9.resolve({ boot: 7, ms: 50_000 }), { ts: start8 - 1, estimated: true });
  const chain = new TimeBase(9, "7~50000 8~20000");
  chain.set(1_795_000_000_000, 0);
  deepEqual(chain.resolve({ boot: 8, ms: 20_000 }), { ts: 1_795_000_000_000 - 1, estimated: true });
  deepEqual(chain.resolve({ boot: 7, ms: 50_000 }), { ts: 1_795_000_000_000 - 1 - 20_001, estimated: true });
  deepEqual(chain.resolve({ boot: 8, ms: 25_000 }), { ts: 1_795_000_000_000 - 1, estimated: true }, "a record past the boot's known end: the boot ends there");
  const gap = new TimeBase(10, "8~20000");
  gap.set(1_795_000_000_000, 0);
  deepEqual(gap.resolve({ boot: 8, ms: 20_000 }), { ts: 1_795_000_000_000 - 2, estimated: true }, "boot 9, unknown, lasted at least a moment");
  // Garbage in the preference is ignored, and at most 8 boots are kept.
  const kept = new TimeBase(30, "x 3=y 29=100 28~-5 " + Array.from({ length: 20 }, (_, i) => `${i}=${i}`).join(" "));
  equal(kept.persisted().split(" ").length, 8);
  equal(kept.persisted().startsWith("29=100 19=19"), true, kept.persisted());
});

test("time base: no converted time is ever before the clock's earliest valid date", () => {
  const t = new TimeBase(2, "1~86400000");
  t.set(1_795_000_000_000, 0);
  const r = t.resolve({ boot: 1, ms: 0 })!;
  assert(r.ts > 1_700_000_000_000 && r.estimated, JSON.stringify(r));
  assert(CHANNELS.length >= 10, "channels");
});
