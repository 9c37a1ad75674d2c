// The uplink over a real flash log on simulated NOR flash and a socket double: the log's tail moves
// only over contiguous PUBACKs, and whatever was not acknowledged goes out again, marked DUP.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Uplink } from "../src/uplink.ts";
import { FlashLog } from "../src/log/flash-log.ts";
import { encodeReading } from "../src/telemetry/reading.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";
import { CONNACK_OK, FakeSocket, publishes, puback, until } from "./support/fake-broker.ts";

function rig(options: { flushIntervalMs?: number } = {}) {
  const log = new FlashLog(new SimNorFlash({ byteLength: 16 * 4096 }));
  const sockets: FakeSocket[] = [];
  const uplink = new Uplink({
    log, device: "press-7", boot: 1,
    openSocket: (callbacks) => {
      const socket = new FakeSocket(callbacks);
      sockets.push(socket);
      return socket;
    },
    writeReserve: 0,
    connect: { clientId: "press-7", keepAliveSeconds: 60, cleanSession: true },
    topic: "t/telemetry", maxBatchBytes: 512, flushIntervalMs: options.flushIntervalMs ?? 0, inFlightWindow: 10,
    reconnectDelayMs: 10, now: () => Date.now(), report: () => {},
  });
  const append = (value: number) => log.append(encodeReading(Date.now(), new Map([[0, { quality: "good", value }]])));
  const online = (socket: FakeSocket) => {
    socket.open();
    socket.deliver(CONNACK_OK);
  };
  return { log, uplink, sockets, append, online };
}

test("uplink: the log's tail advances only over a contiguous run of acknowledged batches", () => {
  const { log, uplink, sockets, append, online } = rig();
  uplink.start();
  online(sockets[0]);
  for (let i = 0; i < 3; i++) {
    append(20 + i);
    uplink.pump();
  }
  const sent = publishes(sockets[0].packets());
  assert.deepEqual(sent.map((p) => JSON.parse(p.payload).readings.map((r: { seq: number }) => r.seq)), [[0], [1], [2]]);
  sockets[0].deliver(puback(sent[1].packetId));
  assert.equal(log.tailSeq, 0, "batch 2 acknowledged but batch 1 is not: the tail stays");
  sockets[0].deliver(puback(sent[0].packetId));
  assert.equal(log.tailSeq, 2, "now both");
  sockets[0].deliver(puback(sent[2].packetId));
  assert.equal(log.tailSeq, 3);
  uplink.stop();
});

test("uplink: after a reconnect everything unacknowledged goes out again, marked DUP", async () => {
  const { log, uplink, sockets, append, online } = rig();
  uplink.start();
  online(sockets[0]);
  append(1);
  uplink.pump();
  append(2);
  uplink.pump();
  const first = publishes(sockets[0].packets());
  sockets[0].deliver(puback(first[0].packetId));
  sockets[0].callbacks.onError(); // the connection drops before batch 2's PUBACK
  await until(() => sockets.length === 2, 1000, "a reconnect");
  online(sockets[1]);
  const again = publishes(sockets[1].packets());
  assert.equal(again.length, 1);
  assert.equal(again[0].dup, true);
  assert.deepEqual(JSON.parse(again[0].payload).readings.map((r: { seq: number }) => r.seq), [1]);
  sockets[1].deliver(puback(again[0].packetId));
  assert.equal(log.tailSeq, 2);
  append(3);
  uplink.pump();
  assert.equal(publishes(sockets[1].packets()).at(-1)!.dup, false, "fresh records are not DUP");
  uplink.stop();
});

test("uplink: a publish whose write fails is not counted as sent and goes out on the next connection", async () => {
  const { log, uplink, sockets, append, online } = rig();
  uplink.start();
  online(sockets[0]);
  sockets[0].dead = true;
  append(7);
  assert.doesNotThrow(() => uplink.pump());
  assert.equal(uplink.stats.published, 0);
  await until(() => sockets.length === 2, 1000, "a reconnect");
  online(sockets[1]);
  const sent = publishes(sockets[1].packets());
  assert.deepEqual(JSON.parse(sent[0].payload).readings.map((r: { seq: number }) => r.seq), [0]);
  sockets[1].deliver(puback(sent[0].packetId));
  assert.equal(log.tailSeq, 1);
  uplink.stop();
});

test("uplink: a batch that is not full waits for the flush interval; a full one goes at once", () => {
  const { uplink, sockets, append, online } = rig({ flushIntervalMs: 60_000 });
  uplink.start();
  online(sockets[0]);
  append(1);
  uplink.pump();
  assert.equal(publishes(sockets[0].packets()).length, 0, "one reading is not due yet");
  for (let i = 0; i < 12; i++) append(i);
  uplink.pump();
  const sent = publishes(sockets[0].packets());
  assert.ok(sent.length >= 1, "a batch filled to 512 bytes went out");
  assert.ok(sent.every((p) => Buffer.byteLength(p.payload) <= 512));
  uplink.stop();
});
