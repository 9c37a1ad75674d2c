// npm run sim: the firmware on the Moddable simulator (mcsim), built from manifest.json with the
// SDK the user installed, against the embedded broker of npm start or a real one.
//   npm run sim -- [--broker mqtts://HOST:PORT] [--duration SECONDS]
//   npm run sim -- [--broker-host NAME] [--alpn] [--port PORT] [--duration SECONDS]   (the embedded broker, reached by NAME, requiring ALPN, on PORT)
//   npm run sim -- --limits [--minutes 30] [--outage-minutes M] [--heap-scale 1] [--stack-scale F] [--gc-probe-ms 100] [--backlog-hours 1] [--out DIR] [--state DIR]
// --limits builds sim/device-limits (an ESP32 board's fixed XS heaps, instrumentation on) and runs
// the scenario of tools/sim/scenario.ts, printing `figure sim.<name> <value> <unit>` lines.

import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedBroker } from "../host/broker.ts";
import { manifestConfig } from "../host/firmware.ts";
import { brokerFromUrl, command, ensureCertificates, type Command } from "../host/cli.ts";
import { buildSimulator, findSdk, powerOff, runSimulator, type Sdk } from "./sim/sdk.ts";
import { runLimitsScenario } from "./sim/scenario.ts";
import { runFleetDemo } from "./sim/fleet-demo.ts";
import { runOtaDemo } from "./sim/ota-demo.ts";
import { runEsp32Natives } from "./sim/esp32-natives.ts";
import { AWS_MQTT_ALPN } from "../src/config.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const USAGE = `usage: npm run sim -- [--broker mqtts://HOST:PORT] [--duration SECONDS]
       npm run sim -- [--broker-host NAME] [--alpn] [--port PORT] [--fleet] [--duration SECONDS]
         the embedded broker, which the firmware finds by looking NAME up (it must resolve to 127.0.0.1;
         the TLS server name stays localhost), and which with --alpn takes only clients offering ALPN ${AWS_MQTT_ALPN};
         --fleet sends the node a command and shadow changes through a double of AWS's shadow service
       npm run sim -- --esp32-natives
         the ESP32 OTA natives built for the simulator over a fake ESP-IDF, and their checks
       npm run sim -- --ota [--duration SECONDS]
         a firmware update through the local Jobs and stream service; the simulator is power-cycled when it asks to restart
       npm run sim -- --limits [--minutes N] [--outage-minutes M] [--heap-scale F] [--stack-scale F] [--gc-probe-ms MS] [--backlog-hours H] [--out DIR] [--state DIR]
         --out: where mcconfig builds (its -o; default $IIOT_SIM_OUT, else $MODDABLE/build); --state: the run's flash file and logs`;
const cli: Command = command("npm run sim", USAGE, {
  broker: { type: "string" },
  "broker-host": { type: "string" },
  port: { type: "string" },
  alpn: { type: "boolean" },
  fleet: { type: "boolean" },
  ota: { type: "boolean" },
  "esp32-natives": { type: "boolean" },
  duration: { type: "string" },
  limits: { type: "boolean" },
  minutes: { type: "string" },
  "heap-scale": { type: "string" },
  "stack-scale": { type: "string" },
  "gc-probe-ms": { type: "string" },
  "backlog-hours": { type: "string" },
  "outage-minutes": { type: "string" },
  out: { type: "string" },
  state: { type: "string" },
});
const { values, say } = cli;
// Annotated so that TypeScript knows it does not return.
const fail: (message: string) => never = cli.fail;

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

// The simulator build embeds certs/out/moddable (the manifest's resources): made on first use.
const thing = String(manifestConfig().thing ?? "press-7");
ensureCertificates(root, thing, fail);

if (values["esp32-natives"]) process.exit(await runEsp32Natives(root, sdk, say));

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
    outageMinutes: values["outage-minutes"] === undefined ? undefined : positive("outage-minutes", 0),
    outDir: typeof values.out === "string" ? resolve(values.out) : process.env.IIOT_SIM_OUT || undefined,
    stateDir: typeof values.state === "string" ? resolve(values.state) : undefined,
    command: `npm run sim -- ${process.argv.slice(2).join(" ")}`.trim(),
  });
  process.exit(code);
}

// Plain run: build, start, stream the device's console until --duration or Ctrl-C.
const duration = values.duration === undefined ? undefined : positive("duration", 0);
let settings: Record<string, string | number>;
let closeBroker = async () => {};
let otaBroker: Awaited<ReturnType<typeof startEmbeddedBroker>> | undefined;
if (typeof values.broker === "string") {
  if (values["broker-host"] !== undefined || values.alpn || values.port !== undefined || values.fleet) fail("--broker-host, --alpn, --port and --fleet go with the embedded broker, not --broker");
  const target = brokerFromUrl(values.broker, fail);
  settings = { broker_host: target.host, broker_port: target.port };
} else {
  const alpn = values.alpn ? AWS_MQTT_ALPN : undefined;
  const port = values.port === undefined ? 0 : positive("port", 0);
  const broker = await startEmbeddedBroker({ certsDir: join(root, "certs/out"), port, alpn, log: (line) => say(`${line}\n`) });
  closeBroker = () => broker.close();
  otaBroker = broker;
  if (values.fleet) runFleetDemo(broker.aedes, thing, String(manifestConfig().topic_root ?? `iiot/${thing}/`), say);
  const host = typeof values["broker-host"] === "string" ? values["broker-host"] : "localhost";
  settings = { broker_host: host, broker_name: "localhost", broker_port: broker.port, ...(alpn && { broker_alpn: alpn }) };
  say(`sim: embedded broker (Aedes, mutual TLS${alpn ? `, ALPN ${alpn} required` : ""}) on 127.0.0.1:${broker.port}, reached as ${host}\n`);
}
const state = join(root, ".state/sim", thing);
mkdirSync(state, { recursive: true });
say(`sim: building the simulator (mcconfig -m -p lin) ...\n`);
let so: string;
try {
  so = buildSimulator(sdk, root, { ...settings, flash_dir: `${state}/` }, { instrument: false, logFile: join(state, "build.log"), outDir: typeof values.out === "string" ? resolve(values.out) : process.env.IIOT_SIM_OUT || undefined });
} catch (error) {
  await closeBroker();
  fail((error as Error).message);
}
writeFileSync(join(state, "last-build.txt"), `${so}\n`);
if (values.ota) {
  if (!otaBroker) fail("--ota runs against the embedded broker, not --broker");
  const code = await runOtaDemo({
    root, sdk, so, state, aedes: otaBroker.aedes, brokerPort: otaBroker.port, thing, topicRoot: String(manifestConfig().topic_root ?? `iiot/${thing}/`), say,
    timeoutS: duration ?? 300,
  });
  await closeBroker();
  process.exit(code);
}
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
