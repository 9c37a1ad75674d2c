// Runs portable test suites on the real XS engine (xsnap from @agoric/xsnap): esbuild bundles the
// suites with no Node platform, the bundle runs inside an xsnap worker, and each result comes back
// through issueCommand. Anything XS lacks (Node globals, Node modules) fails the run.

import "@endo/init";
import { xsnap } from "@agoric/xsnap";
import { build } from "esbuild";
import { spawn } from "node:child_process";
import * as os from "node:os";
import { fileURLToPath } from "node:url";

export interface XsResult {
  name: string;
  ok: boolean;
  error?: string;
}

export interface XsRun {
  results: XsResult[];
  /** XS's own metering of the whole run (computrons). */
  compute: number;
}

const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A Moddable device runs with the built-ins frozen (the preloaded heap is read-only): assigning a
 * property that a frozen prototype defines, such as an Error's name, throws there. xsnap does not
 * freeze them, so the harness does, before any test code runs.
 */
const FREEZE_INTRINSICS = `for (const key of Object.getOwnPropertyNames(globalThis)) {
  const value = globalThis[key];
  if ((typeof value === "function" || typeof value === "object") && value !== null && value !== globalThis) {
    if (value.prototype) Object.freeze(value.prototype);
    Object.freeze(value);
  }
}`;

/**
 * Bundles TypeScript source (imports relative to the repository root) for a platform-free engine.
 * The program reports through report(value), which reaches the host as JSON.
 */
export async function bundleForXs(contents: string): Promise<string> {
  const entry = `import { utf8Encode as __encode } from "./src/util/utf8.ts";
${FREEZE_INTRINSICS}
const report = (value) => issueCommand(__encode(JSON.stringify(value)).buffer);
${contents}`;
  const result = await build({
    stdin: { contents: entry, resolveDir: root, sourcefile: "xs-entry.ts", loader: "ts" },
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    alias: { "sim/board": "./sim/board.ts", "sim/io/common": "./sim/io/common.ts" },
    logLevel: "silent",
  });
  // xsnap evaluates a script, not a module: wrap the bundle in an async function.
  return `(async () => {\n${result.outputFiles[0].text}\n})().catch((e) => issueCommand(new TextEncoder().encode(JSON.stringify({ bundleError: String(e) })).buffer));`;
}

/** Runs a bundle on XS; returns every report() in order and XS's metering of the whole run. */
export async function runBundleOnXs(code: string): Promise<{ reports: unknown[]; compute: number; heapSlots: number }> {
  const reports: unknown[] = [];
  const worker = await xsnap({
    os: os.type(),
    spawn,
    fs: {} as never,
    name: "iiot-xs",
    meteringLimit: 0, // no per-run computation cap: the power-cut trials are long
    stderr: "inherit",
    stdout: "inherit",
    handleCommand: async (message: Uint8Array) => {
      reports.push(JSON.parse(new TextDecoder().decode(message)));
      return new Uint8Array();
    },
  });
  try {
    const { meterUsage } = await worker.evaluate(code);
    const failed = reports.find((r) => typeof r === "object" && r !== null && "bundleError" in r);
    if (failed) throw new Error(`the XS run failed: ${(failed as { bundleError: string }).bundleError}`);
    // Slots in use when the run ended (live, if the program called gc() last).
    return { reports, compute: meterUsage.compute, heapSlots: meterUsage.currentHeapCount ?? NaN };
  } finally {
    await worker.close();
  }
}

/** Bundles the given suite modules (paths relative to the repository) with a runner for the registry. */
export function bundleSuites(suites: string[]): Promise<string> {
  const imports = suites.map((s) => `import ${JSON.stringify(`./${s}`)};`).join("\n");
  return bundleForXs(`${imports}
import { registry } from "./host-tests/portable/api.ts";
const results = [];
for (const t of registry) {
  try {
    await t.body();
    results.push({ name: t.name, ok: true });
  } catch (error) {
    results.push({ name: t.name, ok: false, error: String(error && error.stack ? error.message + "\\n" + error.stack : error) });
  }
}
report(results);
`);
}

export async function runOnXs(suites: string[]): Promise<XsRun> {
  const { reports, compute } = await runBundleOnXs(await bundleSuites(suites));
  if (reports.length !== 1) throw new Error(`the XS run reported ${reports.length} result sets`);
  return { results: reports[0] as XsResult[], compute };
}
