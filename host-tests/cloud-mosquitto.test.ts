// The local mirror's Mosquitto configuration (cloud/local/mosquitto-config.ts) in the real broker:
// a device reaches only its own topics, another device's are refused, and the rules runner reads
// the rules' filters and nothing more.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { mosquittoAcl } from "../cloud/local/mosquitto-config.ts";
import { JOBS_SERVICE_IDENTITY } from "../cloud/local/jobs-service.ts";
import { startMosquitto, type MosquittoProcess } from "../cloud/local/mosquitto-process.ts";
import { ruleDefinitions, ruleTopicFilters } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT, kindFilter, MESSAGE_KINDS } from "../cloud/topics.ts";
import { freePort } from "./support/mosquitto.ts";
import { devPki, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";

const RUNNER = "iiot-rules";
const root = (thing: string) => `factory/chicago/building-a/line-3/${thing}/`;
let pki: Pki;
let broker: MosquittoProcess;
const clients: MqttClient[] = [];

beforeAll(async () => {
  pki = devPki("press-7", "press-8", RUNNER);
  broker = await startMosquitto({
    port: await freePort(),
    certsDir: pki.dir,
    dataDir: mkdtempSync(join(tmpdir(), "iiot-local-mosquitto-")),
    layout: DEFAULT_LAYOUT,
    rules: ruleDefinitions(),
    rulesRunner: RUNNER,
  });
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await broker?.stop();
});

async function as(identity: string): Promise<{ client: MqttClient; received: { topic: string; payload: string }[] }> {
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
    ...pki.tlsOptions(identity),
    clientId: identity,
    servername: "localhost",
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  clients.push(client);
  const received: { topic: string; payload: string }[] = [];
  client.on("message", (topic, payload) => void received.push({ topic, payload: payload.toString() }));
  return { client, received };
}

const granted = async (client: MqttClient, filter: string) => (await client.subscribeAsync(filter, { qos: 1 }))[0].qos;

test("the ACL is the device grants as %u patterns under the layout's root, the runner's rule filters, and the jobs service's requests and answers", () => {
  const acl = mosquittoAcl({ layout: DEFAULT_LAYOUT, rules: ruleDefinitions(), rulesRunner: RUNNER });
  const lines = acl.split("\n").filter((l) => l && !l.startsWith("#"));
  expect(lines).toStrictEqual([
    "pattern write factory/+/+/+/%u/telemetry",
    "pattern write factory/+/+/+/%u/status",
    "pattern write factory/+/+/+/%u/alarm",
    "pattern read factory/+/+/+/%u/command/#",
    "pattern write factory/+/+/+/%u/response",
    "pattern write $aws/things/%u/shadow/name/config/get",
    "pattern write $aws/things/%u/shadow/name/config/update",
    "pattern read $aws/things/%u/shadow/name/config/#",
    "pattern write $aws/things/%u/jobs/get",
    "pattern write $aws/things/%u/jobs/start-next",
    "pattern write $aws/things/%u/jobs/+/get",
    "pattern write $aws/things/%u/jobs/+/update",
    "pattern read $aws/things/%u/jobs/#",
    "pattern write $aws/things/%u/streams/+/get/json",
    "pattern read $aws/things/%u/streams/+/data/json",
    "pattern read $aws/things/%u/streams/+/rejected/json",
    `user ${RUNNER}`,
    ...ruleTopicFilters(ruleDefinitions()).map((f) => `topic read ${f}`),
    `user ${JOBS_SERVICE_IDENTITY}`,
    "topic read $aws/things/+/jobs/start-next",
    "topic read $aws/things/+/jobs/+/update",
    "topic read $aws/things/+/jobs/get",
    "topic read $aws/things/+/jobs/+/get",
    "topic read $aws/things/+/streams/+/get/json",
    "topic write $aws/things/+/jobs/notify-next",
    "topic write $aws/things/+/jobs/start-next/accepted",
    "topic write $aws/things/+/jobs/start-next/rejected",
    "topic write $aws/things/+/jobs/+/update/accepted",
    "topic write $aws/things/+/jobs/+/update/rejected",
    "topic write $aws/things/+/jobs/get/accepted",
    "topic write $aws/things/+/jobs/get/rejected",
    "topic write $aws/things/+/jobs/+/get/accepted",
    "topic write $aws/things/+/jobs/+/get/rejected",
    "topic write $aws/things/+/streams/+/data/json",
    "topic write $aws/things/+/streams/+/rejected/json",
  ]);
});

test("a device publishes under its own root; under another device's root it is refused", async () => {
  const runner = await as(RUNNER);
  for (const kind of MESSAGE_KINDS) expect(await granted(runner.client, kindFilter(DEFAULT_LAYOUT, kind)), kind).toBe(1);
  const device = await as("press-7");
  await device.client.publishAsync(`${root("press-8")}telemetry`, "forged", { qos: 1 });
  await device.client.publishAsync(`${root("press-8")}status`, "forged", { qos: 1, retain: true });
  await device.client.publishAsync(`${root("press-7")}telemetry`, "own", { qos: 1 });
  // Messages from one client arrive in order: once "own" is here, the forged ones would have been too.
  await until(() => runner.received.some((m) => m.payload === "own"), "the device's own message", 5000);
  expect(runner.received).toStrictEqual([{ topic: `${root("press-7")}telemetry`, payload: "own" }]);
});

/**
 * Mosquitto 2.0 grants wildcard subscriptions and checks read access per message at delivery. A
 * round trip on the client's own connection after a message was fanned out (here a SUBACK) comes
 * after anything that delivery queued for it.
 */
async function settled(client: MqttClient): Promise<void> {
  await client.subscribeAsync("settle/round-trip", { qos: 1 });
}

test("a device receives nothing of another device's topics, however it subscribes", async () => {
  const runner = await as(RUNNER);
  for (const kind of MESSAGE_KINDS) await granted(runner.client, kindFilter(DEFAULT_LAYOUT, kind));
  const other = await as("press-8");
  for (const filter of ["#", kindFilter(DEFAULT_LAYOUT, "telemetry"), `${root("press-7")}command/#`, `${root("press-7")}status`]) await other.client.subscribeAsync(filter, { qos: 1 });
  const device = await as("press-7");
  for (const kind of MESSAGE_KINDS) await device.client.publishAsync(`${root("press-7")}${kind}`, kind, { qos: 1 });
  await until(() => runner.received.length === MESSAGE_KINDS.length, "the device's messages at the runner", 5000);
  await settled(other.client);
  expect(other.received).toStrictEqual([]);
});

test("the rules runner cannot publish: not as a device, not a command", async () => {
  const runner = await as(RUNNER);
  for (const kind of MESSAGE_KINDS) await granted(runner.client, kindFilter(DEFAULT_LAYOUT, kind));
  await runner.client.publishAsync(`${root("press-7")}telemetry`, "forged by the runner", { qos: 1 });
  await runner.client.publishAsync(`${root("press-7")}command/reboot`, "from the runner", { qos: 1 });
  // Had the broker taken the forged telemetry, the runner (a reader of telemetry) would get it back first.
  await settled(runner.client);
  expect(runner.received).toStrictEqual([]);
  const device = await as("press-7");
  await device.client.publishAsync(`${root("press-7")}telemetry`, "control", { qos: 1 });
  await until(() => runner.received.length === 1, "the control message", 5000);
  expect(runner.received[0].payload).toBe("control");
});
