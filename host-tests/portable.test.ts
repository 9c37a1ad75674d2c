// The portable suites under vitest, their checks done by vitest's expect. host-tests/xs.test.ts runs
// the same suites on XS.
import { test } from "vitest";
import { registry, useChecks } from "./portable/api.ts";
import { VITEST_CHECKS } from "./support/vitest-checks.ts";
import "./portable/suites.ts";

useChecks(VITEST_CHECKS);

for (const { name, body } of registry) test(name, body);
