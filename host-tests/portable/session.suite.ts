// Reconnect schedule and publish limiter: the pure policy pieces of the MQTT session.

import { test, equal, assert, throws, near, random } from "./api";
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
