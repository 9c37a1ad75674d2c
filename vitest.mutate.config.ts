// The fast tests that exercise the mutated modules (stryker.config.mjs): for the pure modules the
// portable suites and the MQTT client; for the uplink (IIOT_MUTATE=uplink) its own tests. XS and
// real-broker tests are left to npm test.
import { defineConfig, mergeConfig } from "vitest/config";
import base from "./vitest.config.ts";

const uplink = process.env.IIOT_MUTATE === "uplink";

export default mergeConfig(base, defineConfig({
  test: {
    include: uplink ? ["host-tests/uplink.test.ts"] : ["host-tests/portable.test.ts", "host-tests/mqtt-client.test.ts"],
  },
}));
