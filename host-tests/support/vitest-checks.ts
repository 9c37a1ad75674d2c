// The portable suites' checks (host-tests/portable/api.ts) done by vitest's expect, for every runner
// of portable suites on Node; on XS the suites' own checks throw AssertionError instead.
import { expect } from "vitest";
import type { Checks } from "../portable/api.ts";

export const VITEST_CHECKS: Checks = {
  equal: (actual, expected, message) => expect(actual, message).toBe(expected),
  deepEqual: (actual, expected, message) => expect(actual, message).toStrictEqual(expected),
  near: (actual, expected, tolerance, message) => expect(Math.abs(actual - expected), `${message ?? ""} ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance),
  ok: (condition, message) => expect(condition, message).toBeTruthy(),
};
