// npm run cloud:local: the local mirror of the cloud half. Mosquitto with the generated config
// (mutual TLS, per-device ACL) unless --broker names another, the rules runner, and the sinks:
// PostgreSQL at DATABASE_URL, or PGlite in <out>/pglite; archive files and dead letters in <out>.
// Then point the firmware at it: npm start -- --broker mqtts://localhost:8883
//   npm run cloud:local -- [--port 8883] [--broker mqtts://HOST:PORT] [--out .state/cloud] [--duration SECONDS]

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { command } from "../../host/cli.ts";
import { ruleDefinitions } from "../rules.ts";
import { DEFAULT_LAYOUT } from "../topics.ts";
import { openDatabase } from "./database.ts";
import { deadLetterFile } from "./dead-letters.ts";
import { startMosquitto, type MosquittoProcess } from "./mosquitto-process.ts";
import { RULES_RUNNER_IDENTITY, startRulesRunner } from "./rules-runner.ts";
import { archiveSink, databaseSinks } from "./sinks.ts";

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

// The runner's own identity from the dev CA; --no-stage leaves the firmware's resources alone.
const certsDir = join(root, "certs/out");
try {
  execFileSync(join(root, "certs/generate.sh"), ["--no-stage", RULES_RUNNER_IDENTITY], { stdio: "ignore" });
} catch {
  fail("could not generate the rules runner's certificate (certs/generate.sh; is openssl installed?)");
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
const db = await openDatabase(process.env.DATABASE_URL ? { url: process.env.DATABASE_URL } : { pgliteDir: join(out, "pglite") });
say(`cloud: ${db.kind === "postgres" ? "PostgreSQL at DATABASE_URL" : `PGlite in ${join(out, "pglite")}`}\n`);
const runner = await startRulesRunner({
  url,
  tls: {
    ca: readFileSync(join(certsDir, "ca.pem")),
    cert: readFileSync(join(certsDir, "devices", RULES_RUNNER_IDENTITY, "device.pem")),
    key: readFileSync(join(certsDir, "devices", RULES_RUNNER_IDENTITY, "device.key")),
  },
  rules,
  sinks: { ...databaseSinks(db), "archive-stream": archiveSink(out) },
  deadLetters: deadLetterFile(join(out, "dead-letters.jsonl")),
  log: (line) => say(`${line}\n`),
});
say(`cloud: ready; archive in ${join(out, "archive")}, dead letters in ${join(out, "dead-letters.jsonl")}\n`);

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
  await runner.close();
  await db.close();
  await broker?.stop();
  const { messages, actions, deadLetters } = runner.stats;
  process.stdout.write(`summary messages=${messages} stored=${actions} dead-letters=${deadLetters}\n`);
  process.exit(0);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
