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

/** Bundles the given suite modules (paths relative to the repository) for a platform-free engine. */
export async function bundleSuites(suites: string[]): Promise<string> {
  const imports = suites.map((s) => `import ${JSON.stringify(`./${s}`)};`).join("\n");
  const contents = `${imports}
import { registry } from "./host-tests/portable/api.ts";
import { utf8Encode } from "./src/util/utf8.ts";
const results = [];
for (const t of registry) {
  try {
    await t.body();
    results.push({ name: t.name, ok: true });
  } catch (error) {
    results.push({ name: t.name, ok: false, error: String(error && error.stack ? error.message + "\\n" + error.stack : error) });
  }
}
issueCommand(utf8Encode(JSON.stringify(results)).buffer);
`;
  const result = await build({
    stdin: { contents, resolveDir: root, sourcefile: "xs-entry.ts", loader: "ts" },
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    alias: { "sim/board": "./sim/board.ts" },
    logLevel: "silent",
  });
  // xsnap evaluates a script, not a module: wrap the bundle in an async function.
  return `(async () => {\n${result.outputFiles[0].text}\n})().catch((e) => issueCommand(new TextEncoder().encode(JSON.stringify([{ name: "bundle", ok: false, error: String(e) }])).buffer));`;
}

export async function runOnXs(suites: string[]): Promise<XsRun> {
  const code = await bundleSuites(suites);
  let results: XsResult[] | undefined;
  const worker = await xsnap({
    os: os.type(),
    spawn,
    fs: {} as never,
    name: "iiot-xs-tests",
    meteringLimit: 0, // no per-run computation cap: the power-cut trials are long
    stderr: "inherit",
    stdout: "inherit",
    handleCommand: async (message: Uint8Array) => {
      results = JSON.parse(new TextDecoder().decode(message)) as XsResult[];
      return new Uint8Array();
    },
  });
  try {
    const { meterUsage } = await worker.evaluate(code);
    if (!results) throw new Error("the XS run reported no results");
    return { results, compute: meterUsage.compute };
  } finally {
    await worker.close();
  }
}
