// npm run sim: the firmware on the Moddable simulator (mcsim), built from manifest.json with the
// SDK the user installed, against the embedded broker of npm start or a real one.
//   npm run sim -- [--broker mqtts://HOST:PORT] [--duration SECONDS]
//   npm run sim -- --limits [--minutes 30] [--heap-scale 1] [--stack-scale F] [--gc-probe-ms 100] [--backlog-hours 1]
// --limits builds sim/device-limits (an ESP32 board's fixed XS heaps, instrumentation on) and runs
// the scenario of tools/sim/scenario.ts, printing `figure sim.<name> <value> <unit>` lines.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startEmbeddedBroker } from "../host/broker.ts";
import { manifestConfig } from "../host/firmware.ts";
import { buildSimulator, findSdk, powerOff, runSimulator, type Sdk } from "./sim/sdk.ts";
import { runLimitsScenario } from "./sim/scenario.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const started = Date.now();
const USAGE = `usage: npm run sim -- [--broker mqtts://HOST:PORT] [--duration SECONDS]
       npm run sim -- --limits [--minutes N] [--heap-scale F] [--stack-scale F] [--gc-probe-ms MS] [--backlog-hours H]`;

function fail(message: string): never {
  process.stderr.write(`npm run sim: ${message}\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      broker: { type: "string" },
      duration: { type: "string" },
      limits: { type: "boolean" },
      minutes: { type: "string" },
      "heap-scale": { type: "string" },
      "stack-scale": { type: "string" },
      "gc-probe-ms": { type: "string" },
      "backlog-hours": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${(error as Error).message}\n${USAGE}`);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function positive(name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!(Number.isFinite(n) && n >= 0)) fail(`--${name} needs a number >= 0, got ${raw}`);
  return n;
}

let sdk: Sdk;
try {
  sdk = findSdk(root);
} catch (error) {
  fail(`cannot build and run the simulator:\n  - ${(error as Error).message.split("\n").join("\n  - ")}`);
}

// The simulator build embeds certs/out/moddable (manifest resources): made on first use, as npm start does.
const thing = String(manifestConfig().thing ?? "press-7");
if (!existsSync(join(root, "certs/out/moddable/device-key.der"))) {
  try {
    execFileSync(join(root, "certs/generate.sh"), [thing], { stdio: "inherit" });
  } catch {
    fail(`could not generate certificates for "${thing}" (see above)`);
  }
}

function say(text: string): void {
  const stamp = `+${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s `;
  process.stdout.write(text.replace(/^(?=.)/gm, stamp));
}

if (values.limits) {
  if (values.broker || values.duration) fail("--limits runs its own broker and scenario; use --minutes for its length");
  const scale = positive("heap-scale", 1);
  if (!(scale > 0 && scale <= 1)) fail("--heap-scale must be in (0, 1]");
  const stackScale = positive("stack-scale", scale);
  if (!(stackScale > 0 && stackScale <= 1)) fail("--stack-scale must be in (0, 1]");
  const code = await runLimitsScenario({
    root, sdk, say, scale, stackScale,
    minutes: positive("minutes", 30),
    gcProbeMs: positive("gc-probe-ms", 100),
    backlogHours: positive("backlog-hours", 1),
    command: `npm run sim -- ${process.argv.slice(2).join(" ")}`.trim(),
  });
  process.exit(code);
}

// Plain run: build, start, stream the device's console until --duration or Ctrl-C.
const duration = values.duration === undefined ? undefined : positive("duration", 0);
let address = "127.0.0.1";
let port: number;
let serverName = "localhost";
let closeBroker = async () => {};
if (typeof values.broker === "string") {
  let url: URL;
  try {
    url = new URL(values.broker);
  } catch {
    fail(`--broker must look like mqtts://HOST:PORT, got ${values.broker}`);
  }
  if (url.protocol !== "mqtts:") fail("--broker must be an mqtts:// URL (the firmware speaks MQTT over TLS only)");
  serverName = url.hostname;
  address = url.hostname === "localhost" ? "127.0.0.1" : url.hostname;
  port = url.port ? Number(url.port) : 8883;
} else {
  const broker = await startEmbeddedBroker({ certsDir: join(root, "certs/out"), log: (line) => say(`${line}\n`) });
  port = broker.port;
  closeBroker = () => broker.close();
  say(`sim: embedded broker (Aedes, mutual TLS) on 127.0.0.1:${port}\n`);
}
const state = join(root, ".state/sim", thing);
mkdirSync(state, { recursive: true });
say(`sim: building the simulator (mcconfig -m -p lin) ...\n`);
let so: string;
try {
  so = buildSimulator(sdk, root, { broker_address: address, broker_port: port!, broker_name: serverName, flash_dir: `${state}/` }, { instrument: false, logFile: join(state, "build.log") });
} catch (error) {
  await closeBroker();
  fail((error as Error).message);
}
writeFileSync(join(state, "last-build.txt"), `${so}\n`);
say(`sim: running ${so}${sdk.display === "xvfb" ? " under xvfb-run" : ""}; the flash log lives in ${state}/flash-iiotlog.bin\n`);
const child = runSimulator(sdk, so);
child.stdout!.setEncoding("utf8").on("data", (text: string) => say(text));
child.stderr!.setEncoding("utf8").on("data", (text: string) => say(text));
const stop = async () => {
  await powerOff(child);
  await closeBroker();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
child.on("exit", async (code, signal) => {
  say(`sim: mcsim ended (${signal ?? `exit ${code}`})\n`);
  await closeBroker();
  process.exit(code === 0 || signal === "SIGKILL" ? 0 : 1);
});
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
