// Batches, UTF-8 and configuration: the pure pieces between a sample and a PUBLISH.

import { test, equal, deepEqual, throws, bytes, assert, random } from "./api";
import { BatchEncoder, Legend, readingJson, type Batch } from "../../src/telemetry/batch";
import { expandReadings } from "../../cloud/expand-readings";
import { CHANNELS, REASONS, RecordFormatError, channelNumber, decodeReading, encodeReading, type ChannelSample, type Reading } from "../../src/telemetry/reading";
import { utf8Decode, utf8Encode, utf8Length } from "../../src/util/utf8";
import { ConfigError, parseConfig } from "../../src/config";

test("utf8: encodes 1- to 4-byte characters and lone surrogates", () => {
  deepEqual(utf8Encode("aé€😀"), bytes(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
  deepEqual(utf8Encode("\ud800x"), bytes(0xef, 0xbf, 0xbd, 0x78));
  equal(utf8Length("aé€😀"), 10);
  equal(utf8Decode(utf8Encode("press-7 ✓ 温度 😀")), "press-7 ✓ 温度 😀");
});

test("utf8: strict decoding refuses overlong, surrogate, truncated and out-of-range sequences", () => {
  for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xff]])
    throws(() => utf8Decode(Uint8Array.from(bad)), RangeError);
});

function reading(seq: number, samples: [number, ChannelSample][] = [[0, { quality: "good", value: 21.37 }], [1, { quality: "good", value: 48.02 }]]): Reading {
  return { seq, ts: 1_790_000_000_000 + seq * 1000, channels: new Map(samples) };
}

test("reading record: every channel round-trips through its compact binary form", () => {
  const samples = new Map<number, ChannelSample>(CHANNELS.map((c, n) => [n, { quality: "good", value: Math.round((n * 37.7 - 100) * 10 ** c.decimals) / 10 ** c.decimals }]));
  samples.set(2, { quality: "good", value: 101325.4 });
  const ts = 1_795_304_474_561;
  const bytes = encodeReading(ts, samples);
  const back = decodeReading(9, bytes);
  equal(back.ts, ts);
  for (const [n, s] of samples) equal(back.channels.get(n)!.value, s.value, `${CHANNELS[n].sensor}.${CHANNELS[n].quantity}`);
  assert(bytes.length <= 1 + 6 + 2 + 1 + CHANNELS.length * 3, `reference window in ${bytes.length} bytes`);
});

test("reading record: quality and reason survive, values round to the channel's resolution", () => {
  const bytes = encodeReading(5, new Map<number, ChannelSample>([
    [0, { quality: "bad", reason: "crc" }],
    [1, { quality: "uncertain", reason: "no-data" }],
    [5, { quality: "good", value: -200.004 }],
  ]));
  const back = decodeReading(1, bytes);
  deepEqual(back.channels.get(0), { quality: "bad", reason: "crc" });
  deepEqual(back.channels.get(1), { quality: "uncertain", reason: "no-data" });
  equal(back.channels.get(5)!.value, -200);
  equal(back.channels.has(2), false);
  throws(() => decodeReading(1, bytes.subarray(0, bytes.length - 1)), RecordFormatError, /ends early/);
  throws(() => decodeReading(1, Uint8Array.of(7)), RecordFormatError, /type 7/);
  throws(() => encodeReading(0, new Map([[40, { quality: "good", value: 1 }]])), RangeError, /unknown channel/);
});

test("batch: every batch fits the 5 KB billing unit and sequence numbers run on without gaps", () => {
  const encoder = new BatchEncoder({ device: "press-7", boot: 3, maxBytes: 5120 });
  const batches: Batch[] = [];
  const rand = random(7);
  for (let seq = 1; seq <= 1000; seq++) {
    const r = reading(seq, [[0, { quality: "good", value: Math.round(rand() * 10000) / 100 }], [2, { quality: "good", value: 100000 + Math.round(rand() * 30000) / 10 }]]);
    const closed = encoder.add(r);
    if (closed) batches.push(closed);
  }
  batches.push(encoder.flush()!);
  let next = 1;
  for (const b of batches) {
    assert(b.payload.length <= 5120, `batch of ${b.payload.length} bytes`);
    const doc = JSON.parse(utf8Decode(b.payload));
    equal(doc.device, "press-7");
    equal(doc.boot, 3);
    equal(doc.readings.length, b.count);
    equal(doc.readings[0].seq, next);
    const named = expandReadings(doc)[0] as unknown as Record<string, Record<string, unknown>>;
    equal(typeof named.sht3x.temperature, "number");
    equal(typeof named.bme280.pressure, "number");
    equal(b.firstSeq, next);
    next = b.lastSeq + 1;
    equal(doc.readings[doc.readings.length - 1].seq, b.lastSeq);
  }
  equal(next, 1001);
  assert(batches[0].payload.length > 4900, `batches are filled (${batches[0].payload.length} bytes)`);
});

test("batch: the fit check counts the comma and the closing ]}: a batch fills the limit exactly, never more", () => {
  const readings = [1, 2, 3].map((seq) => reading(seq));
  const whole = new BatchEncoder({ device: "d", boot: 1, maxBytes: 5120 });
  for (const r of readings) whole.add(r);
  const exact = whole.flush()!.payload.length;
  // At the exact size all three share one batch; one byte less and the third must start a new one.
  for (const maxBytes of [exact, exact - 1, exact - 2, exact + 1]) {
    const encoder = new BatchEncoder({ device: "d", boot: 1, maxBytes });
    const batches = readings.map((r) => encoder.add(r)).filter((b) => b !== undefined) as Batch[];
    batches.push(encoder.flush()!);
    for (const b of batches) assert(b.payload.length <= maxBytes, `a batch of ${b.payload.length} bytes under a ${maxBytes}-byte limit`);
    deepEqual(batches.map((b) => b.count), maxBytes >= exact ? [3] : [2, 1], `limit ${maxBytes}`);
  }
});

test("batch: a sensor that is not good carries its quality and reason, and no value", () => {
  const encoder = new BatchEncoder({ device: "d", boot: 1, maxBytes: 1024 });
  encoder.add(reading(1, [[0, { quality: "bad", reason: "crc" }], [1, { quality: "bad", reason: "crc" }], [5, { quality: "good", value: 80.5 }]]));
  const doc = JSON.parse(utf8Decode(encoder.flush()!.payload));
  deepEqual(doc.readings[0], { seq: 1, ts: 1_790_000_001_000, sht3x: { v: [null, null], quality: "bad", reason: "crc" }, max31865: [80.5] });
  deepEqual(expandReadings(doc)[0], { seq: 1, ts: 1_790_000_001_000, sht3x: { quality: "bad", reason: "crc" }, max31865: { temperature: 80.5 } });
  equal(encoder.flush(), undefined, "nothing pending after a flush");
});

test("batch: a reading that cannot fit even alone goes in a batch of its own, over the limit, and closes it (delivery never stops at it)", () => {
  const encoder = new BatchEncoder({ device: "d".repeat(600), boot: 1, maxBytes: 512 });
  equal(encoder.add(reading(1)), undefined);
  equal(encoder.oversize, true);
  const closed = encoder.add(reading(2))!;
  deepEqual([closed.firstSeq, closed.lastSeq, closed.count], [1, 1, 1]);
  assert(closed.payload.length > 512, "over the limit, alone");
  deepEqual([encoder.oversize, encoder.pendingReadings], [true, 1]);
  const small = new BatchEncoder({ device: "d", boot: 1, maxBytes: 5120 });
  small.add(reading(1));
  const big = new BatchEncoder({ device: "d", boot: 1, maxBytes: small.flush()!.payload.length - 1 });
  equal(big.add(reading(1)), undefined);
  equal(big.add(reading(2))?.count, 1, "a batch before it is closed first");
});

const good = {
  thing: "press-7", topic_root: "factory/press-7/", broker_host: "localhost", broker_port: "8883",
  i2c_sda: "21", i2c_scl: 22,
};

test("config: mcconfig key=value strings become numbers, defaults fill the rest", () => {
  const c = parseConfig(good);
  equal(c.broker.port, 8883);
  equal(c.i2c.data, 21);
  equal(c.i2c.hz, 100_000);
  equal(c.keepAliveSeconds, 60);
  equal(c.maxBatchBytes, 5120);
  equal(c.resources.key, "device-key.der");
});

test("config: sensors and their shared SPI bus, with the reference device's defaults", () => {
  const c = parseConfig(good);
  deepEqual(c.sensors, ["sht3x", "bme280", "max31865", "adxl345"]);
  deepEqual(c.spi, { port: 2, clock: 18, out: 23, in: 19, hz: 1_000_000 });
  deepEqual(c.rtd, { select: 4, nominal: 100, referenceOhms: 430, wires: 3, filterHz: 50, leadCheckEvery: 600 });
  deepEqual(c.accelerometer, { select: 5, range: 16 });
  const custom = parseConfig({ ...good, sensors: "max31865, sht3x", rtd_nominal: "1000", rtd_ref_ohms: "4300", rtd_wires: "2", rtd_filter_hz: "60", rtd_cs: "15" });
  deepEqual(custom.sensors, ["max31865", "sht3x"]);
  deepEqual([custom.rtd.nominal, custom.rtd.referenceOhms, custom.rtd.wires, custom.rtd.filterHz, custom.rtd.select], [1000, 4300, 2, 60, 15]);
  // Without the ADXL345 its select pin may serve another purpose.
  equal(parseConfig({ ...good, sensors: "max31865", rtd_cs: "5" }).rtd.select, 5);
});

test("config: bad sensor settings are each named", () => {
  const error = throws(() => parseConfig({
    ...good, sensors: "sht3x,foo,sht3x", rtd_wires: "5", rtd_filter_hz: "55", rtd_nominal: "1000", rtd_ref_ohms: "430",
    accel_range: "3", spi_port: "0", spi_sck: "36",
  }), ConfigError);
  for (const pattern of [/sensors must be/, /rtd_wires must be one of 2, 3, 4/, /rtd_filter_hz/, /rtd_ref_ohms must exceed/, /accel_range/, /spi_port must be an integer in 1..2/, /spi_sck: GPIO 36 is input only/])
    assert(pattern.test(error.message), `${pattern} in ${error.message}`);
  throws(() => parseConfig({ ...good, accel_cs: "21" }), ConfigError, /i2c_sda and accel_cs are both GPIO 21/);
  throws(() => parseConfig({ ...good, rtd_cs: "5" }), ConfigError, /rtd_cs and accel_cs are both GPIO 5/);
});

test("config: every problem is reported at once", () => {
  const error = throws(() => parseConfig({ ...good, thing: "", broker_address: "broker.example.com", keepalive: "10", broker_port: "x" }), ConfigError);
  // thing, broker_address (a name where only an address goes), keepalive, broker_port
  equal(error.problems.length, 4, error.message);
  assert(/IPv4/.test(error.message) && /keepalive/.test(error.message) && /broker_port/.test(error.message));
});

test("config: thing names and topics are checked against AWS IoT limits", () => {
  throws(() => parseConfig({ ...good, thing: "x".repeat(65) }), ConfigError, /thing must be/);
  throws(() => parseConfig({ ...good, thing: "press 7" }), ConfigError, /thing must be/);
  throws(() => parseConfig({ ...good, topic_root: "a/+/" }), ConfigError, /wildcard/);
  throws(() => parseConfig({ ...good, topic_root: "1/2/3/4/5/6/7/8/" }), ConfigError, /slashes/);
  throws(() => parseConfig({ ...good, topic_root: `${"t".repeat(250)}/` }), ConfigError, /256/);
  throws(() => parseConfig({ ...good, log_full: "maybe" }), ConfigError, /log_full/);
});

test("config: broker_address must be a dotted IPv4 address with octets up to 255", () => {
  throws(() => parseConfig({ ...good, broker_address: "127.0.0.256" }), ConfigError, /IPv4/);
  throws(() => parseConfig({ ...good, broker_address: "1.2.3" }), ConfigError, /IPv4/);
  equal(parseConfig({ ...good, broker_address: "192.0.2.255" }).broker.address, "192.0.2.255");
  equal(parseConfig(good).broker.address, undefined, "no fixed address unless given: the host is looked up");
});

test("config: the broker is a host name or an IPv4 address; the TLS server name defaults to it", () => {
  const aws = parseConfig({ ...good, broker_host: "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com" });
  deepEqual(aws.broker, { host: "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com", port: 8883, serverName: "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com", dnsTimeoutMs: 5000 });
  equal(parseConfig({ ...good, broker_host: "10.0.0.5", broker_name: "broker.plant" }).broker.serverName, "broker.plant");
  equal(parseConfig({ ...good, dns_timeout_ms: "1500" }).broker.dnsTimeoutMs, 1500);
  for (const bad of ["broker..example", "-broker.example", "broker_1.example", "a".repeat(64), "host name"])
    throws(() => parseConfig({ ...good, broker_host: bad }), ConfigError, /broker_host must be a host name or an IPv4 address/);
  throws(() => parseConfig({ ...good, dns_timeout_ms: "10" }), ConfigError, /dns_timeout_ms/);
});

test("config: SNTP servers are one host or a comma-separated list asked in turn", () => {
  deepEqual(parseConfig(good).sntpHosts, ["pool.ntp.org"]);
  deepEqual(parseConfig({ ...good, sntp: "time.plant, 10.0.0.1" }).sntpHosts, ["time.plant", "10.0.0.1"]);
  throws(() => parseConfig({ ...good, sntp: " , " }), ConfigError, /sntp must be/);
  throws(() => parseConfig({ ...good, sntp: "bad host" }), ConfigError, /sntp must be/);
});

test("config: port 443 offers AWS IoT's ALPN protocol unless told otherwise", () => {
  equal(parseConfig({ ...good, broker_port: "443" }).broker.alpn, "x-amzn-mqtt-ca");
  equal(parseConfig(good).broker.alpn, undefined, "8883 offers none");
  equal(parseConfig({ ...good, broker_port: "443", broker_alpn: "none" }).broker.alpn, undefined);
  equal(parseConfig({ ...good, broker_port: "8443", broker_alpn: "mqtt" }).broker.alpn, "mqtt");
  throws(() => parseConfig({ ...good, broker_alpn: "" }), ConfigError, /broker_alpn/);
  throws(() => parseConfig({ ...good, broker_alpn: "a b" }), ConfigError, /broker_alpn/);
  throws(() => parseConfig({ ...good, broker_alpn: "x".repeat(256) }), ConfigError, /broker_alpn/);
});

test("reading record: the channel and reason tables are the stored format and stay as they are", () => {
  // Stored records refer to channels and reasons by number: changing an entry changes old records.
  deepEqual(CHANNELS.map((c) => `${c.sensor}.${c.quantity} ${c.unit} ${c.decimals}`), [
    "sht3x.temperature C 2", "sht3x.humidity %RH 2", "bme280.pressure Pa 1", "bme280.temperature C 2", "bme280.humidity %RH 2",
    "max31865.temperature C 2", "adxl345.rms_x m/s2 3", "adxl345.rms_y m/s2 3", "adxl345.rms_z m/s2 3", "adxl345.peak m/s2 3",
  ]);
  deepEqual(REASONS, ["", "crc", "nack", "bus", "no-data", "restarting", "fault", "range", "stale", "absent", "overrun", "rtd-high",
    "rtd-low", "open-circuit", "force-open", "rtdin-low", "overvoltage", "lead-check", "driver"]);
  equal(channelNumber("bme280", "pressure"), 2);
  equal(channelNumber("sht3x", "temperature"), 0);
  equal(channelNumber("adxl345", "peak"), 9);
  throws(() => channelNumber("sht3x", "pressure"), RangeError, /no channel for sht3x.pressure; add it to CHANNELS/);
  equal(new RecordFormatError("x").name, "RecordFormatError");
});

test("reading record: a good sample without a finite value is stored bad (range); unknown codes decode as code-N", () => {
  const back = decodeReading(1, encodeReading(1000, new Map<number, ChannelSample>([
    [3, { quality: "good", value: NaN }],
    [1, { quality: "good" }],
    [0, { quality: "uncertain" }],
    [4, { quality: "bad", reason: "crc" }],
  ])));
  deepEqual([...back.channels], [
    [0, { quality: "uncertain", reason: "fault" }],
    [1, { quality: "bad", reason: "range" }],
    [3, { quality: "bad", reason: "range" }],
    [4, { quality: "bad", reason: "crc" }],
  ]);
  // A quality byte whose reason code this firmware does not know (a newer one wrote it).
  const bytes = encodeReading(1000, new Map<number, ChannelSample>([[0, { quality: "bad", reason: "crc" }]]));
  bytes[bytes.length - 1] = (1 << 6) | 29;
  deepEqual(decodeReading(1, bytes).channels.get(0), { quality: "bad", reason: "code-29" });
  // Bit 5 says a value follows: a byte with it set and nothing after is a short record, not a code.
  bytes[bytes.length - 1] = (2 << 6) | 0x20 | 7;
  throws(() => decodeReading(1, bytes), RecordFormatError, /ends early/);
});

test("reading record: large values and every channel round-trip (the writer grows), and malformed records are refused", () => {
  const samples = new Map<number, ChannelSample>(CHANNELS.map((c, n) => [n, { quality: "good", value: (n % 2 ? -1 : 1) * 2 ** 40 / 10 ** c.decimals }]));
  const bytes = encodeReading(2 ** 47, samples);
  assert(bytes.length > 64, `${bytes.length} bytes`);
  const back = decodeReading(3, bytes);
  equal(back.ts, 2 ** 47);
  for (const [n, s] of samples) equal(back.channels.get(n)!.value, s.value, CHANNELS[n].quantity);
  equal(decodeReading(3, encodeReading(5, new Map([[5, { quality: "good", value: -0.01 }]]))).channels.get(5)!.value, -0.01);
  throws(() => decodeReading(3, Uint8Array.of(...bytes, 0)), RecordFormatError, /^1 bytes left over in record 3$/);
  throws(() => decodeReading(3, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0)), RecordFormatError, /varint longer than 8 bytes/);
  throws(() => decodeReading(3, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0x80, 0x08, 0)), RecordFormatError, /record names unknown channel 10/);
});

test("batch: within a sensor bad outranks uncertain, good values stay beside them, undecodable records say why", () => {
  const encoder = new BatchEncoder({ device: "d", boot: 1, maxBytes: 1024, columns: [2 ** CHANNELS.length - 1, 0, 0] });
  encoder.add(reading(1, [[2, { quality: "uncertain", reason: "range" }], [3, { quality: "bad", reason: "nack" }], [4, { quality: "good", value: 40.5 }]]));
  encoder.add(reading(2, [[2, { quality: "bad", reason: "crc" }], [3, { quality: "uncertain", reason: "range" }]]));
  encoder.add(reading(3, [[6, { quality: "uncertain", reason: "overrun" }], [7, { quality: "uncertain", reason: "stale" }], [0, { quality: "good", value: 1 }]]));
  encoder.add({ seq: 4, ts: 0, channels: new Map(), undecodable: "record type 9 is not a reading" });
  equal(encoder.pendingReadings, 4);
  const doc = JSON.parse(utf8Decode(encoder.flush()!.payload));
  equal(encoder.pendingReadings, 0);
  deepEqual(expandReadings(doc), [
    { seq: 1, ts: 1_790_000_001_000, bme280: { humidity: 40.5, quality: "bad", reason: "nack" } },
    { seq: 2, ts: 1_790_000_002_000, bme280: { quality: "bad", reason: "crc" } },
    { seq: 3, ts: 1_790_000_003_000, sht3x: { temperature: 1 }, adxl345: { quality: "uncertain", reason: "overrun" } },
    { seq: 4, ts: 0, undecodable: "record type 9 is not a reading" },
  ]);
});

test("batch: a reading exactly as large as the limit allows is accepted alone", () => {
  const r = reading(1);
  const alone = new BatchEncoder({ device: "d", boot: 1, maxBytes: 5120 });
  alone.add(r);
  const size = alone.flush()!.payload.length;
  const exact = new BatchEncoder({ device: "d", boot: 1, maxBytes: size });
  equal(exact.add(r), undefined);
  equal(exact.flush()!.payload.length, size);
  const under = new BatchEncoder({ device: "d", boot: 1, maxBytes: size - 1 });
  equal(under.add(r), undefined);
  equal(under.oversize, true, "one byte less: alone, and marked oversize");
});

test("records: an uncertain sample keeps its value (bit 5 of the quality byte), a bad one never has one", () => {
  const pressure = CHANNELS.findIndex((c) => c.sensor === "bme280" && c.quantity === "pressure");
  const temperature = CHANNELS.findIndex((c) => c.sensor === "sht3x" && c.quantity === "temperature");
  const window = new Map<number, ChannelSample>([
    [temperature, { quality: "bad", reason: "crc", value: 21.5 }],
    [pressure, { quality: "uncertain", reason: "range", value: 112000.4 }],
  ]);
  const record = encodeReading(1795000000000, window);
  const back = decodeReading(4, record);
  deepEqual(back.channels.get(pressure), { quality: "uncertain", reason: "range", value: 112000.4 });
  deepEqual(back.channels.get(temperature), { quality: "bad", reason: "crc" });
  equal(readingJson(back, new Legend(Legend.of(back))), '{"seq":4,"ts":1795000000000,"sht3x":{"v":[null],"quality":"bad","reason":"crc"},"bme280":{"v":[112000.4],"quality":"uncertain","reason":"range"}}');
  // A record from before bit 5 was used: an uncertain quality byte alone, reason "range" (code 7).
  const old = encodeReading(1795000000000, new Map([[pressure, { quality: "uncertain", reason: "range" }]]));
  equal(old[old.length - 1], (2 << 6) | 7);
  deepEqual(decodeReading(5, old).channels.get(pressure), { quality: "uncertain", reason: "range" });
});
