// A test registry with no platform imports, so the same suites run under node:test and on the real
// XS engine (host-tests/xs/harness.ts). Suites call test(); a runner collects and runs them.

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
    return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function equal<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
}

export function near(actual: number, expected: number, tolerance: number, message?: string): void {
  if (!(Math.abs(actual - expected) <= tolerance))
    throw new AssertionError(`${message ? message + ": " : ""}expected ${expected} ± ${tolerance}, got ${actual}`);
}

export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  const a = show(actual);
  const e = show(expected);
  if (a !== e) throw new AssertionError(`${message ? message + ": " : ""}expected ${e}, got ${a}`);
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
