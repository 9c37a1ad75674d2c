// npm run mutate: StrykerJS over the pure critical modules (this file) and then the uplink's
// delivery logic (stryker.uplink.config.mjs), each with only the fast tests that exercise it
// (vitest.mutate.config.ts). Reports: reports/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts" },
  coverageAnalysis: "perTest",
  mutate: ["src/log/**/*.ts", "src/mqtt/codec.ts", "src/telemetry/**/*.ts", "src/session/**/*.ts", "src/net/broker-resolver.ts", "src/net/clock-sync.ts", "src/ota/jobs-client.ts", "src/ota/stream-source.ts", "src/ota/update-service.ts"],
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/pure.html" },
  jsonReporter: { fileName: "reports/mutation/pure.json" },
  // TypeScript 7 has no JS API for Stryker's tsconfig rewriting; vitest needs no tsconfig anyway.
  tsconfigFile: "no-tsconfig-for-stryker.json",
  concurrency: 2,
  timeoutMS: 10_000,
  tempDirName: ".stryker-tmp",
  ignorePatterns: [".stryker-tmp*", "reports", "coverage", ".state", "certs/out"],
  cleanTempDir: true,
};
