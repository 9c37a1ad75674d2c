// The host clock's accelerated mode (docs/soak.md): time jumps to the next timer only while the
// network is idle, runs at wall speed while it is busy, and never jumps past the limit. And the
// network's idleness as the soak sees it: MQTT requests awaiting their replies.

import { test, expect, onTestFinished } from "vitest";
import { FirmwareClock, type ScheduledTimer } from "../host/moddable/clock.ts";
import { NetworkActivity } from "../host/moddable/network-activity.ts";
import { until } from "./support/until.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1);
const CLOSE = 50;
const near = (times: number[], expected: number[]) => {
  expect(times.length).toBe(expected.length);
  times.forEach((t, i) => expect(Math.abs(t - expected[i]), `${t} vs ${expected[i]}`).toBeLessThan(CLOSE));
};
const reached = (limits: number[], limit: number) => limits.some((l) => l >= limit && l < limit + CLOSE);

function acceleratedClock(idle: () => boolean) {
  const clock = new FirmwareClock();
  const limits: number[] = [];
  clock.accelerate({ startMs: START, limitMs: START, idle, onLimit: (at) => limits.push(at) });
  onTestFinished(() => clock.wall());
  const fired: { name: string; at: number }[] = [];
  // A callback's time is its deadline plus the real time it has been running, and a deadline counts
  // from when its timer was armed, a little after START: times are checked to within CLOSE ms.
  const timer = (name: string, afterMs: number, repeat?: number): ScheduledTimer => {
    const t: ScheduledTimer = { deadline: 0, repeat, fire: () => void fired.push({ name, at: clock.now() }) };
    clock.arm(t, afterMs);
    return t;
  };
  return { clock, limits, fired, timer };
}

test("accelerated clock: idle hours pass at once, every timer at its own deadline and in order, then it stands at the limit", async () => {
  const { clock, limits, fired, timer } = acceleratedClock(() => true);
  timer("two hours", 2 * HOUR);
  timer("one hour", HOUR);
  timer("every ten minutes", 600_000, 600_000);
  const started = Date.now();
  // A timer's deadline counts from when it was armed, a little after START: a second of margin.
  const limit = START + 3 * HOUR + 1000;
  clock.setLimit(limit);
  await until(() => reached(limits, limit), "the clock at its limit", 5000);
  expect(Date.now() - started, "three simulated hours in well under a real second").toBeLessThan(1000);
  const at = (name: string) => fired.filter((f) => f.name === name).map((f) => f.at);
  near(at("one hour"), [START + HOUR]);
  near(at("two hours"), [START + 2 * HOUR]);
  near(at("every ten minutes"), Array.from({ length: 18 }, (_, i) => START + (i + 1) * 600_000));
  const order = fired.map((f) => f.at);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  // Standing at the limit: nothing more fires until it moves.
  await new Promise((r) => setTimeout(r, 50));
  expect(clock.now()).toBeLessThan(limit + 100);
  expect(fired.length).toBe(20);
});

test("accelerated clock: while the network is busy time runs at wall speed, and jumps again once it is idle", async () => {
  let idle = false;
  const { clock, fired, timer } = acceleratedClock(() => idle);
  timer("one hour", HOUR);
  clock.setLimit(START + 2 * HOUR);
  await new Promise((r) => setTimeout(r, 100));
  expect(fired, "no jump while a reply is awaited").toEqual([]);
  const now = clock.now();
  expect(now - START).toBeGreaterThanOrEqual(90);
  expect(now - START).toBeLessThan(2000);
  idle = true;
  await until(() => fired.length === 1, "the timer once the network is idle", 5000);
  near([fired[0].at], [START + HOUR]);
});

test("accelerated clock: a timer past the limit waits for the limit to move", async () => {
  const { clock, limits, fired, timer } = acceleratedClock(() => true);
  timer("two hours", 2 * HOUR);
  clock.setLimit(START + HOUR);
  await until(() => limits.length > 0, "the limit reported", 5000);
  near(limits, [START + HOUR]);
  expect(fired).toEqual([]);
  clock.setLimit(START + 3 * HOUR);
  await until(() => fired.length === 1, "the timer after the limit moved", 5000);
  near([fired[0].at], [START + 2 * HOUR]);
});

test("network activity: busy while connecting, sending, or while a CONNECT, QoS 1 PUBLISH or PINGREQ has no reply", () => {
  const net = new NetworkActivity();
  const socket = {};
  expect(net.idle()).toBe(true);
  net.opening(socket);
  expect(net.idle(), "connecting").toBe(false);
  net.connected(socket);
  expect(net.idle()).toBe(true);
  net.wrote(socket, Uint8Array.of(0x10, 2, 0, 0)); // CONNECT
  net.sent(socket);
  expect(net.idle(), "CONNECT without CONNACK").toBe(false);
  net.received(socket, Uint8Array.of(0x20, 2, 0, 0)); // CONNACK
  expect(net.idle()).toBe(true);
  // A QoS 1 PUBLISH of 200 bytes written in two parts, then its PUBACK in two reads.
  const publish = new Uint8Array(203);
  publish.set([0x32, 0xc8, 0x01]);
  net.wrote(socket, publish.subarray(0, 100));
  expect(net.idle(), "bytes not yet taken by the OS").toBe(false);
  net.sent(socket);
  net.wrote(socket, publish.subarray(100));
  net.sent(socket);
  expect(net.idle(), "PUBLISH without PUBACK").toBe(false);
  net.received(socket, Uint8Array.of(0x40));
  expect(net.idle(), "a PUBACK's first byte").toBe(false);
  net.received(socket, Uint8Array.of(2, 0, 7));
  expect(net.idle()).toBe(true);
  // A QoS 0 PUBLISH (a heartbeat) gets no reply and keeps nothing busy.
  net.wrote(socket, Uint8Array.of(0x31, 3, 0, 1, 0x61));
  net.sent(socket);
  expect(net.idle()).toBe(true);
  net.wrote(socket, Uint8Array.of(0xc0, 0)); // PINGREQ
  net.sent(socket);
  expect(net.idle()).toBe(false);
  net.closed(socket);
  expect(net.idle(), "a closed socket awaits nothing").toBe(true);
});

test("accelerated clock: a callback stalled in real time does not give the timers that catch up after it one and the same time", async () => {
  let idle = false;
  const { clock, fired, timer } = acceleratedClock(() => idle);
  clock.setLimit(START + HOUR);
  timer("every 100 ms", 100, 100);
  const stall: ScheduledTimer = {
    deadline: 0,
    repeat: undefined,
    fire: () => {
      const until = Date.now() + 350; // the process descheduled, or a slow callback
      while (Date.now() < until);
      clock.now(); // the callback reads the time once more before it returns
    },
  };
  clock.arm(stall, 50);
  await until(() => fired.length >= 4, "four ticks", 5000);
  idle = true;
  const ticks = fired.slice(0, 4).map((f) => f.at - START);
  expect(new Set(ticks.map(Math.floor)).size, `tick times ${ticks.join(", ")}`).toBe(4);
  near(ticks, [100, 200, 300, 400]);
});

test("accelerated clock: a spin that starts late in a long callback still sees its milliseconds pass", async () => {
  const { clock, timer, fired } = acceleratedClock(() => true);
  let spun = -1;
  const long: ScheduledTimer = {
    deadline: 0,
    repeat: undefined,
    fire: () => {
      const busy = Date.now() + 30; // a boot that takes longer than the callback's wall-speed time
      while (Date.now() < busy);
      // a driver's 1 ms wait (as the SHT3x after BREAK), on the firmware's clock; given up after 3 s
      // of real time so that a frozen clock fails the test instead of hanging it
      const from = clock.now();
      const real = Date.now();
      while (clock.now() < from + 2 && Date.now() - real < 3000);
      spun = clock.now() >= from + 2 ? Date.now() - real : Infinity;
    },
  };
  clock.arm(long, 10);
  timer("after", 1000);
  clock.setLimit(START + HOUR);
  await until(() => fired.length === 1, "the timer after the long callback", 10_000);
  expect(spun, "the spin saw 2 ms pass").toBeLessThan(1000);
});
