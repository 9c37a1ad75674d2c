// The fast tests that exercise the mutated modules (stryker.config.mjs): for the pure modules the
// portable suites and the MQTT client; for the uplink (IIOT_MUTATE=uplink) its own tests. XS and
// real-broker tests are left to npm test.
import { mergeConfig } from "vitest/config";
import base from "./vitest.config.ts";

const uplink = process.env.IIOT_MUTATE === "uplink";
const config = mergeConfig(base, {});
// Replaced, not merged: mergeConfig would append to the base's list of every test file.
config.test!.include = uplink ? ["host-tests/uplink.test.ts"] : ["host-tests/portable.test.ts", "host-tests/ota-portable.test.ts", "host-tests/mqtt-client.test.ts"];

export default config;
