// npm start: the firmware on the host target with the simulated reference device, publishing over
// mutual TLS to an embedded broker (or to --broker mqtts://HOST:PORT).
//   npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME] [--state DIR]

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startEmbeddedBroker, type EmbeddedBroker } from "./broker.ts";
import { bootFirmware, manifestConfig } from "./firmware.ts";
import { traceSink } from "./moddable/runtime.ts";
import { socketsClosed } from "./moddable/stream-socket.ts";
import { isIPv4 } from "../src/config.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const started = Date.now();

/** Every line stamped with the seconds since start, so the 1 s / 5 s rhythm is visible. */
function say(text: string): void {
  const stamp = `+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s `;
  process.stdout.write(text.replace(/^(?=.)/gm, stamp));
}
traceSink.write = say;
const certsDir = join(root, "certs/out");

function fail(message: string): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(2);
}

const USAGE = "usage: npm start -- [--duration SECONDS] [--broker mqtts://HOST:PORT] [--thing NAME] [--state DIR]";
let values: { duration?: string; broker?: string; thing?: string; state?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      duration: { type: "string" },
      broker: { type: "string" },
      thing: { type: "string" },
      state: { type: "string" },
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

const duration = values.duration === undefined ? undefined : Number(values.duration);
if (duration !== undefined && !(Number.isFinite(duration) && duration > 0)) fail(`--duration needs a positive number of seconds, got ${values.duration}`);
const thing = values.thing ?? String(manifestConfig().thing ?? "press-7");

// Certificates: generated on first use (a dev CA and this thing's device certificate).
const resources = join(certsDir, "devices", thing);
if (!existsSync(join(resources, "device-key.der"))) {
  try {
    execFileSync(join(root, "certs/generate.sh"), [thing], { stdio: "inherit" });
  } catch {
    fail(`could not generate certificates for "${thing}" (see above)`);
  }
}

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
  if (!isIPv4(address)) fail(`--broker host must be localhost or an IPv4 address, got ${serverName}`);
  port = url.port ? Number(url.port) : 8883;
  say(`host: using broker ${values.broker}\n`);
} else {
  broker = await startEmbeddedBroker({ certsDir, log: (line) => say(`${line}\n`) });
  address = "127.0.0.1";
  port = broker.port;
  serverName = "localhost";
  say(`host: embedded broker (Aedes, mutual TLS) on 127.0.0.1:${port}\n`);
}

let node: Awaited<ReturnType<typeof bootFirmware>>;
try {
  node = await bootFirmware({
    config: { thing, broker_address: address, broker_port: port, broker_name: serverName },
    resources,
    state: values.state ?? join(root, ".state/host", thing),
  });
} catch (error) {
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
  await broker?.close();
  // Lost means gone for good: dropped from a full log or never stored. Unacknowledged readings
  // stay in the flash image and go out on the next start.
  const lost = stats.dropped + stats.notStored;
  process.stdout.write(`readings sampled=${stats.sampled} acknowledged=${stats.readingsAcknowledged} still-in-flash=${stats.pending} connects=${stats.connects}\n`);
  process.stdout.write(`summary published=${stats.published} acknowledged=${stats.acknowledged} lost=${lost}\n`);
  process.exit(lost === 0 && stats.acknowledged === stats.published ? 0 : 1);
}

process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
