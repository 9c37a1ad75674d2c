// MQTT 3.1.1 codec: byte-exact encodings from the spec, every decoder rejection, arbitrary stream
// splits, and a seeded fuzz that must only ever produce packets or MqttProtocolError.

import { test, equal, deepEqual, throws, bytes, random, assert } from "./api";
import {
  PacketReader, MqttProtocolError, decodePacket, encodeConnect, encodePublish, encodePuback, encodePingreq,
  encodeDisconnect, encodeSubscribe, describeConnackCode, utf8, type IncomingPacket,
} from "../../src/mqtt/codec";

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

test("codec: CONNECT without will (spec 3.1)", () => {
  const packet = encodeConnect({ clientId: "press-7", keepAliveSeconds: 60, cleanSession: true });
  deepEqual(packet, bytes(0x10, 19, 0, 4, ...ascii("MQTT"), 4, 0x02, 0, 60, 0, 7, ...ascii("press-7")));
});

test("codec: CONNECT with retained QoS 1 will, persistent session", () => {
  const packet = encodeConnect({
    clientId: "a", keepAliveSeconds: 1200, cleanSession: false,
    will: { topic: "s/t", payload: utf8("off"), qos: 1, retain: true },
  });
  deepEqual(packet, bytes(0x10, 10 + 3 + 5 + 5, 0, 4, ...ascii("MQTT"), 4, 0x2c, 0x04, 0xb0, 0, 1, 0x61, 0, 3, ...ascii("s/t"), 0, 3, ...ascii("off")));
});

test("codec: CONNECT limits", () => {
  throws(() => encodeConnect({ clientId: "x".repeat(129), keepAliveSeconds: 60, cleanSession: true }), RangeError, /client id/);
  throws(() => encodeConnect({ clientId: "x", keepAliveSeconds: 70_000, cleanSession: true }), RangeError, /keep-alive/);
});

test("codec: PUBLISH QoS 1, DUP and retain flags", () => {
  deepEqual(encodePublish({ topic: "a/b", payload: bytes(1, 2), qos: 1, packetId: 0x0102 }), bytes(0x32, 9, 0, 3, ...ascii("a/b"), 1, 2, 1, 2));
  equal(encodePublish({ topic: "a", payload: bytes(), qos: 1, packetId: 1, dup: true })[0], 0x3a);
  equal(encodePublish({ topic: "a", payload: bytes(), qos: 0, retain: true })[0], 0x31);
});

test("codec: remaining length uses the minimum bytes at every boundary", () => {
  for (const [length, header] of [[127, [0x7f]], [128, [0x80, 0x01]], [16_383, [0xff, 0x7f]], [16_384, [0x80, 0x80, 0x01]]] as const) {
    const payload = new Uint8Array(length - 2 - 1 - 2); // topic "a" with its length, packet id
    const packet = encodePublish({ topic: "a", payload, qos: 1, packetId: 9 });
    deepEqual(Array.from(packet.subarray(1, 1 + header.length)), header, `length ${length}`);
    equal(packet.length, 1 + header.length + length);
  }
});

test("codec: PUBLISH topic rules (AWS: 256 bytes, 7 slashes, no wildcards)", () => {
  throws(() => encodePublish({ topic: "", payload: bytes(), qos: 0 }), RangeError, /empty/);
  throws(() => encodePublish({ topic: "a/+/b", payload: bytes(), qos: 0 }), RangeError, /wildcard/);
  throws(() => encodePublish({ topic: "1/2/3/4/5/6/7/8/9", payload: bytes(), qos: 0 }), RangeError, /slashes/);
  throws(() => encodePublish({ topic: "t".repeat(257), payload: bytes(), qos: 0 }), RangeError, /256/);
  throws(() => encodePublish({ topic: "t", payload: bytes(), qos: 1, packetId: 0 }), RangeError, /packet id/);
  throws(() => encodePublish({ topic: "t", payload: bytes(), qos: 1, packetId: 65536 }), RangeError, /packet id/);
  throws(() => encodePublish({ topic: "t", payload: new Uint8Array(128 * 1024 + 1), qos: 0 }), RangeError, /128/);
});

test("codec: small packets", () => {
  deepEqual(encodePuback(0xbeef), bytes(0x40, 2, 0xbe, 0xef));
  deepEqual(encodePingreq(), bytes(0xc0, 0));
  deepEqual(encodeDisconnect(), bytes(0xe0, 0));
  deepEqual(encodeSubscribe(5, [{ topic: "c/#", qos: 1 }]), bytes(0x82, 8, 0, 5, 0, 3, ...ascii("c/#"), 1));
});

test("codec: decodes what a broker sends", () => {
  deepEqual(decodePacket(0x20, bytes(0, 0)), { type: 2, sessionPresent: false, returnCode: 0 });
  deepEqual(decodePacket(0x20, bytes(1, 0)), { type: 2, sessionPresent: true, returnCode: 0 });
  deepEqual(decodePacket(0x40, bytes(0, 7)), { type: 4, packetId: 7 });
  deepEqual(decodePacket(0xd0, bytes()), { type: 13 });
  deepEqual(decodePacket(0x90, bytes(0, 5, 1, 0x80)), { type: 9, packetId: 5, grants: [1, 0x80] });
  const p = decodePacket(0x3b, bytes(0, 1, 0x78, 0, 9, 0xaa)) as Extract<IncomingPacket, { type: 3 }>;
  equal(p.topic, "x");
  equal(p.packetId, 9);
  equal(p.dup, true);
  equal(p.retain, true);
  deepEqual(p.payload, bytes(0xaa));
});

test("codec: rejects malformed packets with MqttProtocolError", () => {
  const bad: [number, number[], RegExp][] = [
    [0x20, [0, 0, 0], /remaining length 3/],
    [0x20, [2, 0], /reserved acknowledge flags/],
    [0x20, [0, 6], /unknown return code/],
    [0x21, [0, 0], /reserved flags/],
    [0x40, [0, 0], /packet id 0/],
    [0x40, [0], /remaining length 1/],
    [0xd0, [0], /remaining length 1/],
    [0x36, [0, 1, 0x78, 0, 1], /QoS 3/],
    [0x34, [0, 1, 0x78, 0, 1], /QoS 2/],
    [0x38, [0, 1, 0x78], /DUP set at QoS 0/],
    [0x32, [0, 5, 0x78], /shorter than its topic/],
    [0x32, [0, 1, 0x78, 0, 0], /packet id 0/],
    [0x30, [0, 1, 0xff], /UTF-8/],
    [0x30, [0, 1, 0x23], /wildcard/],
    [0x30, [0, 0], /empty topic/],
    [0x10, [], /sent only by clients/],
    [0x82, [0, 1], /sent only by clients/],
    [0x50, [0, 1], /QoS 2 packet/],
    [0x00, [], /reserved packet type/],
    [0xf0, [], /reserved packet type/],
    [0x90, [0, 1, 3], /SUBACK with return code 3/],
    [0x90, [0, 0, 1], /SUBACK with packet id 0/],
    [0x20, [1, 5], /session present set/],
    [0x30, [0, 1, 0], /NUL/],
  ];
  for (const [first, body, pattern] of bad) throws(() => decodePacket(first, Uint8Array.from(body)), MqttProtocolError, pattern);
});

test("codec: reader rejects bad remaining lengths and oversized packets before buffering them", () => {
  throws(() => new PacketReader(1024).push(bytes(0x30, 0x80, 0x80, 0x80, 0x80, 0x01)), MqttProtocolError, /longer than four bytes/);
  throws(() => new PacketReader(1024).push(bytes(0x40, 0x80, 0x00)), MqttProtocolError, /minimally encoded/);
  throws(() => new PacketReader(1024).push(bytes(0x30, 0xff, 0xff, 0xff, 0x7f)), MqttProtocolError, /exceeds the 1024-byte limit/);
  const reader = new PacketReader(1024);
  equal(reader.push(bytes(0x30, 0x80)).length, 0, "an incomplete header waits for more bytes");
});

test("codec: the reader's size limit counts the fixed header too", () => {
  // A PUBLISH whose whole packet (header + remaining length) is `total` bytes.
  const publishOf = (total: number, headerBytes: number) => {
    const remaining = total - headerBytes;
    const length = remaining < 128 ? [remaining] : [(remaining & 0x7f) | 0x80, remaining >> 7];
    equal(1 + length.length, headerBytes);
    return bytes(0x30, ...length, 0, 1, 0x74, ...new Array(remaining - 3).fill(0x78));
  };
  for (const [limit, headerBytes] of [[100, 2], [300, 3]]) {
    equal(new PacketReader(limit).push(publishOf(limit, headerBytes)).length, 1, `${limit} bytes in all is allowed`);
    throws(() => new PacketReader(limit).push(publishOf(limit + 1, headerBytes)), MqttProtocolError, new RegExp(`packet of ${limit + 1} bytes exceeds the ${limit}-byte limit`));
  }
});

test("codec: a stream split at every byte boundary yields the same packets", () => {
  const stream = [
    bytes(0x20, 2, 1, 0), bytes(0x40, 2, 0, 1), bytes(0xd0, 0),
    Uint8Array.from([0x32, 0x82, 0x01, 0, 3, ...ascii("a/b"), 0, 2, ...new Array(123).fill(7)]),
    bytes(0x40, 2, 0xff, 0xff),
  ];
  const all = new Uint8Array(stream.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of stream) {
    all.set(p, at);
    at += p.length;
  }
  const expected = new PacketReader(4096).push(all);
  equal(expected.length, 5);
  for (let cut = 0; cut <= all.length; cut++) {
    const reader = new PacketReader(4096);
    const got = [...reader.push(all.subarray(0, cut)), ...reader.push(all.subarray(cut))];
    deepEqual(got, expected, `split at ${cut}`);
    equal(reader.bufferedBytes, 0);
  }
});

test("codec: 3000 fuzzed inputs give packets or MqttProtocolError, nothing else", () => {
  const rand = random(419);
  const seeds = [bytes(0x20, 2, 0, 0), bytes(0x40, 2, 0, 1), bytes(0xd0, 0), bytes(0x32, 6, 0, 1, 0x78, 0, 1, 9), bytes(0x90, 3, 0, 1, 1)];
  let packets = 0;
  let errors = 0;
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = new Uint8Array(1 + Math.floor(rand() * 40));
      for (let k = 0; k < input.length; k++) input[k] = Math.floor(rand() * 256);
    } else {
      input = seeds[i % seeds.length].slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
    }
    try {
      packets += new PacketReader(256).push(input).length;
    } catch (error) {
      assert(error instanceof MqttProtocolError, `input ${Array.from(input)} threw ${error}`);
      errors++;
    }
  }
  assert(packets > 100 && errors > 100, `the fuzz reached both outcomes (packets ${packets}, errors ${errors})`);
});

test("codec: CONNECT with user name and password (spec 3.1.2.8, 3.1.2.9), and the option checks", () => {
  deepEqual(encodeConnect({ clientId: "c", keepAliveSeconds: 60, cleanSession: true, username: "u", password: utf8("pw") }), bytes(
    0x10, 20, 0, 4, ...ascii("MQTT"), 4, 0xc2, 0, 60, 0, 1, ...ascii("c"), 0, 1, ...ascii("u"), 0, 2, ...ascii("pw")));
  deepEqual(encodeConnect({ clientId: "c", keepAliveSeconds: 0, cleanSession: false, username: "u" }), bytes(
    0x10, 16, 0, 4, ...ascii("MQTT"), 4, 0x80, 0, 0, 0, 1, ...ascii("c"), 0, 1, ...ascii("u")));
  throws(() => encodeConnect({ clientId: "c", keepAliveSeconds: 60, cleanSession: true, password: utf8("pw") }), RangeError, /a password needs a username \(spec 3\.1\.2\.9\)/);
  for (const keepAliveSeconds of [-1, 1.5, 65_536]) throws(() => encodeConnect({ clientId: "c", keepAliveSeconds, cleanSession: true }), RangeError, /keep/i);
  equal(encodeConnect({ clientId: "c", keepAliveSeconds: 65_535, cleanSession: true })[11], 0xff);
  equal(new MqttProtocolError("x").name, "MqttProtocolError");
});

test("codec: PUBLISH limits at their edges: packet id, topic bytes and slashes, NUL, payload size", () => {
  const publish = (over: Partial<Parameters<typeof encodePublish>[0]>) => encodePublish({ topic: "t", payload: utf8("x"), qos: 1, packetId: 1, ...over });
  for (const packetId of [undefined, 0, 65_536, 1.5]) throws(() => publish({ packetId }), RangeError, /packet id/);
  equal(publish({ packetId: 65_535 }).length, 8);
  equal(publish({ qos: 0, packetId: undefined }).length, 6);
  publish({ topic: "a/".repeat(7) + "b" });
  throws(() => publish({ topic: "a/".repeat(8) + "b" }), RangeError, /has 8 slashes; AWS IoT allows 7/);
  publish({ topic: "t".repeat(256) });
  throws(() => publish({ topic: "t".repeat(257) }), RangeError, /^topic is 257 bytes; the limit is 256$/);
  throws(() => publish({ topic: "a\u0000b" }), RangeError, /topic has a NUL character/);
  publish({ payload: new Uint8Array(128 * 1024) });
  throws(() => publish({ payload: new Uint8Array(128 * 1024 + 1) }), RangeError, /payload of 131073 bytes exceeds/);
});

test("codec: SUBSCRIBE needs filters, each non-empty and within the topic limit", () => {
  throws(() => encodeSubscribe(1, []), RangeError, /SUBSCRIBE needs at least one topic filter/);
  throws(() => encodeSubscribe(1, [{ topic: "", qos: 1 }]), RangeError, /topic filter is empty/);
  throws(() => encodeSubscribe(1, [{ topic: "f".repeat(257), qos: 1 }]), RangeError, /^topic filter is 257 bytes/);
  equal(encodeSubscribe(1, [{ topic: "f".repeat(256), qos: 1 }]).length, 2 + 2 + 2 + 256 + 1 + 1);
});

test("codec: decoding at the edges: QoS 0 and 1 PUBLISH, UNSUBACK, SUBACK codes, names in errors", () => {
  deepEqual(decodePacket(0x30, bytes(0, 1, 0x74, 0x78)), { type: 3, topic: "t", qos: 0, retain: false, dup: false, packetId: 0, payload: bytes(0x78) });
  deepEqual(decodePacket(0x3b, bytes(0, 1, 0x74, 0, 7)), { type: 3, topic: "t", qos: 1, retain: true, dup: true, packetId: 7, payload: bytes() });
  throws(() => decodePacket(0x30, bytes(0)), MqttProtocolError, /PUBLISH too short for its topic length/);
  deepEqual(decodePacket(0xb0, bytes(0, 5)), { type: 11, packetId: 5 });
  throws(() => decodePacket(0xb0, bytes(0, 5, 0)), MqttProtocolError, /^UNSUBACK with remaining length 3, expected 2$/);
  throws(() => decodePacket(0x41, bytes(0, 5)), MqttProtocolError, /^PUBACK with reserved flags 0x1$/);
  throws(() => decodePacket(0x20, bytes(0)), MqttProtocolError, /^CONNACK with remaining length 1/);
  throws(() => decodePacket(0xd0, bytes(0)), MqttProtocolError, /^PINGRESP with remaining length 1/);
  deepEqual(decodePacket(0x90, bytes(0, 3, 2, 0x80)), { type: 9, packetId: 3, grants: [2, 0x80] });
  throws(() => decodePacket(0x90, bytes(0, 3, 3)), MqttProtocolError, /SUBACK with return code 3/);
  throws(() => decodePacket(0x90, bytes(0, 3)), MqttProtocolError, /SUBACK without return codes/);
  throws(() => decodePacket(0x91, bytes(0, 3, 0)), MqttProtocolError, /^SUBACK with reserved flags/);
});

test("codec: every CONNACK code has its name", () => {
  deepEqual([0, 1, 2, 3, 4, 5, 6].map(describeConnackCode), ["accepted", "unacceptable protocol version", "client identifier rejected",
    "server unavailable", "bad user name or password", "not authorized", "unknown code 6"]);
});

test("codec: the reader keeps its own copy of a partial packet and of a split header", () => {
  const reader = new PacketReader(1024);
  const chunk = bytes(0x40, 2, 0);
  equal(reader.push(chunk).length, 0);
  chunk.fill(0xff); // the caller reuses its buffer
  deepEqual(reader.push(bytes(9)), [{ type: 4, packetId: 9 }]);
  const split = new PacketReader(1024);
  equal(split.push(bytes(0x30)).length, 0, "a lone first byte waits");
  equal(split.push(bytes(0x83)).length, 0, "so does a length that continues");
  const packets = split.push(bytes(0x01, 0, 1, 0x74, ...new Array(128).fill(0x78)));
  equal(packets.length, 1);
  equal((packets[0] as { payload: Uint8Array }).payload.length, 128);
});
