// The uplink's delivery logic under mutation, with host-tests/uplink.test.ts (see stryker.config.mjs).
import base from "./stryker.config.mjs";

process.env.IIOT_MUTATE = "uplink"; // read by vitest.mutate.config.ts in the test runner processes

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: ["src/uplink.ts"],
  htmlReporter: { fileName: "reports/mutation/uplink.html" },
  jsonReporter: { fileName: "reports/mutation/uplink.json" },
  tempDirName: ".stryker-tmp-uplink",
};
