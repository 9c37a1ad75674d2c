// The OTA portable suites under vitest, their checks done by vitest's expect (as portable.test.ts
// does for the other suites); host-tests/ota-xs.test.ts runs the same suites on XS.
import { expect, test } from "vitest";
import { registry, useChecks } from "./portable/api.ts";
import "./portable/ota-suites.ts";

useChecks({
  equal: (actual, expected, message) => expect(actual, message).toBe(expected),
  deepEqual: (actual, expected, message) => expect(actual, message).toStrictEqual(expected),
  near: (actual, expected, tolerance, message) => expect(Math.abs(actual - expected), `${message ?? ""} ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance),
  ok: (condition, message) => expect(condition, message).toBeTruthy(),
});

for (const { name, body } of registry) test(name, body);
