// npm run cloud:local: the local mirror of the cloud half. Mosquitto with the generated config
// (mutual TLS, per-device ACL) unless --broker names another, the rules runner, and the sinks:
// PostgreSQL at DATABASE_URL, or PGlite in <out>/pglite; archive files and dead letters in <out>.
// Then point the firmware at it: npm start -- --broker mqtts://localhost:8883 --device-only
// (without --device-only, npm start runs a rules runner and a database of its own).
//   npm run cloud:local -- [--port 8883] [--broker mqtts://HOST:PORT] [--out .state/cloud] [--duration SECONDS]

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { command } from "../../host/cli.ts";
import { ruleDefinitions } from "../rules.ts";
import { DEFAULT_LAYOUT } from "../topics.ts";
import { startMosquitto, type MosquittoProcess } from "./mosquitto-process.ts";
import { ensureRulesRunnerIdentity, startPipeline, type Pipeline } from "./pipeline.ts";
import { RULES_RUNNER_IDENTITY } from "./rules-runner.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const { values, fail, say } = command("cloud:local", "usage: npm run cloud:local -- [--port 8883] [--broker mqtts://HOST:PORT] [--out DIR] [--duration SECONDS]", {
  port: { type: "string" },
  broker: { type: "string" },
  out: { type: "string" },
  duration: { type: "string" },
});
const out = resolve(typeof values.out === "string" ? values.out : join(root, ".state/cloud"));
const port = Number(values.port ?? 8883);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port needs a TCP port, got ${values.port}`);
const duration = values.duration === undefined ? undefined : Number(values.duration);
if (duration !== undefined && !(duration > 0)) fail(`--duration needs a positive number of seconds, got ${values.duration}`);

const certsDir = join(root, "certs/out");
try {
  ensureRulesRunnerIdentity(certsDir);
} catch (error) {
  fail((error as Error).message);
}
const rules = ruleDefinitions(DEFAULT_LAYOUT);
let broker: MosquittoProcess | undefined;
let url: string;
if (typeof values.broker === "string") {
  url = values.broker;
} else {
  broker = await startMosquitto({ port, certsDir, dataDir: join(out, "mosquitto"), layout: DEFAULT_LAYOUT, rules, rulesRunner: RULES_RUNNER_IDENTITY, persistence: true });
  url = `mqtts://127.0.0.1:${port}`;
  say(`cloud: mosquitto on ${url} (config and ACL in ${join(out, "mosquitto")})\n`);
}
let pipeline: Pipeline;
try {
  pipeline = await startPipeline({ brokerUrl: url, certsDir, out, databaseUrl: process.env.DATABASE_URL, rules, dashboardPort: 8080, log: (line) => say(`${line}\n`) });
} catch (error) {
  await broker?.stop();
  fail((error as Error).message);
}
const runner = pipeline!.runner;
say(`cloud: ${pipeline!.where}\n`);
say(`cloud: dashboard on ${pipeline!.dashboard!.url}\n`);
say(`cloud: ready; archive in ${join(out, "archive")}, dead letters in ${join(out, "dead-letters.jsonl")}\n`);
say(`cloud: devices: npm start -- --broker mqtts://localhost:${port} --device-only\n`);
say(`cloud: firmware updates: npm run ota:job -- --local --broker mqtts://localhost:${port} --image FILE --version X.Y.Z --thing NAME\n`);

let last = "";
const report = setInterval(() => {
  const { messages, actions, deadLetters } = runner.stats;
  const line = `cloud: messages=${messages} stored=${actions} dead-letters=${deadLetters}`;
  if (line !== last) say(`${line}\n`);
  last = line;
}, 5000);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(report);
  await pipeline.close();
  await broker?.stop();
  const { messages, actions, deadLetters } = runner.stats;
  process.stdout.write(`summary messages=${messages} stored=${actions} dead-letters=${deadLetters}\n`);
  process.exit(0);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
