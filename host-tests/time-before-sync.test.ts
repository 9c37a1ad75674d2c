// The node before its clock is set, through startNode itself: samples are stored with the boot's own
// milliseconds, never a 1970 time, and switch to UTC once the clock is set; the anchor that converts
// them is kept for the next boot; a boot that ends without a clock leaves what estimates its times.

import { test, expect, onTestFinished, vi } from "vitest";
import { firmwareClock } from "../host/moddable/clock.ts";
import { startNode, type SensorSource } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { FlashLog } from "../src/log/flash-log.ts";
import { decodeReading } from "../src/telemetry/reading.ts";
import { TimeBase } from "../src/pipeline/time-base.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";

const UTC = Date.UTC(2026, 10, 24, 12, 0, 0);
const config = parseConfig({ thing: "press-7", i2c_sda: 21, i2c_scl: 22, sensors: "max31865", startup_jitter_ms: 0 });
const rtd: SensorSource = { name: "max31865", quantities: ["temperature"], sample: () => ({ quality: "good", values: { temperature: 60 } }), close() {} };

function boot(bootId: number, flash: SimNorFlash, anchors: { text?: string }) {
  return startNode({
    config, boot: bootId, sensors: [rtd], flash, writeReserve: 0, log: () => {},
    // No broker is reachable: the records stay in flash, where the test reads them.
    openSocket: () => {
      throw new Error("offline");
    },
    resolve: (_host, done) => done("localhost", "127.0.0.1"),
    ticks: () => firmwareClock.now() % 2 ** 32,
    timeAnchors: { load: () => anchors.text, save: (text) => void (anchors.text = text) },
  });
}

test("before the clock is set samples carry boot time, then UTC; the kept anchor converts the early ones exactly after a restart", async () => {
  firmwareClock.manual(1_000);
  // 1970 (the clock was never set) until SNTP answers at setAt; then UTC, running with the firmware clock.
  let setAt = Infinity;
  vi.spyOn(Date, "now").mockImplementation(() => (firmwareClock.now() < setAt ? 5_000 : UTC + firmwareClock.now() - setAt));
  onTestFinished(() => {
    vi.restoreAllMocks();
    firmwareClock.wall();
  });
  const flash = new SimNorFlash({ byteLength: 16 * 4096 });
  const anchors: { text?: string } = {};
  const node = boot(1, flash, anchors);
  firmwareClock.advance(3_000);
  setAt = firmwareClock.now(); // SNTP answered
  firmwareClock.advance(3_000);
  await node.stop(0);

  const records = new FlashLog(flash).read(0, 100).map((r) => decodeReading(r.seq, r.payload));
  const early = records.filter((r) => r.sinceBoot);
  const late = records.filter((r) => !r.sinceBoot);
  expect(early.length, "samples before the clock was set").toBeGreaterThanOrEqual(2);
  expect(late.length).toBeGreaterThanOrEqual(2);
  expect(records.every((r) => r.ts === 0 || r.ts > Date.UTC(2025, 0, 1)), "no 1970 time stored").toBe(true);
  expect(early.every((r) => r.sinceBoot!.boot === 1)).toBe(true);
  // After a restart the kept anchor gives each early sample the UTC it was taken at.
  const later = new TimeBase(2, anchors.text);
  for (const r of early) {
    const resolved = later.resolve(r.sinceBoot!)!;
    expect(resolved.estimated).toBe(false);
    expect(resolved.ts).toBe(UTC - (setAt - 1_000 - r.sinceBoot!.ms));
  }
  expect(late[0].ts).toBeGreaterThanOrEqual(UTC);
});

test("a boot that ends without a clock leaves its end for the next boot, which estimates its times once its own clock is set", async () => {
  firmwareClock.manual(1_000);
  let wall = 5_000;
  vi.spyOn(Date, "now").mockImplementation(() => wall);
  onTestFinished(() => {
    vi.restoreAllMocks();
    firmwareClock.wall();
  });
  const flash = new SimNorFlash({ byteLength: 16 * 4096 });
  const anchors: { text?: string } = {};
  const first = boot(1, flash, anchors);
  firmwareClock.advance(4_000);
  await first.stop(0); // power off, the clock never set
  const last = new FlashLog(flash).read(0, 100).map((r) => decodeReading(r.seq, r.payload)).at(-1)!;
  expect(anchors.text ?? "", "nothing to keep yet").toBe("");

  const second = boot(2, flash, anchors);
  expect(anchors.text, "boot 2 noted where boot 1 ended").toBe(`1~${last.sinceBoot!.ms}`);
  wall = UTC;
  firmwareClock.advance(2_000);
  await second.stop(0);
  const base = new TimeBase(3, anchors.text);
  const resolved = base.resolve(last.sinceBoot!)!;
  expect(resolved.estimated).toBe(true);
  expect(resolved.ts, "just before boot 2 began").toBeLessThan(UTC);
  expect(resolved.ts).toBeGreaterThan(UTC - 10_000);
});
