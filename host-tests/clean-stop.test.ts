// npm start against a real Mosquitto: a clean stop (SIGTERM, the --duration path) sends the device's
// own "offline" (reason "stopped") and DISCONNECT before the process exits, so the broker publishes no
// will; a kill -9 gets the will (reason "connection-lost").

import { test, expect, onTestFinished } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { manifestConfig } from "../host/firmware.ts";
import { devPki, SUBSCRIBER } from "./support/pki.ts";
import { startMosquitto } from "./support/mosquitto.ts";
import { until } from "./support/until.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const THING = String(manifestConfig().thing);
const STATUS = `${String(manifestConfig().topic_root)}status`;
const MARKER = "iiot-test/marker";

/** identity: run with --identity (the device's DER files from a folder) instead of the generated dev identity. */
async function scenario(options: { identity?: boolean } = {}) {
  const pki = devPki(THING, SUBSCRIBER);
  const broker = await startMosquitto({ certsDir: pki.dir });
  onTestFinished(() => broker.stop());
  const statuses: { state: string; reason?: string }[] = [];
  let markers = 0;
  const sub = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
    ...pki.tlsOptions(SUBSCRIBER), clientId: `${SUBSCRIBER}-stop`, servername: "localhost", reconnectPeriod: 0, connectTimeout: 5000,
  });
  onTestFinished(() => sub.endAsync(true));
  sub.on("message", (topic, payload) => {
    if (topic === MARKER) markers++;
    else statuses.push(JSON.parse(payload.toString("utf8")));
  });
  await sub.subscribeAsync([STATUS, MARKER], { qos: 1 });

  const output: string[] = [];
  const node: ChildProcess = spawn(process.execPath, [
    "--import", "tsx", "--import", "./host/register.mjs", "host/run.ts",
    // The device alone: the pipeline (rules runner, database) has its own test, npm-start-pipeline.test.ts.
    "--broker", `mqtts://localhost:${broker.port}`, "--device-only", "--state", mkdtempSync(join(tmpdir(), "iiot-stop-")),
    ...(options.identity ? ["--identity", pki.resources(THING)] : []),
  ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  node.stdout!.on("data", (d) => output.push(String(d)));
  node.stderr!.on("data", (d) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) => node.once("exit", (code) => resolve(code)));
  onTestFinished(() => void node.kill("SIGKILL"));
  // A random start-up delay of up to 5 s comes first (manifest default).
  await until(() => statuses.some((s) => s.state === "online"), `the node's online status\n${output.join("")}`, 20_000);

  /** Everything the broker did about the node's connection has reached the subscriber. */
  const settled = async () => {
    await until(() => /Client press-7 (disconnected|closed its connection)/.test(broker.log()) || /press-7.*disconnecting/.test(broker.log()), "the broker to see the node go", 10_000);
    const before = markers;
    await sub.publishAsync(MARKER, "{}", { qos: 1 });
    await until(() => markers > before, "the marker round trip");
  };
  return { node, exited, statuses, settled, broker, output };
}

test("clean stop: the device's offline (stopped) and DISCONNECT arrive, and no will", async () => {
  const { node, exited, statuses, settled, broker, output } = await scenario({ identity: true });
  node.kill("SIGTERM");
  const code = await exited;
  expect(code, output.join("")).toBe(0);
  await settled();
  const offline = statuses.filter((s) => s.state === "offline");
  expect(offline.map((s) => s.reason), broker.log()).toStrictEqual(["stopped"]);
  expect(broker.log()).toMatch(/Client press-7 disconnected\./);
  expect(output.join("")).toMatch(/status online bytes=\d+/);
  expect(output.join(""), "the status publishes are in the output").toMatch(/status offline \(stopped\) bytes=\d+; disconnecting/);
}, 60_000);

test("kill -9: the broker publishes the will (connection-lost)", async () => {
  const { node, exited, statuses } = await scenario();
  node.kill("SIGKILL");
  await exited;
  await until(() => statuses.some((s) => s.state === "offline"), "the will");
  expect(statuses.filter((s) => s.state === "offline").map((s) => s.reason)).toStrictEqual(["connection-lost"]);
}, 60_000);
