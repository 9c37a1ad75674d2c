// MQTT 3.1.1 packet encoding and decoding (OASIS mqtt-v3.1.1, section 2 and 3).
// Pure: no I/O, no platform imports, so it runs unchanged on XS, on the simulator and on Node.

export const PacketType = {
  CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, PUBREC: 5, PUBREL: 6, PUBCOMP: 7,
  SUBSCRIBE: 8, SUBACK: 9, UNSUBSCRIBE: 10, UNSUBACK: 11, PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14,
} as const;

import { utf8Decode, utf8Encode } from "../util/utf8";

export type QoS = 0 | 1;

/** Thrown for any byte sequence that is not a valid packet a client may receive. */
export class MqttProtocolError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "MqttProtocolError";
  constructor(message: string) {
    super(message);
  }
}

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export interface ConnectOptions {
  clientId: string;
  keepAliveSeconds: number;
  cleanSession: boolean;
  will?: Will;
  username?: string;
  password?: Uint8Array;
}

export interface PublishOptions {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain?: boolean;
  dup?: boolean;
  /** Required for QoS 1: 1..65535. */
  packetId?: number;
}

export type IncomingPacket =
  | { type: 2; sessionPresent: boolean; returnCode: number }
  | { type: 3; topic: string; payload: Uint8Array; qos: QoS; retain: boolean; dup: boolean; packetId: number }
  | { type: 4; packetId: number }
  | { type: 9; packetId: number; grants: number[] }
  | { type: 11; packetId: number }
  | { type: 13 };

/** The largest value the four-byte Remaining Length can carry (spec 2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** AWS IoT Core limits for what a device sends (AWS IoT Core developer guide, "Quotas"; docs/mqtt-session.md). */
export const MAX_TOPIC_BYTES = 256;
export const MAX_CLIENT_ID_BYTES = 128;
export const MAX_PAYLOAD_BYTES = 128 * 1024;

export const utf8 = utf8Encode;

function remainingLengthBytes(length: number): number {
  if (length < 0 || length > MAX_REMAINING_LENGTH) throw new MqttProtocolError(`remaining length ${length} out of range`);
  return length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4;
}

/** Builds a packet of known size without intermediate copies. */
class PacketWriter {
  readonly bytes: Uint8Array;
  private offset = 0;
  constructor(firstByte: number, remainingLength: number) {
    this.bytes = new Uint8Array(1 + remainingLengthBytes(remainingLength) + remainingLength);
    this.bytes[this.offset++] = firstByte;
    let value = remainingLength;
    do {
      let byte = value % 128;
      value = Math.floor(value / 128);
      if (value > 0) byte |= 0x80;
      this.bytes[this.offset++] = byte;
    } while (value > 0);
  }
  u8(value: number): void {
    this.bytes[this.offset++] = value;
  }
  u16(value: number): void {
    this.bytes[this.offset++] = value >> 8;
    this.bytes[this.offset++] = value & 0xff;
  }
  lengthPrefixed(data: Uint8Array): void {
    this.u16(data.length);
    this.raw(data);
  }
  raw(data: Uint8Array): void {
    this.bytes.set(data, this.offset);
    this.offset += data.length;
  }
  done(): Uint8Array {
    if (this.offset !== this.bytes.length) throw new Error("packet size mismatch");
    return this.bytes;
  }
}

function checkString(what: string, bytes: Uint8Array, max = 65_535): void {
  if (bytes.length > max) throw new RangeError(`${what} is ${bytes.length} bytes; the limit is ${max}`);
}

export function validateTopicForPublish(topic: string): Uint8Array {
  const bytes = utf8(topic);
  if (bytes.length === 0) throw new RangeError("topic is empty");
  checkString("topic", bytes, MAX_TOPIC_BYTES);
  if (topic.includes("+") || topic.includes("#")) throw new RangeError(`topic "${topic}" has a wildcard`);
  if (topic.includes("\u0000")) throw new RangeError("topic has a NUL character");
  let slashes = 0;
  for (const ch of topic) if (ch === "/") slashes++;
  if (slashes > 7) throw new RangeError(`topic "${topic}" has ${slashes} slashes; AWS IoT allows 7`);
  return bytes;
}

export function encodeConnect(options: ConnectOptions): Uint8Array {
  const clientId = utf8(options.clientId);
  checkString("client id", clientId, MAX_CLIENT_ID_BYTES);
  if (!Number.isInteger(options.keepAliveSeconds) || options.keepAliveSeconds < 0 || options.keepAliveSeconds > 65_535)
    throw new RangeError(`keep-alive ${options.keepAliveSeconds} s is out of range`);
  const will = options.will;
  const willTopic = will ? validateTopicForPublish(will.topic) : undefined;
  const username = options.username !== undefined ? utf8(options.username) : undefined;
  if (options.password && !username) throw new RangeError("a password needs a username (spec 3.1.2.9)");

  let flags = options.cleanSession ? 0x02 : 0;
  let length = 10 + 2 + clientId.length;
  if (will && willTopic) {
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    length += 2 + willTopic.length + 2 + will.payload.length;
  }
  if (username) {
    flags |= 0x80;
    length += 2 + username.length;
  }
  if (options.password) {
    flags |= 0x40;
    length += 2 + options.password.length;
  }
  const w = new PacketWriter(PacketType.CONNECT << 4, length);
  w.lengthPrefixed(utf8("MQTT"));
  w.u8(4); // protocol level 3.1.1
  w.u8(flags);
  w.u16(options.keepAliveSeconds);
  w.lengthPrefixed(clientId);
  if (will && willTopic) {
    w.lengthPrefixed(willTopic);
    w.lengthPrefixed(will.payload);
  }
  if (username) w.lengthPrefixed(username);
  if (options.password) w.lengthPrefixed(options.password);
  return w.done();
}

export function checkPacketId(packetId: number | undefined): number {
  if (packetId === undefined || !Number.isInteger(packetId) || packetId < 1 || packetId > 65_535)
    throw new RangeError(`packet id ${packetId} is not in 1..65535`);
  return packetId;
}

export function encodePublish(options: PublishOptions): Uint8Array {
  const topic = validateTopicForPublish(options.topic);
  if (options.payload.length > MAX_PAYLOAD_BYTES) throw new RangeError(`payload of ${options.payload.length} bytes exceeds AWS IoT's 128 KB limit`);
  const packetId = options.qos > 0 ? checkPacketId(options.packetId) : 0;
  const length = 2 + topic.length + (options.qos > 0 ? 2 : 0) + options.payload.length;
  const first = (PacketType.PUBLISH << 4) | (options.dup ? 0x08 : 0) | (options.qos << 1) | (options.retain ? 0x01 : 0);
  const w = new PacketWriter(first, length);
  w.lengthPrefixed(topic);
  if (options.qos > 0) w.u16(packetId);
  w.raw(options.payload);
  return w.done();
}

export function encodePuback(packetId: number): Uint8Array {
  const w = new PacketWriter(PacketType.PUBACK << 4, 2);
  w.u16(checkPacketId(packetId));
  return w.done();
}

export function encodeSubscribe(packetId: number, filters: { topic: string; qos: QoS }[]): Uint8Array {
  if (filters.length === 0) throw new RangeError("SUBSCRIBE needs at least one topic filter");
  const topics = filters.map((f) => {
    const bytes = utf8(f.topic);
    if (bytes.length === 0) throw new RangeError("topic filter is empty");
    checkString("topic filter", bytes, MAX_TOPIC_BYTES);
    return bytes;
  });
  let length = 2;
  for (const t of topics) length += 2 + t.length + 1;
  const w = new PacketWriter((PacketType.SUBSCRIBE << 4) | 0x02, length);
  w.u16(checkPacketId(packetId));
  topics.forEach((t, i) => {
    w.lengthPrefixed(t);
    w.u8(filters[i].qos);
  });
  return w.done();
}

export function encodePingreq(): Uint8Array {
  return Uint8Array.of(PacketType.PINGREQ << 4, 0);
}

export function encodeDisconnect(): Uint8Array {
  return Uint8Array.of(PacketType.DISCONNECT << 4, 0);
}

/** Decodes the body of one packet whose fixed header has already been read. */
export function decodePacket(firstByte: number, body: Uint8Array): IncomingPacket {
  const type = firstByte >> 4;
  const flags = firstByte & 0x0f;
  const u16 = (at: number) => (body[at] << 8) | body[at + 1];
  const expect = (name: string, wantFlags: number, wantLength?: number) => {
    if (flags !== wantFlags) throw new MqttProtocolError(`${name} with reserved flags 0x${flags.toString(16)}`);
    if (wantLength !== undefined && body.length !== wantLength)
      throw new MqttProtocolError(`${name} with remaining length ${body.length}, expected ${wantLength}`);
  };
  switch (type) {
    case PacketType.CONNACK: {
      expect("CONNACK", 0, 2);
      if (body[0] & 0xfe) throw new MqttProtocolError("CONNACK with reserved acknowledge flags set");
      const returnCode = body[1];
      if (returnCode > 5) throw new MqttProtocolError(`CONNACK with unknown return code ${returnCode}`);
      if (returnCode !== 0 && body[0] & 1) throw new MqttProtocolError("CONNACK refusing the connection with session present set");
      return { type: 2, sessionPresent: (body[0] & 1) === 1, returnCode };
    }
    case PacketType.PUBLISH: {
      const qos = (flags >> 1) & 3;
      if (qos === 3) throw new MqttProtocolError("PUBLISH with QoS 3");
      if (qos === 2) throw new MqttProtocolError("PUBLISH with QoS 2, which this client never subscribes with");
      if (qos === 0 && flags & 0x08) throw new MqttProtocolError("PUBLISH with DUP set at QoS 0");
      if (body.length < 2) throw new MqttProtocolError("PUBLISH too short for its topic length");
      const topicLength = u16(0);
      const headerLength = 2 + topicLength + (qos > 0 ? 2 : 0);
      if (body.length < headerLength) throw new MqttProtocolError("PUBLISH shorter than its topic and packet id");
      let topic: string;
      try {
        topic = utf8Decode(body.subarray(2, 2 + topicLength));
      } catch {
        throw new MqttProtocolError("PUBLISH topic is not valid UTF-8");
      }
      if (topic.length === 0) throw new MqttProtocolError("PUBLISH with an empty topic");
      if (topic.includes("+") || topic.includes("#")) throw new MqttProtocolError("PUBLISH topic has a wildcard");
      if (topic.includes("\u0000")) throw new MqttProtocolError("PUBLISH topic has a NUL character");
      const packetId = qos > 0 ? u16(2 + topicLength) : 0;
      if (qos > 0 && packetId === 0) throw new MqttProtocolError("PUBLISH at QoS 1 with packet id 0");
      return {
        type: 3, topic, qos: qos as QoS, retain: (flags & 1) === 1, dup: (flags & 0x08) !== 0, packetId,
        payload: body.slice(headerLength),
      };
    }
    case PacketType.PUBACK:
    case PacketType.UNSUBACK: {
      const name = type === PacketType.PUBACK ? "PUBACK" : "UNSUBACK";
      expect(name, 0, 2);
      const packetId = u16(0);
      if (packetId === 0) throw new MqttProtocolError(`${name} with packet id 0`);
      return type === PacketType.PUBACK ? { type: 4, packetId } : { type: 11, packetId };
    }
    case PacketType.SUBACK: {
      expect("SUBACK", 0);
      if (body.length < 3) throw new MqttProtocolError("SUBACK without return codes");
      const grants = Array.from(body.subarray(2));
      for (const g of grants) if (g > 2 && g !== 0x80) throw new MqttProtocolError(`SUBACK with return code ${g}`);
      if (u16(0) === 0) throw new MqttProtocolError("SUBACK with packet id 0");
      return { type: 9, packetId: u16(0), grants };
    }
    case PacketType.PINGRESP:
      expect("PINGRESP", 0, 0);
      return { type: 13 };
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      throw new MqttProtocolError(`QoS 2 packet type ${type} on a connection that never uses QoS 2`);
    case 0:
    case 15:
      throw new MqttProtocolError(`reserved packet type ${type}`);
    default:
      throw new MqttProtocolError(`packet type ${type} is sent only by clients`);
  }
}

/**
 * Splits a byte stream into packets. Bytes arrive in arbitrary pieces (TLS records, TCP segments);
 * a packet larger than maxPacketBytes is refused before it is buffered.
 */
export class PacketReader {
  private pending: Uint8Array = new Uint8Array(0);
  constructor(private readonly maxPacketBytes: number) {}

  /** Adds bytes and returns every complete packet; throws MqttProtocolError on malformed input. */
  push(bytes: Uint8Array): IncomingPacket[] {
    this.pending = this.pending.length === 0 ? bytes.slice() : concat(this.pending, bytes);
    const packets: IncomingPacket[] = [];
    let offset = 0;
    for (;;) {
      const header = readFixedHeader(this.pending, offset);
      if (header === undefined) break;
      const total = header.headerLength + header.remainingLength;
      if (total > this.maxPacketBytes)
        throw new MqttProtocolError(`incoming packet of ${total} bytes exceeds the ${this.maxPacketBytes}-byte limit`);
      if (this.pending.length - offset < total) break;
      const body = this.pending.subarray(offset + header.headerLength, offset + total);
      packets.push(decodePacket(this.pending[offset], body));
      offset += total;
    }
    this.pending = this.pending.slice(offset);
    return packets;
  }

  get bufferedBytes(): number {
    return this.pending.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Returns undefined while the fixed header is incomplete. */
function readFixedHeader(bytes: Uint8Array, offset: number): { headerLength: number; remainingLength: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (offset + i >= bytes.length) return undefined;
    const byte = bytes[offset + i];
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      if (i > 1 && byte === 0) throw new MqttProtocolError("remaining length is not minimally encoded");
      return { headerLength: 1 + i, remainingLength: value };
    }
    multiplier *= 128;
  }
  throw new MqttProtocolError("remaining length longer than four bytes");
}

export function describeConnackCode(code: number): string {
  return ["accepted", "unacceptable protocol version", "client identifier rejected", "server unavailable",
    "bad user name or password", "not authorized"][code] ?? `unknown code ${code}`;
}

