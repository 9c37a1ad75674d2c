// Runs in every test file: a file whose tests leave firmware timers armed fails instead of keeping
// its process alive (timers are released in onTestFinished hooks or finally blocks).
import { afterAll, expect } from "vitest";
import { firmwareClock } from "../../host/moddable/clock.ts";

afterAll(async () => {
  if (!firmwareClock.isManual) await new Promise((r) => setTimeout(r, 20)); // deferred closes (0 ms timers) run first
  const left = firmwareClock.pending;
  firmwareClock.wall(); // drops them either way
  expect(left, "firmware timers still armed after the file's tests").toBe(0);
});
