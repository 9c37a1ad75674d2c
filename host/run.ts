// npm start: the firmware on the host target with the simulated reference device, publishing over
// mutual TLS to an embedded broker (or to --broker mqtts://HOST:PORT).
//   npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME]

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startEmbeddedBroker, type EmbeddedBroker } from "./broker.ts";
import { bootFirmware, manifestConfig } from "./firmware.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const certsDir = join(root, "certs/out");

function fail(message: string): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    duration: { type: "string" },
    broker: { type: "string" },
    thing: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write("usage: npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME]\n");
  process.exit(0);
}

const duration = values.duration === undefined ? undefined : Number(values.duration);
if (duration !== undefined && !(Number.isFinite(duration) && duration > 0)) fail(`--duration needs a positive number of seconds, got ${values.duration}`);
const thing = values.thing ?? String(manifestConfig().thing ?? "press-7");

// Certificates: generated on first use (a dev CA and this thing's device certificate).
const resources = join(certsDir, "devices", thing);
if (!existsSync(join(resources, "device-key.der"))) execFileSync(join(root, "certs/generate.sh"), [thing], { stdio: "inherit" });

let broker: EmbeddedBroker | undefined;
let address: string;
let port: number;
let serverName: string;
if (values.broker) {
  let url: URL;
  try {
    url = new URL(values.broker);
  } catch {
    fail(`--broker must look like mqtts://HOST:PORT, got ${values.broker}`);
  }
  if (url.protocol !== "mqtts:") fail("--broker must use mqtts:// (the node speaks mutual TLS only)");
  serverName = url.hostname;
  address = serverName === "localhost" ? "127.0.0.1" : serverName;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) fail(`--broker host must be localhost or an IPv4 address, got ${serverName}`);
  port = url.port ? Number(url.port) : 8883;
  process.stdout.write(`host: using broker ${values.broker}\n`);
} else {
  broker = await startEmbeddedBroker({ certsDir, log: (line) => process.stdout.write(`${line}\n`) });
  address = "127.0.0.1";
  port = broker.port;
  serverName = "localhost";
  process.stdout.write(`host: embedded broker (Aedes, mutual TLS) on 127.0.0.1:${port}\n`);
}

const node = await bootFirmware({
  config: { thing, broker_address: address, broker_port: port, broker_name: serverName },
  resources,
  state: join(root, ".state/host", thing),
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const stats = await node.stop(10_000);
  await broker?.close();
  const lost = stats.sampled - stats.readingsAcknowledged;
  process.stdout.write(`readings sampled=${stats.sampled} acknowledged=${stats.readingsAcknowledged} connects=${stats.connects}\n`);
  process.stdout.write(`summary published=${stats.published} acknowledged=${stats.acknowledged} lost=${lost}\n`);
  process.exit(lost === 0 && stats.acknowledged === stats.published ? 0 : 1);
}

process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
