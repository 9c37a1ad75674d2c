// The fleet's portable suites on Node (checks by vitest's expect) and on the real XS engine (one
// vitest result per XS result, exactly the cases registered on Node).
import { expect, test } from "vitest";
import { registry, useChecks } from "./portable/api.ts";
import { VITEST_CHECKS } from "./support/vitest-checks.ts";
import { runOnXs } from "./xs/harness.ts";
import "./portable/fleet-suites.ts";

useChecks(VITEST_CHECKS);

const cases = [...registry];
for (const { name, body } of cases) test(`node: ${name}`, body);

const run = await runOnXs(["host-tests/portable/fleet-suites.ts"]);

test("xs: ran exactly the fleet cases registered on Node", () => {
  expect(run.results.map((r) => r.name)).toStrictEqual(cases.map((c) => c.name));
});

for (const result of run.results) {
  test(`xs: ${result.name}`, () => {
    if (!result.ok) expect.fail(result.error);
  });
}
