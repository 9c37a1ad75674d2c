// The OTA portable suites on the real XS engine, one vitest result per XS result: exactly the cases
// they register on Node.
import { test, expect } from "vitest";
import { runOnXs } from "./xs/harness.ts";
import { registry } from "./portable/api.ts";
import "./portable/ota-suites.ts";

const expected = registry.map((t) => t.name);
const run = await runOnXs(["host-tests/portable/ota-suites.ts"]);

test("xs: ran exactly the cases the OTA suites register", () => {
  expect(expected.length).toBeGreaterThan(0);
  expect(run.results.map((r) => r.name)).toStrictEqual(expected);
});

for (const result of run.results) {
  test(`xs: ${result.name}`, () => {
    if (!result.ok) expect.fail(result.error);
  });
}
