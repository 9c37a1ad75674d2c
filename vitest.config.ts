// vitest for the host tests. Moddable specifiers ("timer", "mc/config", "embedded:io/i2c", ...)
// resolve to the host implementations through the same map the Node loader hook uses.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { moddableModules } from "./host/resolve-moddable.mjs";

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

export default defineConfig({
  resolve: {
    alias: [...moddableModules].map(([specifier, url]) => ({ find: new RegExp(`^${escape(specifier)}$`), replacement: fileURLToPath(url) })),
  },
  test: {
    include: ["host-tests/*.test.ts"],
    setupFiles: ["host-tests/support/setup.ts"],
    // Files run one at a time, each in its own process: the real-broker tests share the dev PKI
    // folder and the simulated board, and none may steal another's CPU time mid-scenario.
    pool: "forks",
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts", "drivers/**/*.ts", "sim/**/*.ts", "host/**/*.ts"],
      reporter: ["text-summary", "html"],
    },
  },
});
