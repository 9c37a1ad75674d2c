// The MQTT client against a socket double: chunking to the writable count, failures reported once,
// keep-alive and half-open detection, and callbacks that throw.

import { test, expect, onTestFinished } from "vitest";
import { MqttClient, type MqttClientOptions } from "../src/mqtt/client.ts";
import { encodeConnect, utf8 } from "../src/mqtt/codec.ts";
import { CONNACK_OK, FakeSocket, puback, sleep, until } from "./support/fake-broker.ts";
import { firmwareClock } from "../host/moddable/clock.ts";

function connectClient(overrides: Partial<MqttClientOptions> = {}, writable = 1536) {
  let socket!: FakeSocket;
  const closes: string[] = [];
  const pubacks: number[] = [];
  const client = new MqttClient({
    openSocket: (callbacks) => (socket = new FakeSocket(callbacks, writable)),
    connect: { clientId: "press-7", keepAliveSeconds: 60, cleanSession: true },
    onClose: (reason) => closes.push(reason),
    onPuback: (id) => pubacks.push(id),
    ...overrides,
  });
  onTestFinished(() => client.close()); // its keep-alive ticker must not outlive a failed test
  return { client, socket: () => socket, closes, pubacks };
}

test("client: CONNECT goes out in chunks that leave the transport's reserve free", () => {
  const clientId = "c".repeat(100);
  const { socket, client } = connectClient({ connect: { clientId, keepAliveSeconds: 60, cleanSession: true }, writeReserve: 10 }, 40);
  socket().open();
  expect(socket().written.every((w) => w.length <= 30), `chunks ${socket().written.map((w) => w.length)}`).toBeTruthy();
  const expected = encodeConnect({ clientId, keepAliveSeconds: 60, cleanSession: true });
  const sentBytes = () => socket().written.reduce((n, w) => n + w.length, 0);
  for (let i = 0; i < 10 && sentBytes() < expected.length; i++) socket().drain(40);
  expect(socket().written.every((w) => w.length <= 30), `chunks ${socket().written.map((w) => w.length)}`).toBeTruthy();
  expect(new Uint8Array(Buffer.concat(socket().written))).toStrictEqual(expected);
});

test("client: a write that returns nothing closes the connection once, with the reason", () => {
  const { client, socket, closes } = connectClient();
  socket().open();
  socket().deliver(CONNACK_OK);
  expect(client.connected).toBe(true);
  socket().dead = true;
  client.publish({ topic: "t", payload: utf8("x"), qos: 1, packetId: 1 });
  expect(closes).toStrictEqual(["socket write failed: the connection is gone"]);
  socket().callbacks.onError();
  client.close();
  expect(closes.length, "onClose exactly once").toBe(1);
});

test("client: a refused CONNACK and malformed input close with a clear reason", () => {
  const refused = connectClient();
  refused.socket().open();
  refused.socket().deliver([0x20, 2, 0, 5]);
  expect(refused.closes).toStrictEqual(["broker refused the connection: not authorized"]);

  const malformed = connectClient();
  malformed.socket().open();
  malformed.socket().deliver(CONNACK_OK);
  malformed.socket().deliver([0x40, 3, 0, 1, 0]);
  expect(malformed.closes[0]).toMatch(/protocol error: PUBACK with remaining length 3/);

  const early = connectClient();
  early.socket().open();
  early.socket().deliver(puback(1));
  expect(early.closes[0]).toMatch(/before CONNACK/);
});

/** The firmware clock off the wall for one test: its timers fire only through advance(). */
function fakeClock() {
  firmwareClock.manual(Date.UTC(2026, 0, 1));
  onTestFinished(() => firmwareClock.wall());
  return (ms: number) => firmwareClock.advance(ms);
}

test("client: PINGREQ after a quiet keep-alive period, and a close when PINGRESP never comes (fake clock)", () => {
  const advance = fakeClock();
  const { socket, closes } = connectClient({ connect: { clientId: "k", keepAliveSeconds: 1, cleanSession: true }, tickMs: 20, responseTimeoutMs: 200 });
  socket().open();
  socket().deliver(CONNACK_OK);
  const pings = () => socket().packets().filter((p) => p.type === 12).length;
  advance(900);
  expect(pings(), "quiet for less than the keep-alive").toBe(0);
  advance(200);
  expect(pings(), "quiet for the keep-alive").toBe(1);
  socket().deliver([0xd0, 0]);
  expect(closes, "a PINGRESP keeps the connection").toStrictEqual([]);
  advance(850);
  expect(pings(), "the PINGREQ itself started a new quiet period").toBe(1);
  advance(100);
  expect(pings(), "the next quiet period").toBe(2);
  advance(100);
  expect(closes, "still waiting for PINGRESP").toStrictEqual([]);
  advance(100);
  expect(closes).toStrictEqual(["no PINGRESP from broker"]);
});

test("client: a silent broker is detected even while the client keeps publishing (fake clock)", () => {
  const advance = fakeClock();
  const { client, socket, closes } = connectClient({ connect: { clientId: "h", keepAliveSeconds: 1, cleanSession: true }, tickMs: 20, responseTimeoutMs: 200 });
  socket().open();
  socket().deliver(CONNACK_OK);
  let elapsed = 0;
  for (let id = 1; closes.length === 0 && id < 60; id++) {
    client.publish({ topic: "t", payload: utf8("x"), qos: 1, packetId: id });
    socket().drain();
    advance(50);
    elapsed += 50;
  }
  expect(socket().packets().some((p) => p.type === 12), "a PINGREQ although never idle").toBeTruthy();
  expect(closes).toStrictEqual(["no PINGRESP from broker"]);
  expect(elapsed, "a keep-alive period of silence plus the response timeout").toBeGreaterThanOrEqual(1200);
  expect(elapsed).toBeLessThanOrEqual(1300);
});

test("client: an exception from the application's callback closes the connection instead of escaping", () => {
  const { socket, closes } = connectClient({ onPuback: () => { throw new Error("boom"); } });
  socket().open();
  socket().deliver(CONNACK_OK);
  expect(() => socket().deliver(puback(1))).not.toThrow();
  expect(closes).toStrictEqual(["application callback failed: boom"]);
});

test("client: a received QoS 1 PUBLISH is acknowledged", () => {
  const messages: string[] = [];
  const { client, socket } = connectClient({ onMessage: (m) => messages.push(`${m.topic}=${Buffer.from(m.payload)}`) });
  socket().open();
  socket().deliver(CONNACK_OK);
  socket().deliver([0x32, 8, 0, 3, 0x63, 0x2f, 0x78, 0, 9, 0x21]);
  expect(messages).toStrictEqual(["c/x=!"]);
  expect(socket().packets().at(-1)).toStrictEqual({ type: 4, flags: 0, body: Uint8Array.of(0, 9) });
});

test("client: a socket that fails while opening leaves nothing running", async () => {
  const closes: string[] = [];
  let socket!: FakeSocket;
  new MqttClient({
    openSocket: (callbacks) => {
      socket = new FakeSocket(callbacks);
      callbacks.onError(); // e.g. connection refused reported at once
      return socket;
    },
    connect: { clientId: "x", keepAliveSeconds: 1, cleanSession: true },
    tickMs: 10,
    onClose: (reason) => closes.push(reason),
  });
  await sleep(60);
  expect(closes).toStrictEqual(["socket error or closed by peer"]);
  expect(socket.closed, "the socket is closed").toBe(true);
  expect(socket.written.length, "and nothing was sent on it").toBe(0);
});

test("client: after disconnect() nothing more is published or pinged, and a stuck socket is dropped", async () => {
  const { client, socket, closes } = connectClient({ connect: { clientId: "d", keepAliveSeconds: 1, cleanSession: true }, tickMs: 20, responseTimeoutMs: 100 }, 1536);
  socket().open();
  socket().deliver(CONNACK_OK);
  socket().writable = 0;
  socket().callbacks.onWritable(0); // the socket takes nothing more
  client.disconnect();
  expect(() => client.publish({ topic: "t", payload: utf8("x"), qos: 0 })).toThrow(/not connected/);
  await until(() => closes.length > 0, 1000, "the disconnect to give up on the stuck socket");
  expect(closes).toStrictEqual([""]);
  expect(!socket().packets().some((p) => p.type === 12), "no PINGREQ while disconnecting").toBeTruthy();
});

test("client: a broker that sends QoS 1 PUBLISHes but never reads cannot grow the PUBACK queue without limit", () => {
  const { client, socket, closes } = connectClient({ maxQueuedPackets: 16 });
  socket().open();
  socket().deliver(CONNACK_OK);
  socket().writable = 0;
  socket().callbacks.onWritable(0); // the broker stops reading
  const publish = [0x32, 8, 0, 3, 0x63, 0x2f, 0x78, 0, 9, 0x21];
  for (let i = 0; i < 100 && closes.length === 0; i++) socket().deliver(publish);
  expect(closes).toStrictEqual(["outgoing queue full (16 packets): the broker is not reading"]);
  expect(Math.abs(client.queuedBytes), "the queue went with the connection").toBe(0); // the getter gives -0
});
