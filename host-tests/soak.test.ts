// A short soak (tools/soak/fleet.ts, docs/soak.md): two devices, each the unchanged firmware in its
// own process on the accelerated clock, a quarter of a simulated day against Mosquitto (mutual TLS, per-device
// ACL) and the rules runner into PostgreSQL, through an outage, a broker restart, a power cut per
// device, an overheat and a sensor fault. Every record a device committed to flash must be stored
// once, value by value; every alarm raised must be stored. The second test breaks delivery on
// purpose and the same checks must catch it.

import { test, expect } from "vitest";
import { runSoak, type SoakResult } from "../tools/soak/fleet.ts";

const total = (r: SoakResult, k: keyof SoakResult["accounts"][number]) => r.accounts.reduce((n, a) => n + (a[k] as number), 0);
const examples = (r: SoakResult) => r.accounts.flatMap((a) => a.examples).join("\n");

test("soak: two devices, six simulated hours of outage, broker restart and power cuts: nothing lost, nothing twice, every alarm stored", async () => {
  const r = await runSoak({ devices: 2, days: 0.25, outagesMs: [60 * 60_000], brokerRestarts: 1, powerCutsPerDevice: 1 });
  expect(r.simulatedDays).toBeCloseTo(0.25, 3);
  expect(r.outages).toBe(1);
  expect(r.brokerRestarts).toBe(1);
  expect(r.powerCuts).toBe(2);
  // About 21,600 readings a device in six hours (one a second).
  expect(total(r, "readingsProduced")).toBeGreaterThan(2 * 20_000);
  expect(total(r, "lost"), examples(r)).toBe(0);
  expect(total(r, "duplicatesStored"), examples(r)).toBe(0);
  expect(total(r, "mismatched"), examples(r)).toBe(0);
  expect(total(r, "unexpected"), examples(r)).toBe(0);
  expect(total(r, "readingsStored")).toBe(total(r, "readingsProduced") - total(r, "droppedNotStored"));
  expect(total(r, "alarmsRaised"), "overheats and faults raised alarms").toBeGreaterThan(0);
  expect(total(r, "alarmsRaisedStored")).toBe(total(r, "alarmsRaised"));
  expect(total(r, "alarmsStored")).toBe(total(r, "alarmsProduced"));
  // A one-hour outage fits in the log: nothing dropped, and the firmware's count agrees.
  expect(r.droppedTotal).toBe(0);
  expect(total(r, "droppedInRanges")).toBe(r.droppedTotal);
  expect(r.stillInFlash).toBe(0);
  expect(r.deadLetters).toBe(0);
}, 600_000);

test("soak: a batch acknowledged but not stored, and a reading stored twice, are caught", async () => {
  const dropped = await runSoak({ devices: 1, days: 0.01, outagesMs: [], brokerRestarts: 0, powerCutsPerDevice: 0, sabotage: "drop" });
  expect(total(dropped, "lost"), "a batch the rules runner acknowledged and never stored").toBeGreaterThan(0);
  const twice = await runSoak({ devices: 1, days: 0.01, outagesMs: [], brokerRestarts: 0, powerCutsPerDevice: 0, sabotage: "twice" });
  expect(total(twice, "duplicatesStored")).toBe(1);
  expect(total(twice, "unexpected")).toBe(1);
  expect(total(twice, "lost")).toBe(0);
}, 300_000);
