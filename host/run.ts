// npm start: the whole local pipeline. The firmware on the host target with the simulated reference
// device publishes over mutual TLS to an embedded broker (or to --broker mqtts://HOST:PORT); the
// rules runner takes its messages from the same broker into PGlite (or DATABASE_URL), see
// cloud/local/pipeline.ts. --device-only (and --identity, for AWS IoT) runs the firmware alone.
//   npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME] [--identity DIR] [--state DIR] [--cloud-state DIR] [--device-only]

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedBroker, type EmbeddedBroker } from "./broker.ts";
import { bootFirmware, manifestConfig } from "./firmware.ts";
import { traceSink } from "./moddable/runtime.ts";
import { socketsClosed } from "./moddable/stream-socket.ts";
import { brokerFromUrl, command, ensureCertificates, type BrokerTarget, type Command } from "./cli.ts";
import { startPipeline, type Pipeline } from "../cloud/local/pipeline.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const cli: Command = command("npm start", "usage: npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME] [--identity DIR] [--state DIR] [--cloud-state DIR] [--device-only]", {
  identity: { type: "string" },
  duration: { type: "string" },
  broker: { type: "string" },
  thing: { type: "string" },
  state: { type: "string" },
  "cloud-state": { type: "string" },
  "device-only": { type: "boolean" },
});
const { values, say } = cli;
// Annotated so that TypeScript knows it does not return.
const fail: (message: string) => never = cli.fail;
traceSink.write = say;
const certsDir = join(root, "certs/out");
const EMBEDDED_BROKER_PORT = 8883;
/** The dashboard's port when it is free (any free one otherwise). */
const DASHBOARD_PORT = 8080;
/** How long a stop waits for the rules runner to store what the broker acknowledged. */
const STORE_WAIT_MS = 10_000;

const duration = values.duration === undefined ? undefined : Number(values.duration);
if (duration !== undefined && !(Number.isFinite(duration) && duration > 0)) fail(`--duration needs a positive number of seconds, got ${values.duration}`);
const manifest = manifestConfig();
const thing = typeof values.thing === "string" ? values.thing : String(manifest.thing ?? "press-7");
// Another thing publishes under its own root (the rules check the topic's thing level against the payload's device).
const topicRoot = String(manifest.topic_root).replace(/[^/]+\/$/, `${thing}/`);
// --identity: a folder with the device's own ca.der, device.der and device-key.der (e.g. from AWS IoT).
const resources = typeof values.identity === "string" ? identityFolder(values.identity) : ensureCertificates(root, thing, fail);

function identityFolder(dir: string): string {
  const missing = ["ca.der", "device.der", "device-key.der"].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) fail(`--identity ${dir} lacks ${missing.join(", ")} (DER files; see README, "Deploying to AWS IoT Core")`);
  if (values.broker === undefined) fail("--identity goes with --broker: the embedded broker trusts only the dev CA");
  return dir;
}

let broker: EmbeddedBroker | undefined;
let target: BrokerTarget;
if (typeof values.broker === "string") {
  target = brokerFromUrl(values.broker, fail);
  say(`host: using broker ${values.broker}\n`);
} else {
  broker = await embeddedBroker();
  target = { host: "localhost", port: broker.port };
  say(`host: embedded broker (Aedes, mutual TLS) on localhost:${broker.port}\n`);
}

/** On MQTT's TLS port when it is free, so a subscriber's command stays the same; any free port otherwise. */
async function embeddedBroker(): Promise<EmbeddedBroker> {
  const log = (line: string) => say(`${line}\n`);
  try {
    return await startEmbeddedBroker({ certsDir, port: EMBEDDED_BROKER_PORT, log });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    say(`host: port ${EMBEDDED_BROKER_PORT} is taken; the embedded broker takes a free one\n`);
    return startEmbeddedBroker({ certsDir, log });
  }
}

// The rules runner subscribes before the device publishes: a message sent before a subscription
// exists goes nowhere. With --identity the broker is AWS IoT Core, whose rules engine is the cloud's.
const withPipeline = !values["device-only"] && values.identity === undefined;
let pipeline: Pipeline | undefined;
if (withPipeline) {
  try {
    pipeline = await startPipeline({
      brokerUrl: `mqtts://${target.host === "localhost" ? "127.0.0.1" : target.host}:${target.port}`,
      certsDir,
      out: typeof values["cloud-state"] === "string" ? values["cloud-state"] : join(root, ".state/cloud"),
      databaseUrl: process.env.DATABASE_URL,
      dashboardPort: DASHBOARD_PORT,
      log: (line) => say(`${line}\n`),
    });
  } catch (error) {
    await broker?.close();
    fail(`${(error as Error).message}\n(--device-only runs the firmware without the rules runner and the database)`);
  }
  say(`host: rules runner as iiot-rules, readings into ${pipeline!.where}\n`);
  say(`host: dashboard on ${pipeline!.dashboard!.url}\n`);
}

let node: Awaited<ReturnType<typeof bootFirmware>>;
try {
  node = await bootFirmware({
    config: { thing, topic_root: topicRoot, broker_host: target.host, broker_port: target.port },
    resources,
    state: typeof values.state === "string" ? values.state : join(root, ".state/host", thing),
    // The reboot command and a firmware update restart the firmware: a power cycle in this process.
    onRestart: (next) => {
      node = next;
      say("host: the firmware restarted\n");
    },
  });
} catch (error) {
  await pipeline?.close();
  await broker?.close();
  fail(`the firmware did not start: ${(error as Error).message}`);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const stats = await node.stop(10_000);
  // Exiting before the socket has closed would cut DISCONNECT off: the broker would publish the will.
  if (!(await socketsClosed(3000))) say("host: the broker connection did not close within 3 s\n");
  // The broker acknowledged the readings; the runner may still be storing the last of them.
  let stored: number | undefined;
  if (pipeline) {
    stored = await pipeline.waitForReadings(thing, stats.readingsAcknowledged, STORE_WAIT_MS);
    if (stored < stats.readingsAcknowledged) say(`host: ${stats.readingsAcknowledged - stored} acknowledged readings not in the database after ${STORE_WAIT_MS / 1000} s\n`);
    await pipeline.close();
  }
  await broker?.close();
  // Lost means gone for good: dropped from a full log or never stored. Unacknowledged readings
  // stay in the flash image and go out on the next start.
  const lost = stats.dropped + stats.notStored;
  const storedText = stored === undefined ? "" : ` stored=${stored}`;
  process.stdout.write(`readings sampled=${stats.sampled} acknowledged=${stats.readingsAcknowledged}${storedText} still-in-flash=${stats.pending} connects=${stats.connects}\n`);
  process.stdout.write(`summary published=${stats.published} acknowledged=${stats.acknowledged} lost=${lost}\n`);
  const allStored = stored === undefined || stored === stats.readingsAcknowledged;
  process.exit(lost === 0 && stats.acknowledged === stats.published && allStored ? 0 : 1);
}

process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
