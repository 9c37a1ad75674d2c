// The portable suites on the real XS engine, one node:test result per XS result, and proof that
// the harness fails code that needs Node.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runOnXs, bundleSuites } from "./xs/harness.ts";

const run = await runOnXs(["host-tests/portable/suites.ts"]);
assert.ok(run.results.length >= 20, `XS ran ${run.results.length} tests`);
for (const result of run.results) {
  test(`xs: ${result.name}`, () => {
    if (!result.ok) assert.fail(result.error);
  });
}

test("xs harness: a Node global fails on XS while plain code passes", async () => {
  const { results } = await runOnXs(["host-tests/xs/fixtures/node-only.suite.ts"]);
  const byName = new Map(results.map((r) => [r.name, r]));
  assert.equal(byName.get("fixture: plain arithmetic")?.ok, true);
  const nodeOnly = byName.get("fixture: Node's Buffer");
  assert.equal(nodeOnly?.ok, false);
  assert.match(nodeOnly!.error!, /ReferenceError|Buffer/);
});

test("xs harness: a Node module cannot be bundled for XS", async () => {
  await assert.rejects(bundleSuites(["host/moddable/resource.ts"]), /node:fs|Could not resolve/);
});
