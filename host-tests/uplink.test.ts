// The uplink over a real flash log on simulated NOR flash and a socket double: the log's tail moves
// only over contiguous PUBACKs, and whatever was not acknowledged goes out again, marked DUP.

import { test, expect, onTestFinished } from "vitest";
import { Uplink, type DeliveryLog, type UplinkOptions } from "../src/uplink.ts";
import type { LookupResult } from "../src/net/broker-resolver.ts";
import { FlashLog } from "../src/log/flash-log.ts";
import { CHANNELS, channelNumber, encodeReading, encodeReport } from "../src/telemetry/reading.ts";
import { encodeAlarm } from "../src/telemetry/alarm-record.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";
import { ReconnectSchedule } from "../src/session/reconnect-schedule.ts";
import { PublishLimiter } from "../src/session/publish-limiter.ts";
import { CONNACK_OK, FakeSocket, parseClientPackets, publishes, puback, until } from "./support/fake-broker.ts";
import { firmwareClock } from "../host/moddable/clock.ts";

interface RigOptions {
  readingIntervalMs?: number;
  flushIntervalMs?: number; limiter?: PublishLimiter; clockValid?: () => boolean; inFlightWindow?: number; heartbeatMs?: number;
  /** The uplink's clock (default: the wall). */
  now?: () => number;
  /** A log in RAM instead of flash, for tests that need tens of thousands of records. */
  log?: DeliveryLog & { append(payload: Uint8Array): number };
  /** Thrown by openSocket (once per entry) before sockets open normally. */
  openFailures?: Error[];
  /** The broker's address per connect (default: 127.0.0.1 at once). */
  broker?: UplinkOptions["broker"];
  /** Free heap and the like (default: a fixed heap_free). */
  platformStatus?: () => Record<string, number | undefined>;
}

/** The DeliveryLog contract in RAM: reads are O(records asked for). */
function memoryLog(): DeliveryLog & { append(payload: Uint8Array): number } {
  const payloads: Uint8Array[] = [];
  let tail = 0;
  return {
    get tailSeq() { return tail; },
    get nextSeq() { return payloads.length; },
    dropped: 0,
    append: (payload) => payloads.push(payload) - 1,
    read(from, max) {
      const out = [];
      for (let seq = Math.max(from, tail); seq < payloads.length && out.length < max; seq++) out.push({ seq, payload: payloads[seq] });
      return out;
    },
    acknowledge(upTo) {
      tail = Math.max(tail, upTo + 1);
    },
  };
}

function rig(options: RigOptions = {}) {
  const log = options.log ?? new FlashLog(new SimNorFlash({ byteLength: 16 * 4096 }));
  /** Failures to inject into the log the uplink sees (a flash that fails to read or to acknowledge). */
  const faults: { read?: Error; acknowledge?: Error; garbage?: boolean } = {};
  const seen: DeliveryLog = {
    get tailSeq() { return log.tailSeq; },
    get nextSeq() { return log.nextSeq; },
    get dropped() { return log.dropped; },
    read(from, max, bytes) {
      if (faults.read) throw faults.read;
      const records = log.read(from, max, bytes);
      return faults.garbage ? records.map((r) => ({ ...r, payload: undefined as unknown as Uint8Array })) : records;
    },
    acknowledge(upTo) {
      if (faults.acknowledge) throw faults.acknowledge;
      log.acknowledge(upTo);
    },
  };
  const reports: string[] = [];
  const sockets: FakeSocket[] = [];
  /** The address each socket was opened to. */
  const addresses: string[] = [];
  const now = options.now ?? (() => Date.now());
  const uplink = new Uplink({
    log: seen, device: "press-7", boot: 1, firmware: "test",
    broker: options.broker ?? { lookup: (done) => done({ address: "127.0.0.1" }), cancel() {} },
    openSocket: (callbacks, address) => {
      const failure = options.openFailures?.shift();
      if (failure) throw failure;
      addresses.push(address);
      const socket = new FakeSocket(callbacks);
      sockets.push(socket);
      return socket;
    },
    writeReserve: 0,
    connect: { clientId: "press-7", keepAliveSeconds: 60 },
    topicRoot: "t/", maxBatchBytes: 512, flushIntervalMs: options.flushIntervalMs ?? 0, inFlightWindow: options.inFlightWindow ?? 10, heartbeatMs: options.heartbeatMs ?? 60_000,
    schedule: new ReconnectSchedule({ baseMs: 10, capMs: 20, startupJitterMs: 0, minIntervalMs: 0 }),
    limiter: options.limiter ?? new PublishLimiter(),
    clockValid: options.clockValid ?? (() => true),
    readingIntervalMs: options.readingIntervalMs,
    platformStatus: options.platformStatus ?? (() => ({ heap_free: 1234 })),
    now: () => now(), report: (line) => void reports.push(line),
  });
  // Also when an assertion failed: nothing may outlive the test. The broker then closes the
  // connection, as a real one does after DISCONNECT.
  onTestFinished(() => {
    uplink.stop();
    for (const socket of sockets) if (!socket.closed) socket.callbacks.onError?.();
  });
  const append = (value: number) => log.append(encodeReading(now(), new Map([[0, { quality: "good", value }]])));
  /** The broker accepts; the uplink publishes on its next turn, outside the socket callback. */
  const online = async (socket: FakeSocket) => {
    socket.open();
    socket.deliver(CONNACK_OK);
    await new Promise((r) => setTimeout(r, 5));
  };
  const telemetry = (socket: FakeSocket) => publishes(socket.packets()).filter((p) => p.topic === "t/telemetry");
  const seqs = (p: { payload: string }) => JSON.parse(p.payload).readings.map((r: { seq: number }) => r.seq);
  /** Start the uplink and let the broker accept its first connection. */
  const startOnline = async () => {
    uplink.start();
    await until(() => sockets.length === 1, 1000, "the first connect");
    await online(sockets[0]);
  };
  return { log, faults, reports, uplink, sockets, addresses, append, online, startOnline, telemetry, seqs };
}

test("uplink: the log's tail advances only over a contiguous run of acknowledged batches", async () => {
  const { log, uplink, sockets, append, telemetry, seqs, startOnline } = rig();
  await startOnline();
  for (let i = 0; i < 3; i++) {
    append(20 + i);
    uplink.pump();
  }
  const sent = telemetry(sockets[0]);
  expect(sent.map(seqs)).toStrictEqual([[0], [1], [2]]);
  sockets[0].deliver(puback(sent[1].packetId));
  expect(log.tailSeq, "batch 2 acknowledged but batch 1 is not: the tail stays").toBe(0);
  sockets[0].deliver(puback(sent[0].packetId));
  expect(log.tailSeq, "now both").toBe(2);
  sockets[0].deliver(puback(sent[2].packetId));
  expect(log.tailSeq).toBe(3);
});

test("uplink: after a reconnect unacknowledged batches go out again first, with their packet ids and DUP", async () => {
  const { log, uplink, sockets, append, online, telemetry, seqs, startOnline } = rig();
  await startOnline();
  append(1);
  uplink.pump();
  append(2);
  uplink.pump();
  const first = telemetry(sockets[0]);
  sockets[0].deliver(puback(first[0].packetId));
  sockets[0].callbacks.onError(); // the connection drops before batch 2's PUBACK
  append(3);
  await until(() => sockets.length === 2, 1000, "a reconnect");
  await online(sockets[1]);
  const again = telemetry(sockets[1]);
  expect(again[0].dup).toBe(true);
  expect(again[0].packetId, "the same packet id (MQTT 3.1.1 4.4)").toBe(first[1].packetId);
  expect(seqs(again[0])).toStrictEqual([1]);
  expect(again[1].dup, "fresh records are not DUP").toBe(false);
  expect(seqs(again[1])).toStrictEqual([2]);
  sockets[1].deliver(puback(again[1].packetId));
  expect(log.tailSeq, "batch 3 is acknowledged but the resent batch 2 is not yet").toBe(1);
  sockets[1].deliver(puback(again[0].packetId));
  expect(log.tailSeq).toBe(3);
});

test("uplink: the session is persistent, the will says offline, online is announced and retained", async () => {
  const { uplink, sockets, startOnline } = rig();
  await startOnline();
  const connect = sockets[0].packets()[0];
  expect(connect.type).toBe(1);
  const flags = connect.body[7];
  expect(flags & 0x02, "clean session off").toBe(0);
  expect(flags & 0x04 ? (flags & 0x20 ? "retained will" : "will") : "none").toBe("retained will");
  expect(Buffer.from(connect.body).toString()).toMatch(/t\/status.*"state":"offline".*"reason":"connection-lost"/s);
  const status = publishes(sockets[0].packets()).filter((p) => p.topic === "t/status");
  expect(JSON.parse(status[0].payload).state).toBe("online");
  expect(status[0].retain).toBe(true);
  expect(status[0].qos).toBe(1);
  uplink.stop();
  const last = publishes(sockets[0].packets()).filter((p) => p.topic === "t/status").at(-1)!;
  expect(JSON.parse(last.payload), "a clean stop says offline itself (DISCONNECT suppresses the will)").toMatchObject({ state: "offline", reason: "stopped" });
  expect(sockets[0].packets().at(-1)!.type, "then DISCONNECT").toBe(14);
  // The socket took DISCONNECT: the client ends the connection and closes the socket.
  expect(await uplink.whenClosed(5000)).toBe(true);
  await until(() => sockets[0].closed, 1000, "the socket closed");
});

test("uplink: a stop waits for a socket that has not taken DISCONNECT yet, and only so long", async () => {
  const { uplink, sockets, startOnline } = rig();
  await startOnline();
  sockets[0].writable = 0; // the socket takes nothing more
  sockets[0].callbacks.onWritable(0);
  uplink.stop();
  let closed: boolean | undefined;
  void uplink.whenClosed(5000).then((c) => (closed = c));
  await new Promise((r) => setTimeout(r, 20));
  expect(closed, "still waiting for the socket").toBe(undefined);
  sockets[0].callbacks.onError(); // the broker closes the connection
  await until(() => closed !== undefined, 1000, "whenClosed");
  expect(closed).toBe(true);
  expect(await uplink.whenClosed(10), "nothing left to wait for").toBe(true);
});

test("uplink: whenClosed gives up after its timeout", async () => {
  const { uplink, sockets, startOnline } = rig();
  await startOnline();
  sockets[0].writable = 0;
  sockets[0].callbacks.onWritable(0);
  uplink.stop();
  expect(await uplink.whenClosed(50)).toBe(false);
});

test("uplink: an unset clock is reported and no connection is tried until it is set", async () => {
  let valid = false;
  const lines: string[] = [];
  const { uplink, sockets } = rig({ clockValid: () => valid });
  uplink.start();
  await new Promise((r) => setTimeout(r, 100));
  expect(sockets.length).toBe(0);
  expect(uplink.stats.lastError).toMatch(/clock is not set/);
  valid = true;
  await until(() => sockets.length === 1, 2000, "a connect once the clock is set");
  uplink.stop();
  void lines;
});

test("uplink: publishes are paced by the limiter (fake clock)", () => {
  firmwareClock.manual(Date.UTC(2026, 0, 1));
  onTestFinished(() => firmwareClock.wall());
  const limiter = new PublishLimiter({ messagesPerWindow: 3, bytesPerWindow: 1 << 20, windowMs: 300 });
  const { uplink, sockets, append, telemetry } = rig({ limiter, now: () => firmwareClock.now() });
  uplink.start();
  firmwareClock.advance(0);
  sockets[0].open();
  sockets[0].deliver(CONNACK_OK);
  firmwareClock.advance(0); // the online status takes one of the three
  for (let i = 0; i < 40; i++) append(i);
  uplink.pump();
  expect(telemetry(sockets[0]).length, "two telemetry batches fit the first window").toBe(2);
  for (let t = 0; t < 290; t += 10) {
    sockets[0].drain(); // the OS keeps sending
    firmwareClock.advance(10);
  }
  expect(telemetry(sockets[0]).length, "nothing more within the window").toBe(2);
  for (let t = 290; t < 590; t += 10) {
    sockets[0].drain();
    firmwareClock.advance(10);
  }
  expect(telemetry(sockets[0]).length, "three more in the second window").toBe(5);
});

test("uplink: a publish whose write fails goes out on the next connection", async () => {
  const { log, uplink, sockets, append, online, telemetry, seqs, startOnline } = rig();
  await startOnline();
  sockets[0].dead = true;
  append(7);
  expect(() => uplink.pump()).not.toThrow();
  await until(() => sockets.length === 2, 1000, "a reconnect");
  await online(sockets[1]);
  const sent = telemetry(sockets[1]);
  expect(seqs(sent[0])).toStrictEqual([0]);
  sockets[1].deliver(puback(sent[0].packetId));
  expect(log.tailSeq).toBe(1);
});

test("uplink: nothing more is queued while the socket has not taken the last publish", async () => {
  const { uplink, sockets, append, online, telemetry } = rig();
  uplink.start();
  await until(() => sockets.length === 1, 1000, "the first connect");
  sockets[0].writable = 600;
  await online(sockets[0]);
  for (let i = 0; i < 40; i++) append(i);
  uplink.pump();
  const client = sockets[0];
  const before = telemetry(client).length;
  uplink.pump();
  expect(telemetry(client).length, "waits for the socket").toBe(before);
  client.drain(4096);
  await until(() => telemetry(client).length > before, 500, "more once the socket drained");
});

test("uplink: a batch that is not full waits for the flush interval; a full one goes at once", async () => {
  const { uplink, sockets, append, telemetry, startOnline } = rig({ flushIntervalMs: 60_000 });
  await startOnline();
  append(1);
  uplink.pump();
  expect(telemetry(sockets[0]).length, "one reading is not due yet").toBe(0);
  for (let i = 0; i < 12; i++) append(i);
  uplink.pump();
  const sent = telemetry(sockets[0]);
  expect(sent.length >= 1, "a batch filled to 512 bytes went out").toBeTruthy();
  expect(sent.every((p) => Buffer.byteLength(p.payload) <= 512)).toBeTruthy();
});

test("uplink: fresh readings go out ahead of a backlog, and the tail still moves only over contiguous acks", async () => {
  const limiter = new PublishLimiter({ messagesPerWindow: 2, bytesPerWindow: 1 << 20, windowMs: 200 });
  const { log, uplink, sockets, append, online, telemetry, seqs } = rig({ limiter });
  for (let i = 0; i < 40; i++) append(i); // the backlog: 40 readings, about 5 batches of 512 bytes
  uplink.start();
  await until(() => sockets.length === 1, 1000, "the first connect");
  const os = setInterval(() => sockets[0].drain(), 10);
  await online(sockets[0]);
  append(1000); // a fresh reading, sampled after the connection came up
  await until(() => telemetry(sockets[0]).some((p) => seqs(p).includes(40)), 2000, "the fresh reading");
  const order = telemetry(sockets[0]).map(seqs);
  const freshAt = order.findIndex((s) => s.includes(40));
  expect(freshAt < 2, `the fresh batch went out at position ${freshAt} of ${JSON.stringify(order)}`).toBeTruthy();
  await until(() => new Set(telemetry(sockets[0]).flatMap(seqs).filter((q: number) => q < 40)).size === 40, 3000, "the rest of the backlog");
  clearInterval(os);
  const sent = telemetry(sockets[0]);
  const fresh = sent.find((p) => seqs(p).includes(40))!;
  sockets[0].deliver(puback(fresh.packetId));
  expect(log.tailSeq, "the fresh batch is acknowledged, the backlog before it is not").toBe(0);
  for (const p of sent) if (p !== fresh) sockets[0].deliver(puback(p.packetId));
  expect(log.tailSeq, "everything acknowledged, tail past the fresh reading").toBe(41);
});

test("uplink: fresh batches acknowledged ahead of a long backlog do not close the window", async () => {
  const limiter = new PublishLimiter({ messagesPerWindow: 4, bytesPerWindow: 1 << 20, windowMs: 300 });
  const { log, uplink, sockets, append, online, telemetry } = rig({ limiter, flushIntervalMs: 50, inFlightWindow: 2 });
  for (let i = 0; i < 120; i++) append(i); // an outage's backlog, ~15 batches
  uplink.start();
  await until(() => sockets.length === 1, 1000, "the first connect");
  await online(sockets[0]);
  const acked = new Set<number>();
  const broker = setInterval(() => {
    sockets[0].drain();
    for (const p of telemetry(sockets[0])) if (!acked.has(p.packetId)) {
      acked.add(p.packetId);
      sockets[0].deliver(puback(p.packetId));
    }
  }, 10);
  const sampler = setInterval(() => append(0), 60); // live sampling keeps the fresh lane busy
  await until(() => log.tailSeq >= 120, 8000, "the backlog to drain while fresh readings keep coming");
  clearInterval(sampler);
  await until(() => log.tailSeq === log.nextSeq, 3000, "everything acknowledged");
  clearInterval(broker);
});

test("uplink: a flash read or decode failure in a timer's pump is reported, never thrown; the reading goes out later", async () => {
  const { log, faults, reports, uplink, sockets, append, telemetry, seqs, startOnline } = rig();
  await startOnline();
  faults.read = new Error("flash read failed");
  append(1);
  expect(() => uplink.pump()).not.toThrow();
  expect(reports.filter((r) => /pump failed: flash read failed; the readings stay in flash/.test(r)).length).toBe(1);
  // The ticker pumps too: an exception there would be uncaught and fail this file.
  await until(() => reports.filter((r) => /flash read failed/.test(r)).length >= 2, 2000, "the ticker's pump to meet the fault");
  faults.read = undefined;
  faults.garbage = true; // a decode error that is not a record-format error
  expect(() => uplink.pump()).not.toThrow();
  expect(reports.at(-1)).toMatch(/^pump failed: .*the readings stay in flash/);
  expect(telemetry(sockets[0]).length, "nothing published meanwhile").toBe(0);
  expect([log.tailSeq, log.nextSeq], "the reading is still in the log").toStrictEqual([0, 1]);
  faults.garbage = false;
  uplink.pump();
  expect(telemetry(sockets[0]).map(seqs)).toStrictEqual([[0]]);
  expect(uplink.connected).toBe(true);
});

test("uplink: a flash acknowledge failure keeps the connection and the reading; the next PUBACK moves the tail", async () => {
  const { log, faults, reports, uplink, sockets, append, telemetry, startOnline } = rig();
  await startOnline();
  append(1);
  uplink.pump();
  faults.acknowledge = new Error("flash write failed");
  expect(() => sockets[0].deliver(puback(telemetry(sockets[0])[0].packetId))).not.toThrow();
  expect(reports.at(-1)).toMatch(/^acknowledge failed: flash write failed/);
  expect(log.tailSeq, "still in flash").toBe(0);
  expect(uplink.connected, "a flash fault is no reason to drop the connection").toBe(true);
  faults.acknowledge = undefined;
  append(2);
  uplink.pump();
  sockets[0].deliver(puback(telemetry(sockets[0])[1].packetId));
  expect(log.tailSeq, "both acknowledged now").toBe(2);
});

test("uplink: packet ids wrap after 65,535 and skip only those still in use, status ids of a closed connection included", async () => {
  const unlimited = new PublishLimiter({ messagesPerWindow: 1e9, bytesPerWindow: 1e12, windowMs: 1 });
  const { uplink, sockets, append, online, startOnline, log } = rig({ log: memoryLog(), limiter: unlimited });
  await startOnline(); // online status: id 1, never acknowledged
  sockets[0].callbacks.onError(); // the connection drops: id 1 is free again
  await until(() => sockets.length === 2, 1000, "a reconnect");
  await online(sockets[1]); // online status: id 2
  const socket = sockets[1];
  socket.deliver(puback(2));
  let seen = socket.written.length;
  const newIds = () => {
    const chunks = socket.written.slice(seen);
    seen = socket.written.length;
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
    return publishes(parseClientPackets(bytes)).filter((p) => p.topic === "t/telemetry").map((p) => p.packetId);
  };
  append(0);
  uplink.pump();
  const [held] = newIds(); // id 3, acknowledged only at the end
  expect(held).toBe(3);
  const afterWrap: number[] = [];
  let previous = held;
  for (let n = 1; afterWrap.length < 4; n++) {
    append(n);
    uplink.pump();
    const ids = newIds();
    expect(ids.length, `batch ${n} published`).toBe(1);
    if (ids[0] < previous) afterWrap.push(ids[0]);
    else if (afterWrap.length > 0) afterWrap.push(ids[0]);
    previous = ids[0];
    socket.deliver(puback(ids[0]));
    socket.drain();
  }
  expect(afterWrap.slice(0, 2), "1 (the closed connection's status) and 2 (acknowledged) are free again").toStrictEqual([1, 2]);
  expect(afterWrap, "3 is still in flight").not.toContain(held);
  socket.deliver(puback(held));
  expect(log.tailSeq, "the held batch acknowledged: everything is").toBe(log.nextSeq);
}, 60_000);

test("uplink: a retained QoS 0 heartbeat says online once every heartbeat period (fake clock)", () => {
  firmwareClock.manual(Date.UTC(2026, 0, 1));
  onTestFinished(() => firmwareClock.wall());
  const { uplink, sockets } = rig({ heartbeatMs: 30_000, now: () => firmwareClock.now() });
  uplink.start();
  firmwareClock.advance(0); // the first connect: no start-up delay here
  sockets[0].open();
  sockets[0].deliver(CONNACK_OK);
  firmwareClock.advance(0); // the scheduled pump announces online (QoS 1)
  const beats = () => publishes(sockets[0].packets()).filter((p) => p.topic === "t/status" && p.qos === 0);
  const online = publishes(sockets[0].packets()).filter((p) => p.topic === "t/status" && p.qos === 1);
  expect(online.length).toBe(1);
  firmwareClock.advance(29_900);
  expect(beats().length, "not before the period").toBe(0);
  firmwareClock.advance(100);
  expect(beats().length, "one at the period").toBe(1);
  firmwareClock.advance(29_900);
  expect(beats().length).toBe(1);
  firmwareClock.advance(100);
  expect(beats().length, "and one per period after").toBe(2);
  for (const beat of beats()) {
    expect(beat.retain).toBe(true);
    expect(JSON.parse(beat.payload).state).toBe("online");
  }
});

/** The firmware clock off the wall for one test; the uplink's time is that clock. */
function manualRig(options: RigOptions = {}) {
  firmwareClock.manual(Date.UTC(2026, 0, 1));
  onTestFinished(() => firmwareClock.wall());
  const r = rig({ ...options, now: () => firmwareClock.now() });
  /** Starts, connects (the broker accepts) and lets the scheduled pump announce online. */
  const connect = (socket = 0) => {
    if (r.sockets.length === 0) r.uplink.start();
    firmwareClock.advance(0);
    r.sockets[socket].open();
    r.sockets[socket].deliver(CONNACK_OK);
    firmwareClock.advance(0);
  };
  return { ...r, connect, advance: (ms: number) => firmwareClock.advance(ms) };
}

const statuses = (socket: FakeSocket) => publishes(socket.packets()).filter((p) => p.topic === "t/status").map((p) => JSON.parse(p.payload));

test("uplink: the online status and heartbeat report uptime, log depth, drops, reconnects, the last error and the platform", () => {
  const { uplink, sockets, append, connect, advance } = manualRig({ heartbeatMs: 10_000 });
  connect();
  expect(statuses(sockets[0])).toStrictEqual([{ schema: 1, state: "online", device: "press-7", boot: 1, firmware: "test", uptime_s: 0, log_depth: 0, dropped: 0, reconnects: 0, heap_free: 1234 }]);
  sockets[0].deliver(puback(1));
  advance(2500);
  sockets[0].callbacks.onError(); // lost: reconnect after the backoff
  advance(20);
  append(1);
  append(2);
  connect(1);
  const online = statuses(sockets[1])[0];
  expect(online).toStrictEqual({ schema: 1, state: "online", device: "press-7", boot: 1, firmware: "test", uptime_s: 2, log_depth: 2, dropped: 0, reconnects: 1, last_error: "connection lost: socket error or closed by peer", heap_free: 1234 });
  advance(10_100); // the ticker runs every 100 ms
  const beat = statuses(sockets[1]).at(-1);
  expect(beat.uptime_s, "the heartbeat").toBe(12);
  void uplink;
});

test("uplink: with readings every second and a 5 s bound, a batch goes once it holds five (the next could not make the bound), not a tick earlier with four", () => {
  const { uplink, sockets, append, connect, advance, telemetry, seqs } = manualRig({ flushIntervalMs: 5000, readingIntervalMs: 1000, heartbeatMs: 600_000 });
  connect();
  for (let s = 0; s < 10; s++) {
    advance(s === 0 ? 0 : 1000); // the ticker (every 500 ms) runs before each reading at the same instant
    append(s);
    uplink.pump();
    sockets[0].drain();
  }
  expect(telemetry(sockets[0]).map(seqs)).toStrictEqual([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
});

test("uplink: while telemetry flows it carries the health and no heartbeat goes alone; when it stops, the heartbeat comes back", () => {
  const { sockets, append, connect, advance, telemetry } = manualRig({ heartbeatMs: 10_000, flushIntervalMs: 1000 });
  connect();
  sockets[0].deliver(puback(1));
  for (let s = 0; s < 30; s++) {
    append(s);
    advance(1000);
    sockets[0].drain();
    for (const p of telemetry(sockets[0])) sockets[0].deliver(puback(p.packetId));
  }
  expect(statuses(sockets[0]).length, "only the online status in 30 s of telemetry").toBe(1);
  const batch = JSON.parse(telemetry(sockets[0]).at(-1)!.payload);
  expect([typeof batch.log_depth, batch.dropped]).toStrictEqual(["number", 0]);
  advance(10_000);
  expect(statuses(sockets[0]).length, "10 s without telemetry: a heartbeat").toBe(2);
});

test("uplink: a resent batch that no longer fits whole (its head grew, or the batch size shrank) leaves the rest unsent, not acknowledged", async () => {
  for (const shrink of [false, true]) {
    const { log, uplink, sockets, append, telemetry, startOnline, online } = rig();
    /** Batches written whole so far (a packet the socket has not taken all of is left for later). */
    const complete = (socket: FakeSocket) => telemetry(socket).flatMap((p) => {
      try {
        return [{ packetId: p.packetId, seqs: (JSON.parse(p.payload) as { readings: { seq: number }[] }).readings.map((r) => r.seq) }];
      } catch {
        return [];
      }
    });
    await startOnline();
    for (let i = 0; i < 12; i++) append(20 + i);
    uplink.pump();
    const first = complete(sockets[0]);
    expect(first.length).toBeGreaterThan(0);
    sockets[0].callbacks.onError(); // lost before any PUBACK
    // While offline the log grows by a digit (log_depth in every batch head), or the batch size shrinks.
    if (shrink) uplink.reconfigure({ flushIntervalMs: 0, heartbeatMs: 60_000, maxBatchBytes: 300 });
    else for (let i = 0; i < 100; i++) append(1);
    await until(() => sockets.length === 2, 1000, "the reconnect");
    await online(sockets[1]);
    const delivered = new Set<number>();
    const acked = new Set<number>();
    for (let round = 0; round < 100 && log.tailSeq < log.nextSeq; round++) {
      sockets[1].drain();
      uplink.pump();
      for (const p of complete(sockets[1])) {
        for (const seq of p.seqs) delivered.add(seq);
        if (!acked.has(p.packetId)) sockets[1].deliver(puback(p.packetId));
        acked.add(p.packetId);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const firstSeqs = first.flatMap((p) => p.seqs);
    expect(firstSeqs.filter((seq) => !delivered.has(seq)), `never resent (shrink: ${shrink})`).toStrictEqual([]);
    expect(log.tailSeq).toBe(log.nextSeq);
    uplink.stop();
  }
});

test("uplink: a control message (a command's response) whose PUBACK the connection lost goes again after the reconnect; an acknowledged one does not", async () => {
  const { uplink, sockets, startOnline, online } = rig();
  await startOnline();
  const responses = (socket: FakeSocket) => publishes(socket.packets()).filter((p) => p.topic === "t/response");
  uplink.sendControl("t/response", new TextEncoder().encode('{"id":"a"}'));
  uplink.sendControl("t/response", new TextEncoder().encode('{"id":"b"}'));
  await until(() => responses(sockets[0]).length === 2, 1000, "both responses");
  sockets[0].deliver(puback(responses(sockets[0])[0].packetId)); // "a" acknowledged, "b" not
  sockets[0].callbacks.onError();
  await until(() => sockets.length === 2, 1000, "the reconnect");
  await online(sockets[1]);
  await until(() => responses(sockets[1]).length === 1, 1000, "the unacknowledged response again");
  await new Promise((r) => setTimeout(r, 20));
  expect(responses(sockets[1]).map((p) => p.payload)).toStrictEqual(['{"id":"b"}']);
});

test("uplink: a record too large for any batch of batch_bytes still goes, alone, and delivery goes on after it", async () => {
  const { log, uplink, sockets, append, telemetry, seqs, startOnline } = rig(); // batches of 512 bytes
  await startOnline();
  const wide = { quality: "uncertain" as const, reason: "open-circuit", value: -99_999.99, min: -99_999.99, max: 99_999.99, count: 100 };
  log.append(encodeReport(Date.now(), new Map(CHANNELS.map((_, n) => [n, wide] as [number, typeof wide]))));
  append(21);
  for (let i = 0; i < 20 && log.tailSeq < 2; i++) {
    sockets[0].drain();
    uplink.pump();
    for (const p of telemetry(sockets[0])) sockets[0].deliver(puback(p.packetId));
    await new Promise((r) => setTimeout(r, 5));
  }
  const sent = telemetry(sockets[0]);
  expect(sent[0].payload.length, "over the 512-byte batch size, alone").toBeGreaterThan(512);
  expect(sent.map(seqs).slice(0, 2)).toStrictEqual([[0], [1]]);
  expect(log.tailSeq).toBe(2);
});

test("uplink: its statistics count publishes, resends, acknowledgements and connections", () => {
  const { uplink, sockets, append, connect, advance, telemetry } = manualRig();
  connect();
  for (let i = 0; i < 3; i++) {
    append(i);
    uplink.pump();
  }
  const sent = telemetry(sockets[0]);
  sockets[0].deliver(puback(sent[0].packetId));
  sockets[0].callbacks.onError();
  advance(20);
  connect(1);
  const resent = telemetry(sockets[1]);
  expect(resent.map((p) => p.dup)).toStrictEqual([true, true]);
  for (const p of resent) sockets[1].deliver(puback(p.packetId));
  const bytes = [...sockets[0].packets(), ...sockets[1].packets()].filter((p) => p.type === 3).reduce((n, p) => n + p.body.length, 0);
  const { lastError, publishedBytes, ...counts } = uplink.stats;
  expect(counts).toStrictEqual({ published: 3, acknowledged: 3, readingsAcknowledged: 3, resent: 2, connects: 2, reconnects: 1, publishes: 7, alarms: 0, alarmsAcknowledged: 0 });
  expect(lastError).toBe("connection lost: socket error or closed by peer");
  expect(publishedBytes, "payload bytes, less than the packets' bodies").toBeLessThan(bytes);
  expect(publishedBytes).toBeGreaterThan(bytes - 7 * 40);
});

test("uplink: drain publishes what is not due yet and resolves once acknowledged, or false after its timeout", async () => {
  const { uplink, sockets, append, connect, advance, telemetry } = manualRig({ flushIntervalMs: 60_000 });
  connect();
  append(1);
  uplink.pump();
  expect(telemetry(sockets[0]).length, "not due").toBe(0);
  let drained: boolean | undefined;
  void uplink.drain(5000).then((d) => (drained = d));
  expect(telemetry(sockets[0]).length, "draining: published at once").toBe(1);
  sockets[0].deliver(puback(telemetry(sockets[0])[0].packetId));
  await Promise.resolve();
  expect(drained).toBe(true);
  expect(await uplink.drain(10), "nothing left").toBe(true);
  append(2);
  let late: boolean | undefined;
  void uplink.drain(1000).then((d) => (late = d));
  advance(999);
  await Promise.resolve();
  expect(late, "still waiting").toBe(undefined);
  advance(1);
  await Promise.resolve();
  expect(late, "gave up after 1000 ms").toBe(false);
});

test("uplink: an undecodable record goes out as such, and a socket that cannot open is retried", () => {
  const store = memoryLog();
  const { uplink, sockets, connect, advance, telemetry, reports } = manualRig({ log: store, openFailures: [new Error("no route")] });
  store.append(Uint8Array.of(9, 1, 2)); // record type 9: not a reading
  uplink.start();
  advance(0);
  expect(reports.some((r) => /^connect to 127\.0\.0\.1 failed: cannot open a connection: no route; retrying in \d+ ms$/.test(r)), reports.join("\n")).toBe(true);
  advance(20); // the backoff is at most 20 ms here
  expect(sockets.length, "the retry opened a socket").toBe(1);
  expect(uplink.stats.lastError).toBe("connect to 127.0.0.1 failed: cannot open a connection: no route");
  connect();
  const [batch] = telemetry(sockets[0]);
  expect(JSON.parse(batch.payload).readings).toStrictEqual([{ seq: 0, ts: 0, undecodable: "record type 9 is not a reading" }]);
  expect(reports.some((r) => /^record 0 cannot be decoded \(record type 9 is not a reading\); sending it as undecodable$/.test(r))).toBe(true);
  sockets[0].deliver(puback(999));
  expect(reports.at(-1)).toBe("puback id=999 matches nothing in flight (ignored)");
  sockets[0].deliver(puback(batch.packetId));
  expect(store.tailSeq).toBe(1);
});

test("uplink: the ticker runs at a tenth of the flush interval (100 ms at least), and a batch goes out on the last tick before its oldest reading is that old", () => {
  const { uplink, sockets, append, connect, advance, telemetry } = manualRig({ flushIntervalMs: 2000 });
  connect();
  append(1);
  uplink.pump();
  advance(1799);
  expect(telemetry(sockets[0]).length, "not due yet").toBe(0);
  advance(1);
  expect(telemetry(sockets[0]).length, "due at 1800 ms (2000 less a 200 ms tick), and a tick came then").toBe(1);
});

test("uplink: after stop nothing more happens: no connect, no publish, no heartbeat", () => {
  const early = manualRig();
  early.uplink.start();
  early.uplink.stop();
  early.advance(60_000);
  expect(early.sockets.length, "stopped before the first connect").toBe(0);
  firmwareClock.wall();
  const { uplink, sockets, append, connect, advance } = manualRig({ heartbeatMs: 1000 });
  connect();
  uplink.stop();
  const written = sockets[0].written.length;
  const offline = publishes(sockets[0].packets()).filter((p) => p.topic === "t/status").at(-1)!;
  expect(offline.retain, "the clean offline is retained").toBe(true);
  append(1);
  advance(10_000);
  expect(sockets[0].written.length, "nothing written after the stop").toBe(written);
  expect(sockets.length).toBe(1);
});

test("uplink: at most inFlightWindow batches wait for PUBACK; each acknowledgement lets one more go", () => {
  const { uplink, sockets, append, connect, telemetry, advance } = manualRig({ inFlightWindow: 2 });
  connect();
  for (let i = 0; i < 30; i++) append(i); // four batches of 512 bytes
  uplink.pump();
  expect(telemetry(sockets[0]).length).toBe(2);
  sockets[0].drain();
  advance(100);
  expect(telemetry(sockets[0]).length, "the window is full").toBe(2);
  sockets[0].deliver(puback(telemetry(sockets[0])[1].packetId));
  sockets[0].drain();
  advance(0);
  expect(telemetry(sockets[0]).length, "one acknowledged, one more goes").toBe(3);
});

test("uplink: connections dropped right after CONNACK again and again are taken for a duplicate client id", () => {
  const { uplink, sockets, connect, advance, reports } = manualRig();
  connect();
  for (let drop = 1; drop <= 3; drop++) {
    sockets.at(-1)!.callbacks.onError();
    if (drop < 3) {
      advance(20);
      connect(sockets.length - 1);
    }
  }
  expect(uplink.stats.lastError).toBe("duplicate client id suspected: connection lost: socket error or closed by peer");
  expect(reports.at(-1)).toMatch(/^connection lost: socket error or closed by peer; retrying in \d+ ms \(the broker keeps closing right after CONNACK: another client with this id\?\)$/);
});

test("uplink: what it reports: first connect, connection, publishes, resends, fresh lane, PUBACKs", () => {
  const { uplink, sockets, append, connect, advance, telemetry, reports } = manualRig({ inFlightWindow: 1 });
  for (let i = 0; i < 3; i++) append(i);
  connect();
  const sent = telemetry(sockets[0]);
  sockets[0].deliver(puback(sent[0].packetId)); // the backlog's batch (0..2)
  advance(7);
  append(3);
  uplink.pump(); // goes out; its PUBACK never comes
  sockets[0].callbacks.onError();
  advance(20);
  for (let i = 4; i < 6; i++) append(i);
  connect(1);
  const online = (socket: number) => `status online bytes=${Buffer.byteLength(publishes(sockets[socket].packets()).filter((p) => p.topic === "t/status")[0].payload)}`;
  expect(reports).toStrictEqual([
    "first connect in 0 ms (random start-up delay)",
    "connected to 127.0.0.1 as press-7 (session present: false); 3 records waiting, 0 batches to resend",
    `${online(0)} log_depth=3 dropped=0`,
    "publish id=2 seq=0..2 readings=3 bytes=" + Buffer.byteLength(sent[0].payload),
    "puback id=2 seq=0..2 after 0 ms",
    "publish id=3 seq=3..3 readings=1 bytes=" + Buffer.byteLength(telemetry(sockets[0])[1].payload),
    expect.stringMatching(/^connection lost: socket error or closed by peer; retrying in \d+ ms$/),
    "connected to 127.0.0.1 as press-7 (session present: false); 3 records waiting, 1 batches to resend",
    `${online(1)} log_depth=3 dropped=0`,
    "resend id=3 seq=3..3 readings=1 bytes=" + Buffer.byteLength(telemetry(sockets[1])[0].payload),
  ]);
  append(6); // sampled during this connection: the fresh lane, ahead of the backlog 4..5
  advance(5);
  sockets[1].deliver(puback(3)); // the window opens
  advance(0);
  expect(reports.slice(-3)).toStrictEqual([
    "puback id=3 seq=3..3 after 5 ms",
    "fresh readings ahead of 2 waiting in the backlog",
    expect.stringMatching(/^publish id=\d+ seq=6\.\.6 readings=1 bytes=\d+$/),
  ]);
});

test("uplink: a publish the limiter holds back goes out exactly when the window allows, each time (fake clock)", () => {
  // 270 ms windows against a 100 ms ticker: only the paced timer can publish at 270 and 540 ms.
  const limiter = new PublishLimiter({ messagesPerWindow: 1, bytesPerWindow: 1 << 20, windowMs: 270 });
  const { uplink, sockets, append, connect, advance, telemetry, seqs } = manualRig({ limiter });
  connect(); // the online status takes the window at t = 0
  append(1);
  uplink.pump();
  expect(telemetry(sockets[0]).length, "held back").toBe(0);
  sockets[0].drain();
  advance(269);
  expect(telemetry(sockets[0]).length, "not before the window allows").toBe(0);
  advance(1);
  expect(telemetry(sockets[0]).map(seqs), "at 270 ms").toStrictEqual([[0]]);
  sockets[0].drain();
  append(2);
  uplink.pump();
  advance(269);
  expect(telemetry(sockets[0]).length, "the second waits its window too").toBe(1);
  advance(1);
  expect(telemetry(sockets[0]).map(seqs), "at 540 ms: the paced timer was set again").toStrictEqual([[0], [1]]);
});

test("uplink: a backlog batch stops at the fresh lane and at a batch already acknowledged ahead of it", () => {
  const limiter = new PublishLimiter({ messagesPerWindow: 1, bytesPerWindow: 1 << 20, windowMs: 1000 });
  const { log, uplink, sockets, append, connect, advance, telemetry, seqs } = manualRig({ limiter });
  for (let i = 0; i < 3; i++) append(i); // the backlog 0..2
  connect(); // the status takes the window: the backlog waits
  append(3); // fresh: sampled during this connection
  sockets[0].drain();
  advance(1000);
  expect(telemetry(sockets[0]).map(seqs), "the fresh reading alone, ahead of the backlog").toStrictEqual([[3]]);
  sockets[0].deliver(puback(telemetry(sockets[0])[0].packetId));
  expect(log.tailSeq, "acknowledged ahead of the backlog: the tail stays").toBe(0);
  sockets[0].callbacks.onError(); // lost before the backlog went
  advance(20);
  connect(1);
  uplink.pump();
  sockets[1].drain();
  advance(1000);
  expect(telemetry(sockets[1]).map(seqs), "0..2, not 3 again").toStrictEqual([[0, 1, 2]]);
  sockets[1].deliver(puback(telemetry(sockets[1])[0].packetId));
  expect(log.tailSeq).toBe(4);
});

test("uplink: a backlog batch collected after fresh readings arrived holds only the backlog", () => {
  const limiter = new PublishLimiter({ messagesPerWindow: 1, bytesPerWindow: 1 << 20, windowMs: 1000 });
  const { log, uplink, sockets, append, connect, advance, telemetry, seqs } = manualRig({ limiter, flushIntervalMs: 60_000, heartbeatMs: 600_000 });
  for (let i = 0; i < 3; i++) append(i);
  connect();
  append(3); // fresh, not due for a minute
  uplink.pump();
  sockets[0].drain();
  advance(1000);
  expect(telemetry(sockets[0]).map(seqs), "the backlog is due at once, without the fresh reading").toStrictEqual([[0, 1, 2]]);
  sockets[0].drain();
  advance(57_999);
  expect(telemetry(sockets[0]).length, "the fresh reading waits for its flush interval (less one tick)").toBe(1);
  advance(1);
  expect(telemetry(sockets[0]).map(seqs)).toStrictEqual([[0, 1, 2], [3]]);
  for (const p of telemetry(sockets[0])) sockets[0].deliver(puback(p.packetId));
  expect(log.tailSeq).toBe(4);
});

test("uplink: a batch found not due is not read again until it falls due or the log grows (fake clock)", () => {
  const store = memoryLog();
  let reads = 0;
  const counted = Object.assign(Object.create(store), {
    read: (from: number, max: number, bytes?: number) => {
      reads++;
      return store.read(from, max, bytes);
    },
  }) as typeof store;
  const { uplink, sockets, append, connect, advance, telemetry, seqs } = manualRig({ log: counted, flushIntervalMs: 4000, heartbeatMs: 600_000 });
  connect();
  append(1);
  uplink.pump();
  const afterFirst = reads;
  expect(afterFirst, "the batch was collected once").toBeGreaterThan(0);
  for (let i = 0; i < 5; i++) uplink.pump();
  advance(3599); // ticks pump every 400 ms
  expect(reads, "pumps and ticks before it is due read nothing").toBe(afterFirst);
  expect(telemetry(sockets[0]).length).toBe(0);
  append(2); // the log grew: the batch is collected again, and is still not due
  uplink.pump();
  expect(reads).toBeGreaterThan(afterFirst);
  const afterSecond = reads;
  uplink.pump();
  expect(reads).toBe(afterSecond);
  advance(1); // t = 3600: the last tick before the first reading is 4 s old
  expect(telemetry(sockets[0]).map(seqs)).toStrictEqual([[0, 1]]);
});

test("uplink: a heartbeat that fails is reported and contained; publishing goes on (fake clock)", () => {
  let broken = false;
  const platformStatus = () => {
    if (broken) throw new Error("heap probe failed");
    return { heap_free: 1234 };
  };
  const { uplink, sockets, append, connect, advance, telemetry, seqs, reports } = manualRig({ heartbeatMs: 1000, platformStatus });
  connect();
  broken = true;
  append(1);
  sockets[0].drain();
  advance(1000); // the tick's heartbeat throws; its pump still publishes
  expect(reports.filter((r) => r === "heartbeat failed: heap probe failed; the readings stay in flash").length).toBe(1);
  expect(uplink.stats.lastError).toBe("heartbeat failed: heap probe failed; the readings stay in flash");
  expect(telemetry(sockets[0]).map(seqs)).toStrictEqual([[0]]);
  broken = false;
  sockets[0].drain();
  advance(1000);
  expect(statuses(sockets[0]).length, "the online status and one heartbeat").toBe(2);
});

test("uplink: whenClosed before any stop resolves at once", async () => {
  const { uplink } = rig();
  expect(await uplink.whenClosed(0)).toBe(true);
});

/** A broker lookup the test answers: each connect asks once. */
function scriptedBroker() {
  const asked: ((result: LookupResult) => void)[] = [];
  let cancelled = 0;
  return {
    asked,
    get cancelled() { return cancelled; },
    broker: { lookup: (done: (result: LookupResult) => void) => void asked.push(done), cancel: () => void cancelled++ },
  };
}

test("uplink: a failed lookup is a failed connect: reported with its reason, retried after the backoff", () => {
  const dns = scriptedBroker();
  const { uplink, sockets, addresses, advance, reports } = manualRig({ broker: dns.broker });
  uplink.start();
  advance(0);
  expect(dns.asked.length).toBe(1);
  dns.asked[0]({ error: "broker.example not found" });
  expect(sockets.length, "no socket without an address").toBe(0);
  expect(reports.at(-1)).toMatch(/^dns: broker\.example not found; retrying in (\d+) ms$/);
  expect(uplink.stats.lastError).toBe("dns: broker.example not found");
  const delay = Number(/retrying in (\d+) ms/.exec(reports.at(-1)!)![1]);
  if (delay > 0) {
    advance(delay - 1);
    expect(dns.asked.length, "not before the backoff").toBe(1);
  }
  advance(1);
  expect(dns.asked.length, "looked up again").toBe(2);
  dns.asked[1]({ address: "198.51.100.4", note: "lookup timed out; using 198.51.100.4, which worked before" });
  expect(addresses).toStrictEqual(["198.51.100.4"]);
  expect(reports).toContain("dns: lookup timed out; using 198.51.100.4, which worked before");
});

test("uplink: a connection that never reached CONNACK is a failed connect, not a lost connection", () => {
  const { uplink, sockets, advance, reports, connect } = manualRig();
  uplink.start();
  advance(0);
  sockets[0].callbacks.onError();
  expect(reports.at(-1)).toMatch(/^connect to 127\.0\.0\.1 failed: socket error or closed by peer; retrying in \d+ ms$/);
  expect(reports.some((r) => r.startsWith("connection lost"))).toBe(false);
  advance(20);
  connect(1);
  sockets[1].callbacks.onError();
  expect(reports.at(-1)).toMatch(/^connection lost: socket error or closed by peer; retrying in \d+ ms$/);
});

test("uplink: a stop during a lookup cancels it; a late answer opens nothing", () => {
  const dns = scriptedBroker();
  const { uplink, sockets, advance } = manualRig({ broker: dns.broker });
  uplink.start();
  advance(0);
  uplink.stop();
  expect(dns.cancelled).toBe(1);
  dns.asked[0]({ address: "198.51.100.4" });
  advance(1000);
  expect(sockets.length).toBe(0);
});

test("uplink: drain does not wait for acknowledgements that cannot come: no connection, or it drops", async () => {
  const dns = scriptedBroker();
  const offline = manualRig({ broker: dns.broker, flushIntervalMs: 60_000 });
  offline.uplink.start();
  offline.append(1);
  expect(await offline.uplink.drain(10_000), "never connected: at once, records stay in flash").toBe(false);
  const { uplink, sockets, append, connect, telemetry } = manualRig({ flushIntervalMs: 60_000 });
  connect();
  append(1);
  let drained: boolean | undefined;
  void uplink.drain(10_000).then((d) => (drained = d));
  expect(telemetry(sockets[0]).length).toBe(1);
  sockets[0].callbacks.onError();
  await Promise.resolve();
  expect(drained, "the connection dropped: no PUBACK can come").toBe(false);
});

test("uplink: heartbeats and the offline status on stop are reported", () => {
  const { uplink, connect, advance, reports, append } = manualRig({ heartbeatMs: 10_000 });
  connect();
  append(1);
  advance(10_100);
  expect(reports.some((r) => /^heartbeat bytes=\d+ log_depth=\d+ dropped=0$/.test(r)), reports.join("\n")).toBe(true);
  uplink.stop();
  expect(reports.at(-1)).toMatch(/^status offline \(stopped\) bytes=\d+; disconnecting$/);
});

test("uplink: connectSoon cuts the backoff short once the clock is set (fake clock)", () => {
  let valid = false;
  const { uplink, sockets, advance, reports } = manualRig({ clockValid: () => valid });
  uplink.start();
  advance(0);
  expect(reports.at(-1)).toMatch(/^not connecting: the clock is not set .*; retrying in \d+ ms$/);
  for (let i = 0; i < 3; i++) advance(20); // failures pile up the backoff
  expect(sockets.length).toBe(0);
  valid = true;
  uplink.connectSoon();
  advance(0);
  expect(sockets.length, "connected at once, not at the end of the backoff").toBe(1);
  uplink.connectSoon(); // a connection attempt is under way: nothing more
  advance(0);
  expect(sockets.length).toBe(1);
});

const alarmRecord = (value: number, ts = Date.now()) =>
  encodeAlarm({ channel: channelNumber("max31865", "temperature"), kind: "high", state: "raised", value, limit: 85, ts });
const alarms = (socket: FakeSocket) => publishes(socket.packets()).filter((p) => p.topic === "t/alarm");

test("uplink: an alarm stored while connected goes out at once, alone on the alarm topic, ahead of a backlog and outside the window", () => {
  const { uplink, sockets, append, connect, telemetry, log, advance } = manualRig({ inFlightWindow: 1 });
  for (let i = 0; i < 30; i++) append(i); // a backlog that fills the window
  connect();
  expect(telemetry(sockets[0]).length, "one batch: the window is full").toBe(1);
  const seq = log.append(alarmRecord(85.5));
  uplink.alarmStored(seq);
  const [alarm] = alarms(sockets[0]);
  expect(JSON.parse(alarm.payload)).toMatchObject({ schema: 1, device: "press-7", seq, channel: "max31865.temperature", alarm: "high", state: "raised", value: 85.5, limit: 85 });
  expect(alarm.qos).toBe(1);
  expect(uplink.stats.alarms).toBe(1);
  // Acknowledged: the tail cannot pass it before the backlog, and no batch ever carries it.
  sockets[0].deliver(puback(alarm.packetId));
  expect(uplink.stats.alarmsAcknowledged).toBe(1);
  const acked = new Set<number>();
  for (let i = 0; i < 40; i++) {
    sockets[0].drain(); // the socket takes what was queued behind it
    advance(0);
    for (const p of telemetry(sockets[0])) if (!acked.has(p.packetId)) {
      acked.add(p.packetId);
      sockets[0].deliver(puback(p.packetId));
    }
    advance(0);
  }
  const delivered = telemetry(sockets[0]).flatMap((p) => JSON.parse(p.payload).readings.map((r: { seq: number }) => r.seq));
  expect(delivered, "every reading once, the alarm record in none").toStrictEqual(Array.from({ length: 30 }, (_, i) => i));
  expect(log.tailSeq, "the tail passes the alarm record").toBe(31);
});
test("uplink: an alarm stored while offline goes out after the reconnect, in log order between batches", () => {
  const { sockets, append, connect, telemetry, log, advance } = manualRig();
  append(1);
  append(2);
  log.append(alarmRecord(86)); // seq 2, stored before any connection (e.g. after a power cut)
  append(3);
  connect();
  advance(0);
  const topics = publishes(sockets[0].packets()).filter((p) => p.topic !== "t/status").map((p) => `${p.topic} ${p.topic === "t/alarm" ? JSON.parse(p.payload).seq : JSON.parse(p.payload).readings.map((r: { seq: number }) => r.seq).join(",")}`);
  expect(topics).toStrictEqual(["t/telemetry 0,1", "t/alarm 2", "t/telemetry 3"]);
  const batch = JSON.parse(telemetry(sockets[0])[0].payload);
  expect(batch).toMatchObject({ schema: 1, device: "press-7", first_seq: 0, last_seq: 1, count: 2 });
  expect(batch.first_ts <= batch.last_ts).toBe(true);
});

test("uplink: an unacknowledged alarm is resent with its packet id and DUP after a reconnect", () => {
  const { uplink, sockets, connect, advance, log } = manualRig();
  connect();
  const seq = log.append(alarmRecord(90));
  uplink.alarmStored(seq);
  const first = alarms(sockets[0])[0];
  sockets[0].callbacks.onError();
  advance(20);
  connect(1);
  const again = alarms(sockets[1])[0];
  expect([again.packetId, again.dup, JSON.parse(again.payload).seq]).toStrictEqual([first.packetId, true, seq]);
  expect(uplink.stats.alarms, "counted once").toBe(1);
});
