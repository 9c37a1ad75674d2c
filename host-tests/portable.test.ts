// The portable suites under node:test. host-tests/xs.test.ts runs the same suites on XS.
import { test } from "node:test";
import { registry } from "./portable/api.ts";
import "./portable/suites.ts";

for (const { name, body } of registry) test(name, body);
