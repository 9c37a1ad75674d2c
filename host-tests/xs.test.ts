// The portable suites on the real XS engine, one vitest result per XS result, and proof that the
// harness fails code that needs Node. XS must run exactly the cases the suites register on Node.

import { test, expect } from "vitest";
import { runOnXs, bundleSuites } from "./xs/harness.ts";
import { registry } from "./portable/api.ts";
import "./portable/suites.ts";

const expected = registry.map((t) => t.name);
const run = await runOnXs(["host-tests/portable/suites.ts"]);

test("xs: ran exactly the cases the portable suites register", () => {
  expect(expected.length).toBeGreaterThan(0);
  expect(run.results.map((r) => r.name)).toStrictEqual(expected);
});

for (const result of run.results) {
  test(`xs: ${result.name}`, () => {
    if (!result.ok) expect.fail(result.error);
  });
}

test("xs harness: a Node global fails on XS while plain code passes", async () => {
  const { results } = await runOnXs(["host-tests/xs/fixtures/node-only.suite.ts"]);
  const byName = new Map(results.map((r) => [r.name, r]));
  expect(byName.get("fixture: plain arithmetic")?.ok).toBe(true);
  const nodeOnly = byName.get("fixture: Node's Buffer");
  expect(nodeOnly?.ok).toBe(false);
  expect(nodeOnly!.error!).toMatch(/ReferenceError|Buffer/);
});

test("xs harness: a Node module cannot be bundled for XS", async () => {
  await expect(bundleSuites(["host/moddable/resource.ts"])).rejects.toThrow(/node:fs|Could not resolve/);
});
