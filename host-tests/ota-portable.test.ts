// The OTA portable suites under vitest, their checks done by vitest's expect (as portable.test.ts
// does for the other suites); host-tests/ota-xs.test.ts runs the same suites on XS.
import { test } from "vitest";
import { registry, useChecks } from "./portable/api.ts";
import { VITEST_CHECKS } from "./support/vitest-checks.ts";
import "./portable/ota-suites.ts";

useChecks(VITEST_CHECKS);

for (const { name, body } of registry) test(name, body);
