// The XS harness's own checks: structural equality where the old JSON-text comparison was wrong.

import { test, throws, assert, portableChecks, AssertionError } from "./api";
import { structurallyEqual } from "./structural-equality";

test("checks: structural equality tells apart what JSON text confuses", () => {
  const differ: [unknown, unknown][] = [
    [new Map([["a", 1]]), new Map([["a", 2]])],
    [new Set([1, 2]), new Set([1, 3])],
    [new Map(), {}],
    [{ a: undefined }, {}],
    [[undefined], [null]],
    [NaN, null],
    [0, -0],
    [Uint8Array.of(1, 2), [1, 2]],
    [Uint8Array.of(1, 2), Uint8Array.of(1, 3)],
    [Uint8Array.of(1), Int8Array.of(1)],
    [{ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] }],
    [[1, 2], [1, 2, 3]],
  ];
  for (const [a, b] of differ) {
    assert(!structurallyEqual(a, b), `${String(a)} vs ${String(b)} must differ`);
    assert(!structurallyEqual(b, a), `${String(b)} vs ${String(a)} must differ`);
  }
  const same: [unknown, unknown][] = [
    [NaN, NaN],
    [new Map([["a", new Set([1])]]), new Map([["a", new Set([1])]])],
    [new Set([{ x: 1 }]), new Set([{ x: 1 }])],
    [{ a: undefined, b: [NaN] }, { b: [NaN], a: undefined }],
    [Uint8Array.of(1, 2), Uint8Array.of(1, 2)],
    [new Map([[{ k: 1 }, "v"]]), new Map([[{ k: 1 }, "v"]])],
  ];
  for (const [a, b] of same) assert(structurallyEqual(a, b), `${String(a)} and ${String(b)} must be equal`);
});

test("checks: a failed portable check throws AssertionError with both values", () => {
  const error = throws(() => portableChecks.deepEqual(new Map([["a", 1]]), new Map([["a", 2]]), "maps"), AssertionError);
  assert(/^maps: expected .*2.*, got .*1/.test(error.message), error.message);
  throws(() => portableChecks.equal(NaN, 0), AssertionError);
  throws(() => portableChecks.near(NaN, 0, 1), AssertionError);
  portableChecks.equal(NaN, NaN);
  portableChecks.near(1.05, 1, 0.1);
});
