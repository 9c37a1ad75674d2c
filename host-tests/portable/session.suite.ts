// Reconnect schedule and publish limiter: the pure policy pieces of the MQTT session.

import { test, equal, assert, throws, near, random, deepEqual } from "./api";
import { ReconnectSchedule } from "../../src/session/reconnect-schedule";
import { PublishLimiter } from "../../src/session/publish-limiter";
import { jitterRandom } from "../../src/session/jitter-random";

test("backoff: full jitter under min(cap, base * 2^n), growing while attempts fail", () => {
  const s = new ReconnectSchedule({ baseMs: 1000, capMs: 120_000, minIntervalMs: 0 }, () => 0.999999);
  const delays: number[] = [];
  for (let n = 0; n < 10; n++) delays.push(s.closed(0).delayMs);
  const ceilings = [1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000];
  delays.forEach((d, n) => assert(d < ceilings[n] && d >= ceilings[n] * 0.99, `attempt ${n}: ${d} vs ${ceilings[n]}`));
});

test("backoff: delays are uniform over [0, ceiling)", () => {
  const rand = random(3);
  let sum = 0;
  let max = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const s = new ReconnectSchedule({ minIntervalMs: 0 }, rand);
    for (let k = 0; k < 3; k++) s.closed(0);
    const d = s.closed(0).delayMs; // attempt 3: ceiling 8 s
    sum += d;
    max = Math.max(max, d);
  }
  near(sum / n, 4000, 150, "mean is half the ceiling");
  assert(max < 8000 && max > 7800, `max ${max}`);
});

test("backoff: resets only after the connection stayed up long enough", () => {
  const s = new ReconnectSchedule({ resetAfterMs: 60_000, minIntervalMs: 0, quickDropMs: 0 }, () => 0.5);
  for (let k = 0; k < 5; k++) s.closed(0);
  equal(s.attempt, 5);
  s.connected(1000);
  s.closed(31_000); // up 30 s: not enough
  equal(s.attempt, 6);
  s.connected(100_000);
  const next = s.closed(170_000); // up 70 s
  equal(s.attempt, 1, "reset, then this failure counted");
  assert(next.delayMs < 1000, "back to the base ceiling");
});

test("backoff: at most one connect attempt per second, and a random wait at power-up", () => {
  const s = new ReconnectSchedule({ minIntervalMs: 1000 }, () => 0);
  s.attempting(10_000);
  equal(s.closed(10_200).delayMs, 800, "a refused attempt waits out the rest of the second");
  const t = new ReconnectSchedule({ startupJitterMs: 5000 }, () => 0.42);
  equal(t.atPowerUp().delayMs, 2100);
});

test("backoff: quick drops after CONNACK are taken for a duplicate client id", () => {
  const s = new ReconnectSchedule({ quickDropMs: 5000, quickDropsForKick: 3, kickBackoffMs: 600_000, minIntervalMs: 0 }, () => 0.5);
  let now = 0;
  let last = s.closed(now);
  for (let k = 0; k < 3; k++) {
    s.connected(now);
    now += 200;
    last = s.closed(now);
    now += last.delayMs;
  }
  equal(last.because, "kicked");
  assert(last.delayMs >= 600_000, `${last.delayMs}`);
  assert(s.suspectedDuplicateClientId);
  s.connected(now);
  equal(s.closed(now + 120_000).because, "backoff", "a long connection clears the suspicion");
});

test("backoff: a cap above 65 s is allowed; nonsense is refused", () => {
  const s = new ReconnectSchedule({ baseMs: 1000, capMs: 3_600_000, minIntervalMs: 0 }, () => 0.999999);
  let d = 0;
  for (let k = 0; k < 30; k++) d = s.closed(0).delayMs;
  assert(d > 3_500_000, `${d}`);
  throws(() => new ReconnectSchedule({ baseMs: 0 }), RangeError);
});

test("limiter: at most 100 publishes in any one-second window", () => {
  const l = new PublishLimiter();
  for (let i = 0; i < 100; i++) {
    equal(l.delayFor(100, 500), 0);
    l.record(100, 500);
  }
  equal(l.delayFor(100, 500), 1000, "the 101st waits until the first leaves the window");
  equal(l.delayFor(100, 1501), 0);
});

test("limiter: at most 512 KiB in any one-second window", () => {
  const l = new PublishLimiter();
  const size = 100 * 1024;
  for (let i = 0; i < 5; i++) {
    equal(l.delayFor(size, i * 10), 0);
    l.record(size, i * 10);
  }
  equal(l.delayFor(size, 50), 950, "the sixth 100 KiB waits for the first to age out");
  equal(l.delayFor(10 * 1024, 50), 0, "a small one still fits");
  throws(() => l.delayFor(600 * 1024, 0), RangeError);
  l.reset();
  equal(l.delayFor(size, 60), 0);
});

test("jitter randomness: differs per seed even when the platform repeats itself, and stays uniform", () => {
  const stuck = () => 0.25; // the simulator's unseeded rand(): the same at every start
  const a = jitterRandom("press-7/1/0", stuck);
  const b = jitterRandom("press-7/2/0", stuck);
  const c = jitterRandom("press-8/1/0", stuck);
  const first = [a(), b(), c()];
  assert(new Set(first).size === 3, `three seeds, three first draws: ${first}`);
  const again = jitterRandom("press-7/1/0", stuck);
  equal(again(), first[0], "the same seed repeats (deterministic, for tests)");
  const draw = jitterRandom("press-7/3/1795000000000", stuck);
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 20_000; i++) {
    const x = draw();
    assert(x >= 0 && x < 1, `out of range: ${x}`);
    buckets[Math.floor(x * 10)]++;
  }
  for (const n of buckets) near(n, 2000, 200, `uniform buckets ${buckets}`);
});

test("jitter randomness: a truly random platform value passes through as uniform, whatever the seed", () => {
  const platform = random(11);
  const draw = jitterRandom("", platform);
  let sum = 0;
  for (let i = 0; i < 20_000; i++) sum += draw();
  near(sum / 20_000, 0.5, 0.01);
  const delays = new Set<number>();
  for (let boot = 1; boot <= 50; boot++) {
    const s = new ReconnectSchedule({ minIntervalMs: 0, startupJitterMs: 5000 }, jitterRandom(`press-7/${boot}/0`, () => 0));
    delays.add(s.atPowerUp().delayMs);
  }
  assert(delays.size > 45, `50 boots of one device draw different start-up delays: ${delays.size} distinct`);
});

test("limiter: limits are checked; a publish as large as the byte window fits on its own", () => {
  const limits = { messagesPerWindow: 1, bytesPerWindow: 10, windowMs: 1 };
  for (const bad of [{ messagesPerWindow: 0 }, { bytesPerWindow: 0 }, { windowMs: 0 }, { messagesPerWindow: NaN }])
    throws(() => new PublishLimiter({ ...limits, ...bad }), RangeError, /invalid publish limits/);
  const l = new PublishLimiter(limits); // the smallest valid limits
  equal(l.delayFor(10, 0), 0, "exactly the byte window");
  throws(() => l.delayFor(11, 0), RangeError, /a 11-byte publish exceeds the 10-byte window/);
});

test("limiter: entries leave the window exactly windowMs after they were recorded, their bytes with them", () => {
  const l = new PublishLimiter({ messagesPerWindow: 3, bytesPerWindow: 100, windowMs: 1000 });
  l.record(40, 0);
  l.record(30, 100);
  l.record(20, 200);
  equal(l.delayFor(10, 999), 1, "three publishes in the window until 1000");
  equal(l.delayFor(10, 1000), 0, "the first left at 1000");
  equal(l.delayFor(50, 1000), 0, "50 bytes fit beside the 50 left");
  equal(l.delayFor(51, 1000), 100, "51 wait for the 30 recorded at 100");
  equal(l.delayFor(80, 1000), 100, "80 too");
  equal(l.delayFor(81, 1000), 200, "81 wait for the 20 recorded at 200 as well");
  l.record(50, 1000);
  equal(l.delayFor(1, 1100), 0, "at 1100 the one from 100 has left");
  equal(l.delayFor(31, 1100), 100, "70 bytes in the window: 31 more wait for the one from 200");
});

test("limiter: reset empties the window, and what is recorded after it ages out as usual", () => {
  const l = new PublishLimiter({ messagesPerWindow: 10, bytesPerWindow: 100, windowMs: 1000 });
  l.record(90, 0);
  l.reset();
  equal(l.delayFor(100, 0), 0, "an empty window after reset");
  l.record(60, 0);
  l.record(30, 500);
  equal(l.delayFor(70, 1000), 0, "the 60 left at 1000: 30 + 70 fit");
  equal(l.delayFor(80, 1000), 500, "30 + 80 do not: wait for the one from 500");
});

test("backoff: base may equal cap; the reason is said; kicks wait kickBackoffMs plus up to as much again", () => {
  new ReconnectSchedule({ baseMs: 500, capMs: 500 });
  throws(() => new ReconnectSchedule({ baseMs: 500, capMs: 499 }), RangeError, /0 < base <= cap/);
  const s = new ReconnectSchedule({ startupJitterMs: 1000, quickDropMs: 100, quickDropsForKick: 2, kickBackoffMs: 1000, minIntervalMs: 0, resetAfterMs: 500 }, () => 0.5);
  deepEqual(s.atPowerUp(), { delayMs: 500, because: "startup" });
  deepEqual(s.closed(0), { delayMs: 500, because: "backoff" }, "never connected: no quick drop");
  equal(s.suspectedDuplicateClientId, false);
  s.connected(1000);
  s.closed(1099); // up 99 ms: a quick drop
  s.connected(2000);
  s.closed(2100); // up exactly quickDropMs: not quick, the count starts again
  equal(s.suspectedDuplicateClientId, false);
  s.connected(3000);
  s.closed(3050);
  s.connected(4000);
  deepEqual(s.closed(4050), { delayMs: 1500, because: "kicked" }, "two quick drops in a row");
});

test("backoff: a connection up exactly resetAfterMs resets the attempts; one a moment shorter does not", () => {
  const s = new ReconnectSchedule({ baseMs: 100, capMs: 100_000, resetAfterMs: 500, minIntervalMs: 0, quickDropMs: 0 }, () => 0.999);
  for (let i = 0; i < 5; i++) s.closed(0);
  equal(s.attempt, 5);
  s.connected(1000);
  s.closed(1499);
  equal(s.attempt, 6, "up 499 ms");
  s.connected(2000);
  equal(s.closed(2500).delayMs, 99, "up 500 ms: back to the base");
  equal(s.attempt, 1);
});
