// Alarms on the device: hysteresis, delays, bad samples while raised, sensor-fault, the
// configuration as one validated object, the alarm record and its message.

import { test, equal, deepEqual, throws, assert } from "./api";
import { AlarmConfigError, AlarmMonitor, ChannelAlarm, DEFAULT_ALARMS, parseAlarmConfig } from "../../src/pipeline/alarms";
import { decodeAlarm, encodeAlarm, recordType } from "../../src/telemetry/alarm-record";
import { alarmJson } from "../../src/telemetry/batch";
import { RecordFormatError, channelNumber } from "../../src/telemetry/reading";

const RTD = channelNumber("max31865", "temperature");
const limits = (extra: Record<string, number> = {}) => ({ high: 85, clearHigh: 83, onDelayMs: 0, offDelayMs: 0, ...extra });

test("alarms: raised above the limit and cleared only below the clear value (hysteresis, exact at the edges)", () => {
  const a = new ChannelAlarm(RTD, limits(), 30_000);
  equal(a.update(true, 85, 0), undefined, "at the limit: not above");
  deepEqual(a.update(true, 85.01, 1000), { channel: RTD, kind: "high", state: "raised", value: 85.01, limit: 85, ts: 1000 });
  equal(a.update(true, 90, 2000), undefined, "raised once");
  equal(a.update(true, 84, 3000), undefined, "inside the band: still raised");
  equal(a.update(true, 83, 4000), undefined, "at the clear value: not below");
  deepEqual(a.update(true, 82.99, 5000), { channel: RTD, kind: "high", state: "cleared", value: 82.99, limit: 83, ts: 5000 });
  equal(a.update(true, 84.9, 6000), undefined, "below the limit after a clear: nothing");
});

test("alarms: on and off delays need the condition to hold that long, and restart when it breaks", () => {
  const a = new ChannelAlarm(RTD, limits({ onDelayMs: 3000, offDelayMs: 2000 }), 30_000);
  equal(a.update(true, 86, 0), undefined);
  equal(a.update(true, 86, 2999), undefined);
  equal(a.update(true, 84, 3000), undefined, "dropped back into the band: the delay restarts");
  equal(a.update(true, 86, 4000), undefined);
  equal(a.update(true, 86, 6999), undefined);
  equal(a.update(true, 86, 7000)?.state, "raised", "3 s above");
  equal(a.update(true, 80, 8000), undefined);
  equal(a.update(true, 80, 9999), undefined);
  equal(a.update(true, 80, 10_000)?.state, "cleared", "2 s below");
});

test("alarms: a low limit mirrors the high one", () => {
  const a = new ChannelAlarm(RTD, { low: -10, clearLow: -8, onDelayMs: 0, offDelayMs: 0 }, 30_000);
  equal(a.update(true, -10, 0), undefined);
  deepEqual(a.update(true, -10.5, 1), { channel: RTD, kind: "low", state: "raised", value: -10.5, limit: -10, ts: 1 });
  equal(a.update(true, -8, 2), undefined);
  equal(a.update(true, -7.9, 3)?.state, "cleared");
});

test("alarms: bad samples while raised do not clear it; bad longer than the fault time raises sensor-fault", () => {
  const a = new ChannelAlarm(RTD, limits(), 30_000);
  equal(a.update(true, 90, 0)?.state, "raised");
  for (let t = 1000; t < 31_000; t += 1000) equal(a.update(false, undefined, t), undefined, `bad at ${t}: nothing yet`);
  deepEqual(a.update(false, undefined, 31_000), { channel: RTD, kind: "sensor-fault", state: "raised", ts: 31_000 });
  assert(a.raised, "still raised");
  equal(a.update(false, undefined, 60_000), undefined, "raised once");
  deepEqual(a.update(true, 84, 61_000), { channel: RTD, kind: "sensor-fault", state: "cleared", value: 84, ts: 61_000 });
  equal(a.update(true, 84, 62_000), undefined, "84 is inside the band: the high alarm stays raised");
  equal(a.update(true, 82, 63_000)?.kind, "high", "cleared only by a good value below 83");
});

test("alarms: a bad spell shorter than the fault time raises nothing and restarts the timer", () => {
  const a = new ChannelAlarm(RTD, undefined, 5000);
  equal(a.update(false, undefined, 0), undefined);
  equal(a.update(true, 20, 4999), undefined);
  equal(a.update(false, undefined, 5000), undefined);
  equal(a.update(false, undefined, 9999), undefined);
  equal(a.update(false, undefined, 10_000)?.kind, "sensor-fault", "5 s after the spell began");
});

test("alarms: the monitor covers every channel; those without limits still get sensor-fault", () => {
  const m = new AlarmMonitor(parseAlarmConfig(DEFAULT_ALARMS));
  const humidity = channelNumber("sht3x", "humidity");
  equal(m.update(humidity, true, 99.9, 0), undefined, "no limit on humidity");
  equal(m.update(humidity, false, undefined, 1), undefined);
  equal(m.update(humidity, false, undefined, 30_001)?.kind, "sensor-fault");
  equal(m.update(channelNumber("adxl345", "rms_y"), true, 8.5, 2)?.limit, 8);
  deepEqual(m.raised(), [humidity, channelNumber("adxl345", "rms_y")]);
});

test("alarms: the configuration is validated as a whole, each problem named, nothing half-applied", () => {
  const c = parseAlarmConfig(DEFAULT_ALARMS);
  equal(c.faultAfterMs, 30_000);
  deepEqual(c.channels.get(RTD), { high: 85, clearHigh: 83, low: undefined, clearLow: undefined, onDelayMs: 0, offDelayMs: 0 });
  assert(Object.isFrozen(c), "frozen");
  const e = throws(() => parseAlarmConfig({
    fault_after_s: 0, "max31865.temp": { high: 1, clear_high: 0 }, "sht3x.humidity": { high: 80, clear_high: 90 },
    "bme280.pressure": { low: 90_000 }, "adxl345.peak": { high: 5, clear_high: 4, on_delay_s: -1, colour: 1 }, "sht3x.temperature": 5,
  }), AlarmConfigError);
  for (const pattern of [/alarms.fault_after_s/, /alarms.max31865.temp: not a channel/, /alarms.sht3x.humidity.clear_high must be below high/,
    /alarms.bme280.pressure: low and clear_low go together/, /alarms.adxl345.peak.on_delay_s must be in 0..86400/, /alarms.adxl345.peak.colour: unknown key/,
    /alarms.sht3x.temperature must be an object/])
    assert(pattern.test(e.message), `${pattern} in ${e.message}`);
  throws(() => parseAlarmConfig([]), AlarmConfigError, /must be an object/);
  throws(() => parseAlarmConfig({ "max31865.temperature": {} }), AlarmConfigError, /needs high or low/);
  throws(() => parseAlarmConfig({ "max31865.temperature": { high: 5, clear_high: 1, low: 0, clear_low: 2 } }), AlarmConfigError, /clear_low must be below clear_high/);
});

test("alarm record: round trip at the channel's resolution, and refusals", () => {
  const raised = { channel: RTD, kind: "high" as const, state: "raised" as const, value: 85.126, limit: 85, ts: 1_795_000_000_123 };
  const bytes = encodeAlarm(raised);
  equal(recordType(bytes), 2);
  equal(bytes.length, 15, "type 1, time 6, channel 1, flags 1, two 3-byte varints");
  deepEqual(decodeAlarm(7, bytes), { ...raised, value: 85.13 });
  const fault = { channel: RTD, kind: "sensor-fault" as const, state: "raised" as const, ts: 5 };
  deepEqual(decodeAlarm(8, encodeAlarm(fault)), fault);
  throws(() => decodeAlarm(9, bytes.slice(0, 10)), RecordFormatError, /ends early/);
  throws(() => decodeAlarm(9, Uint8Array.of(1, 0, 0, 0, 0, 0, 0)), RecordFormatError, /not an alarm/);
  throws(() => decodeAlarm(9, Uint8Array.of(...bytes, 0)), RecordFormatError, /left over/);
  throws(() => encodeAlarm({ ...fault, channel: 99 }), RangeError);
});

test("alarm message: one small JSON with the channel's name and the log's sequence number", () => {
  const json = new TextDecoder().decode(alarmJson("press-7", 3, 812, { channel: RTD, kind: "high", state: "raised", value: 85.13, limit: 85, ts: 1_795_000_000_123 }));
  equal(json, '{"schema":1,"device":"press-7","boot":3,"seq":812,"ts":1795000000123,"channel":"max31865.temperature","alarm":"high","state":"raised","value":85.13,"limit":85}');
});

test("alarms: new limits keep a raised alarm raised where its limit remains, and clear it where the limit or the channel went", () => {
  const monitor = new AlarmMonitor(parseAlarmConfig({ "max31865.temperature": { high: 85, clear_high: 83 }, "sht3x.temperature": { high: 30, clear_high: 28 } }));
  equal(monitor.update(RTD, true, 90, 0)?.state, "raised");
  equal(monitor.update(0, true, 35, 0)?.state, "raised");
  // The RTD's limit moves (still a high limit); the SHT3x's goes; the BME280 is no longer watched.
  const events = monitor.reconfigure(parseAlarmConfig({ "max31865.temperature": { high: 95, clear_high: 93 } }), [RTD, 0], 1000);
  deepEqual(events, [{ channel: 0, kind: "high", state: "cleared", ts: 1000 }]);
  deepEqual(monitor.raised(), [RTD], "still raised under its new limit");
  equal(monitor.update(RTD, true, 94, 2000), undefined, "94 is inside the new band: no clear yet");
  equal(monitor.update(RTD, true, 92, 3000)?.state, "cleared", "below the new clear value");
  // A sensor fault on a channel that stops being watched is cleared.
  const faulty = new AlarmMonitor(parseAlarmConfig({ fault_after_s: 1 }), [RTD]);
  equal(faulty.update(RTD, false, undefined, 0), undefined);
  equal(faulty.update(RTD, false, undefined, 1000)?.kind, "sensor-fault");
  deepEqual(faulty.reconfigure(parseAlarmConfig({}), [], 2000), [{ channel: RTD, kind: "sensor-fault", state: "cleared", ts: 2000 }]);
  deepEqual(faulty.raised(), []);
});

test("alarms: a delay under way goes on through a configuration change that leaves its limits alone", () => {
  const config = parseAlarmConfig({ "max31865.temperature": { high: 85, clear_high: 83, on_delay_s: 300 } });
  const monitor = new AlarmMonitor(config, [RTD]);
  equal(monitor.update(RTD, true, 90, 0), undefined);
  monitor.reconfigure(parseAlarmConfig({ "max31865.temperature": { high: 85, clear_high: 83, on_delay_s: 300 }, fault_after_s: 60 }), [RTD], 290_000);
  equal(monitor.update(RTD, true, 90, 300_000)?.state, "raised", "300 s after the first sample above, not 300 s after the change");
  // A changed limit starts its delay again.
  const moved = new AlarmMonitor(config, [RTD]);
  moved.update(RTD, true, 90, 0);
  moved.reconfigure(parseAlarmConfig({ "max31865.temperature": { high: 86, clear_high: 83, on_delay_s: 300 } }), [RTD], 290_000);
  equal(moved.update(RTD, true, 90, 300_000), undefined);
});
