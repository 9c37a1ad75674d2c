// The portable suites' API, with no platform imports: the same suites run under vitest on Node
// (host-tests/portable.test.ts hands the checks to vitest's expect) and on the real XS engine
// (host-tests/xs/harness.ts), where the checks below, with structural equality, do the work.

import { structurallyEqual } from "./structural-equality";

export type TestBody = () => void | Promise<void>;

export const registry: { name: string; body: TestBody }[] = [];

export function test(name: string, body: TestBody): void {
  registry.push({ name, body });
}

export class AssertionError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "AssertionError";
  constructor(message: string) {
    super(message);
  }
}

function show(value: unknown): string {
  try {
    if (typeof value === "string") return JSON.stringify(value);
    if (typeof value === "number" || value === undefined || typeof value === "bigint") return Object.is(value, -0) ? "-0" : String(value);
    return JSON.stringify(value, (_k, v) =>
      v instanceof Uint8Array ? `Uint8Array[${Array.from(v)}]` : v instanceof Map ? { Map: [...v] } : v instanceof Set ? { Set: [...v] } : v === undefined ? "(undefined)" : v,
    ) ?? String(value);
  } catch {
    return String(value);
  }
}

/** What a failed check does: the XS harness throws AssertionError, vitest's expect reports a diff. */
export interface Checks {
  equal(actual: unknown, expected: unknown, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  near(actual: number, expected: number, tolerance: number, message?: string): void;
  ok(condition: unknown, message: string): void;
}

const prefix = (message?: string) => (message ? message + ": " : "");

export const portableChecks: Checks = {
  equal(actual, expected, message) {
    if (!Object.is(actual, expected)) throw new AssertionError(`${prefix(message)}expected ${show(expected)}, got ${show(actual)}`);
  },
  deepEqual(actual, expected, message) {
    if (!structurallyEqual(actual, expected)) throw new AssertionError(`${prefix(message)}expected ${show(expected)}, got ${show(actual)}`);
  },
  near(actual, expected, tolerance, message) {
    if (!(Math.abs(actual - expected) <= tolerance)) throw new AssertionError(`${prefix(message)}expected ${expected} ± ${tolerance}, got ${actual}`);
  },
  ok(condition, message) {
    if (!condition) throw new AssertionError(message);
  },
};

let checks: Checks = portableChecks;

/** The Node runner passes checks built on vitest's expect. */
export function useChecks(replacement: Checks): void {
  checks = replacement;
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  checks.ok(condition, message);
  if (!condition) throw new AssertionError(message);
}

export function equal<T>(actual: T, expected: T, message?: string): void {
  checks.equal(actual, expected, message);
}

export function near(actual: number, expected: number, tolerance: number, message?: string): void {
  checks.near(actual, expected, tolerance, message);
}

/** Same structure (vitest's toStrictEqual): Maps, Sets, typed arrays, undefined and NaN compare as values. */
export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  checks.deepEqual(actual, expected, message);
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** Runs fn and returns what it threw; fails when it does not throw or throws something else. */
export function throws<E extends Error>(fn: () => unknown, type: new (...args: any[]) => E, pattern?: RegExp): E {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof type)) throw new AssertionError(`expected ${type.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : show(error)}`);
    if (pattern && !pattern.test(error.message)) throw new AssertionError(`expected message matching ${pattern}, got "${error.message}"`);
    return error;
  }
  throw new AssertionError(`expected ${type.name}, nothing was thrown`);
}

/** Deterministic PRNG (mulberry32) so random cases repeat on every engine. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
