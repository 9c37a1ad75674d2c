// A socket double with the ECMA-419 callback contract, and a parser for what a client writes to it,
// so MQTT client and uplink behaviour can be driven packet by packet.

import type { SocketCallbacks, StreamSocket } from "../../src/mqtt/client.ts";

export interface ClientPacket {
  type: number;
  flags: number;
  body: Uint8Array;
}

/** Splits the bytes a client wrote into packets (any type, including CONNECT and PUBLISH). */
export function parseClientPackets(bytes: Uint8Array): ClientPacket[] {
  const packets: ClientPacket[] = [];
  let at = 0;
  while (at < bytes.length) {
    let length = 0;
    let multiplier = 1;
    let i = at + 1;
    for (;;) {
      const b = bytes[i++];
      length += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) break;
    }
    packets.push({ type: bytes[at] >> 4, flags: bytes[at] & 0x0f, body: bytes.slice(i, i + length) });
    at = i + length;
  }
  return packets;
}

export interface PublishSeen {
  packetId: number;
  qos: number;
  retain: boolean;
  dup: boolean;
  topic: string;
  payload: string;
}

export function publishes(packets: ClientPacket[]): PublishSeen[] {
  return packets.filter((p) => p.type === 3).map((p) => {
    const topicLength = (p.body[0] << 8) | p.body[1];
    const topic = Buffer.from(p.body.subarray(2, 2 + topicLength)).toString();
    const qos = (p.flags >> 1) & 3;
    const packetId = qos > 0 ? (p.body[2 + topicLength] << 8) | p.body[3 + topicLength] : 0;
    const payloadAt = 2 + topicLength + (qos > 0 ? 2 : 0);
    return { packetId, qos, retain: (p.flags & 1) === 1, dup: (p.flags & 0x08) !== 0, topic, payload: Buffer.from(p.body.subarray(payloadAt)).toString() };
  });
}

export class FakeSocket implements StreamSocket {
  written: Uint8Array[] = [];
  writable: number;
  /** Make write() return nothing, as the SDK's sockets do once the connection has failed. */
  dead = false;
  closed = false;
  #incoming: Uint8Array[] = [];

  constructor(readonly callbacks: SocketCallbacks, writable = 1536) {
    this.writable = writable;
  }

  /** The peer accepted the connection: report the window. */
  open(): void {
    this.callbacks.onWritable(this.writable);
  }

  write(bytes: Uint8Array): number | undefined {
    if (this.dead) return undefined;
    if (bytes.length > this.writable) throw new Error("would block");
    this.written.push(bytes.slice());
    this.writable -= bytes.length;
    return this.writable;
  }

  read(): ArrayBuffer | undefined {
    const next = this.#incoming.shift();
    return next ? (next.slice().buffer as ArrayBuffer) : undefined;
  }

  close(): void {
    this.closed = true;
  }

  /** The broker sends bytes. */
  deliver(bytes: ArrayLike<number>): void {
    this.#incoming.push(Uint8Array.from(bytes));
    this.callbacks.onReadable(bytes.length);
  }

  /** The OS took the queued bytes: a full window again. */
  drain(window = 1536): void {
    this.writable = window;
    this.callbacks.onWritable(window);
  }

  packets(): ClientPacket[] {
    const all = new Uint8Array(this.written.reduce((n, w) => n + w.length, 0));
    let at = 0;
    for (const w of this.written) {
      all.set(w, at);
      at += w.length;
    }
    return parseClientPackets(all);
  }
}

export const CONNACK_OK = [0x20, 2, 0, 0];
export const puback = (id: number) => [0x40, 2, id >> 8, id & 0xff];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
