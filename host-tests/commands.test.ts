// Commands and the shadow through the running firmware (host target) and the embedded broker, with a
// double of AWS's named-shadow service: the node subscribes to its own command and shadow topics on
// connect, answers each request on <topic_root>response, acts only on valid ones, takes a valid shadow
// configuration whole and refuses an invalid one, and its online status says why it booted.

import { test, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { devPki } from "./support/pki.ts";
import { attachShadowDouble, type ShadowDouble } from "./support/shadow-double.ts";
import { until } from "./support/until.ts";
import type { RunningNode } from "../src/app.ts";
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const THING = "press-7";
const ROOT = `iiot-test/${THING}/`;
let broker: EmbeddedBroker;
let shadow: ShadowDouble;
const SHADOW = `$aws/things/${THING}/shadow/name/config`;
let node: RunningNode;
const responses: Record<string, unknown>[] = [];
const statuses: Record<string, unknown>[] = [];
const subscribed: string[] = [];
/** Filters per SUBSCRIBE packet. */
const subscribePackets: number[] = [];
const lines: string[] = [];

beforeAll(async () => {
  traceSink.write = (text) => void lines.push(text);
  const pki = devPki(THING);
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  shadow = attachShadowDouble(broker.aedes, { thing: THING, shadowName: "config" });
  broker.aedes.on("subscribe", (subscriptions, client) => {
    if (client?.id === THING) {
      subscribed.push(...subscriptions.map((s) => s.topic));
      subscribePackets.push(subscriptions.length);
    }
  });
  broker.aedes.on("publish", (packet, client) => {
    if (!client) return;
    if (packet.topic === `${ROOT}response`) responses.push(JSON.parse(packet.payload.toString()));
    if (packet.topic === `${ROOT}status`) statuses.push(JSON.parse(packet.payload.toString()));
  });
  node = await bootFirmware({
    config: { thing: THING, topic_root: ROOT, broker_host: "localhost", broker_port: broker.port, sample_ms: 200, flush_ms: 60_000, startup_jitter_ms: 0 },
    resources: pki.resources(THING),
    state: mkdtempSync(join(tmpdir(), "iiot-commands-")),
  });
  await until(() => subscribed.includes(`${ROOT}command/#`), "the node subscribed to its command topic", 10_000);
  await until(() => shadow.shadow !== undefined, "the node created its shadow (reported its configuration)", 10_000);
}, 30_000);

afterAll(async () => {
  await node?.stop(2000);
  await broker?.close();
  traceSink.write = (text) => void process.stdout.write(text);
});

function command(name: string, body: unknown): Promise<Record<string, unknown>> {
  const before = responses.length;
  const payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  broker.aedes.publish({ cmd: "publish", topic: `${ROOT}command/${name}`, payload, qos: 1, retain: false, dup: false }, () => {});
  return until(() => responses.length > before, `the response to ${name}`, 5000).then(() => responses[responses.length - 1]);
}

test("commands: the online status says why the node booted; only its own command, shadow, jobs and stream topics are subscribed", () => {
  expect(statuses[0]).toMatchObject({ state: "online", reset: "unknown", reset_code: -1 });
  // The dev PKI's device certificate: its days left, read from the certificate itself.
  expect(typeof statuses[0].cert_days_left === "number" && (statuses[0].cert_days_left as number) > 30, JSON.stringify(statuses[0])).toBe(true);
  expect(statuses[0].cert_warning).toBe(undefined);
  const jobs = `$aws/things/${THING}/jobs/`;
  expect(subscribed).toStrictEqual([
    `${ROOT}command/#`, ...["get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta"].map((t) => `${SHADOW}/${t}`),
    ...["notify-next", "start-next/accepted", "start-next/rejected", "+/update/accepted", "+/update/rejected"].map((t) => jobs + t),
    `$aws/things/${THING}/streams/+/data/json`, `$aws/things/${THING}/streams/+/rejected/json`,
  ]);
  // AWS IoT Core takes at most 8 filters in one SUBSCRIBE.
  expect(subscribePackets).toStrictEqual([8, 5]);
});

test("commands: diagnostics and flush answer with what the node knows and did", async () => {
  await until(() => node.stats.sampled >= 3, "a few samples", 5000);
  const diagnostics = await command("diagnostics", { id: "diag-1" });
  expect(diagnostics).toMatchObject({ id: "diag-1", command: "diagnostics", ok: true });
  expect(JSON.stringify(diagnostics)).toMatch(/"log_depth":\d+/);
  // With a 60 s flush bound nothing has gone yet; the flush command sends the partial batch now.
  const acknowledged = node.stats.readingsAcknowledged;
  const flush = await command("flush", { id: "flush-1" });
  expect(flush).toMatchObject({ id: "flush-1", ok: true });
  await until(() => node.stats.readingsAcknowledged > acknowledged, "the flushed readings acknowledged", 5000);
});

test("commands: unknown, malformed, refused and repeated requests get an error and change nothing", async () => {
  const sampled = node.stats.sampled;
  expect(await command("selfdestruct", { id: "x-1" })).toMatchObject({ ok: false });
  expect(await command("flush", "{not json")).toMatchObject({ ok: false });
  expect(await command("resend", { id: "r-1", from: -5 })).toMatchObject({ id: "r-1", ok: false });
  expect(await command("resend", { id: "r-2", from: 10_000_000 })).toMatchObject({ id: "r-2", ok: false });
  expect(await command("reboot", { id: "b-1" })).toMatchObject({ id: "b-1", ok: false }); // the host target cannot restart itself
  expect(await command("diagnostics", { id: "diag-1" })).toMatchObject({ id: "diag-1", ok: false }); // handled already
  expect(node.stats.sampled).toBeGreaterThanOrEqual(sampled);
  expect(lines.join("")).toMatch(/command (unknown-command|bad-request)/);
});

test("commands: every response and status validates against the payload schema", () => {
  const schema = JSON.parse(readFileSync(new URL("../schema/payload-v1.schema.json", import.meta.url), "utf8"));
  const AjvClass = (Ajv2020 as unknown as { default?: typeof Ajv2020 }).default ?? Ajv2020;
  const ajv = new AjvClass({ allErrors: true, strict: true });
  const validate = ajv.compile(schema);
  expect(responses.length).toBeGreaterThan(5);
  for (const doc of [...responses, ...statuses]) expect(validate(doc) ? "valid" : `${JSON.stringify(doc)}: ${ajv.errorsText(validate.errors)}`).toBe("valid");
});

test("shadow: a valid configuration is applied whole and reported; an invalid one is refused with its reason and changes nothing", async () => {
  shadow.setDesired({ flush_ms: 1000, channels: { "max31865.temperature": { interval_s: 1, stats: ["min", "max"] } } });
  await until(() => (shadow.shadow?.reported as { flush_ms?: number } | undefined)?.flush_ms === 1000, "the change reported", 10_000);
  expect(lines.join("")).toMatch(/settings applied: 1 channels reported, \d+ with limits, flush 1000 ms/);
  const applied = lines.filter((l) => l.includes("settings applied")).length;
  shadow.setDesired({ flush_ms: "soon" });
  await until(() => typeof (shadow.shadow?.reported as { config_error?: string } | undefined)?.config_error === "string", "the refusal reported", 10_000);
  expect((shadow.shadow!.reported as { config_error: string }).config_error).toMatch(/flush_ms must be an integer/);
  expect(lines.filter((l) => l.includes("settings applied")).length, "nothing applied").toBe(applied);
  expect((shadow.shadow!.reported as { flush_ms?: number }).flush_ms, "the applied configuration stays").toBe(1000);
});
