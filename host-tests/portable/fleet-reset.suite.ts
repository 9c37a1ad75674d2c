// The reset reason the online status carries: every ESP-IDF code, requested restarts against XS
// aborts (both are esp_restart), and platforms with no reason at all.

import { test, deepEqual, equal, assert } from "./api";
import { abortNote, describeReset, parseNote, restartNote, MAX_NOTE_LENGTH } from "../../src/fleet/reset-reason";

test("reset reason: ESP-IDF codes map to the status field", () => {
  deepEqual(describeReset(1), { reset: "power-on", reset_code: 1 });
  deepEqual(describeReset(2), { reset: "external", reset_code: 2, reset_detail: "reset pin" });
  deepEqual(describeReset(4), { reset: "panic", reset_code: 4 });
  deepEqual(describeReset(5), { reset: "watchdog", reset_code: 5, reset_detail: "interrupt watchdog" });
  deepEqual(describeReset(6), { reset: "watchdog", reset_code: 6, reset_detail: "task watchdog" });
  deepEqual(describeReset(7), { reset: "watchdog", reset_code: 7, reset_detail: "other watchdog" });
  deepEqual(describeReset(8), { reset: "deep-sleep", reset_code: 8 });
  deepEqual(describeReset(9), { reset: "brown-out", reset_code: 9 });
  deepEqual(describeReset(0), { reset: "unknown", reset_code: 0 });
  deepEqual(describeReset(99), { reset: "unknown", reset_code: 99 });
});

test("reset reason: a software reset is a requested restart only with its note, else a crash", () => {
  deepEqual(describeReset(3, restartNote("command reboot-17")), { reset: "software", reset_code: 3, reset_detail: "command reboot-17" });
  deepEqual(describeReset(3), { reset: "crash", reset_code: 3, reset_detail: "xs abort" });
  deepEqual(describeReset(3, abortNote("memory full")), { reset: "crash", reset_code: 3, reset_detail: "memory full" });
  deepEqual(describeReset(3, abortNote("unhandled exception", "x is undefined")), { reset: "crash", reset_code: 3, reset_detail: "unhandled exception: x is undefined" });
  // A note from before a power cut does not rename the power-on.
  deepEqual(describeReset(1, restartNote("command r")), { reset: "power-on", reset_code: 1 });
  deepEqual(describeReset(3, 42), { reset: "crash", reset_code: 3, reset_detail: "xs abort" }, "a note of the wrong type is ignored");
});

test("reset reason: without a platform reason the note still tells", () => {
  deepEqual(describeReset(undefined), { reset: "unknown", reset_code: -1 });
  deepEqual(describeReset(undefined, abortNote("stack overflow")), { reset: "crash", reset_code: -1, reset_detail: "stack overflow" });
  deepEqual(describeReset(undefined, restartNote("new identity")), { reset: "software", reset_code: -1, reset_detail: "new identity" });
});

test("reset reason: notes are bounded and printable", () => {
  const long = abortNote("unhandled exception", "\u0000\u00ff" + "x".repeat(500));
  assert(long.length <= MAX_NOTE_LENGTH, `note of ${long.length}`);
  equal(parseNote(long)?.why.startsWith("unhandled exception: ??x"), true);
  equal(parseNote("garbage"), undefined);
  equal(parseNote(undefined), undefined);
});
