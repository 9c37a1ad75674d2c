// The portable suites under vitest, their checks done by vitest's expect. host-tests/xs.test.ts runs
// the same suites on XS.
import { expect, test } from "vitest";
import { registry, useChecks } from "./portable/api.ts";
import "./portable/suites.ts";

useChecks({
  equal: (actual, expected, message) => expect(actual, message).toBe(expected),
  deepEqual: (actual, expected, message) => expect(actual, message).toStrictEqual(expected),
  near: (actual, expected, tolerance, message) => expect(Math.abs(actual - expected), `${message ?? ""} ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance),
  ok: (condition, message) => expect(condition, message).toBeTruthy(),
});

for (const { name, body } of registry) test(name, body);
