// The named shadow "config" on the host target: the firmware's shadow agent, MQTT client and host TLS
// socket against the embedded broker with a local double of AWS's shadow topics, the configuration
// stored through the host's preference module (a temporary file renamed over the old one). No shadow
// yet, an operator's change, a refused one (reported once, no update loop), a change made while the
// node was offline (the get at the next connect brings it), and a restart that keeps what was applied.

import { readFileSync, rmSync, mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import TLSSocket from "embedded:io/socket/tcp/tls";
import Preference from "preference";
import { setConfig } from "../host/moddable/mc-config.ts";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { MqttClient } from "../src/mqtt/client.ts";
import { utf8 } from "../src/mqtt/codec.ts";
import { ShadowAgent, type ShadowStore } from "../src/fleet/shadow.ts";
import type { RuntimeBase, RuntimeSettings } from "../src/fleet/runtime-settings.ts";
import { roguePki, type Pki } from "./support/pki.ts";
import { attachShadowDouble, type ShadowDouble } from "./support/shadow-double.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const BASE: RuntimeBase = { sampleIntervalMs: 1000, sensors: ["sht3x", "bme280", "max31865", "adxl345"], flushIntervalMs: 5000, heartbeatMs: 60_000, maxBatchBytes: 5120 };
let pki: Pki;
let broker: EmbeddedBroker;
let double: ShadowDouble;
let flashDir: string;

beforeAll(async () => {
  pki = roguePki(THING);
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  double = attachShadowDouble(broker.aedes, { thing: THING, shadowName: "config" });
  flashDir = mkdtempSync(join(tmpdir(), "iiot-shadow-flash-"));
  setConfig({ flash_dir: `${flashDir}/` });
});

afterAll(async () => {
  await broker?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  if (flashDir) rmSync(flashDir, { recursive: true, force: true });
});

/** The store as main.ts gives it: one preference, iiot/shadow. */
const store: ShadowStore = {
  load: () => {
    const v = Preference.get("iiot", "shadow");
    return typeof v === "string" ? v : undefined;
  },
  save: (text) => Preference.set("iiot", "shadow", text),
};

interface Device {
  agent: ShadowAgent;
  applied: { settings: RuntimeSettings; document: Record<string, unknown> }[];
  log: string[];
  connected(): boolean;
  stop(): Promise<void>;
}

/** One boot: the agent (which loads the stored configuration), then a connection routed through it. */
function boot(): Device {
  const resources = pki.resources(THING);
  const applied: Device["applied"] = [];
  const log: string[] = [];
  let client: MqttClient | undefined;
  let up = false;
  let closed = false;
  let packetId = 100;
  const agent = new ShadowAgent({
    thing: THING, base: BASE, store,
    apply: (settings, document) => applied.push({ settings, document }),
    publish: (topic, payload) => {
      if (!client || !up) throw new Error("not connected");
      // The report at QoS 1 (its own packet ids, apart from the subscription's), the get at QoS 0.
      if (topic.endsWith("/update")) client.publish({ topic, payload: utf8(payload), qos: 1, packetId: (packetId = packetId >= 60_000 ? 100 : packetId + 1) });
      else client.publish({ topic, payload: utf8(payload), qos: 0 });
    },
    log: (line) => log.push(line),
  });
  client = new MqttClient({
    openSocket: (callbacks) =>
      new TLSSocket({
        TCP: { io: null as never },
        address: "127.0.0.1",
        port: broker.port,
        host: "localhost",
        secure: {
          certificate: readFileSync(join(pki.dir, "ca.der")),
          clientCertificates: [readFileSync(join(resources, "device.der"))],
          clientKey: readFileSync(join(resources, "device-key.der")),
          serverName: "localhost",
          protocolVersion: 0x303,
        },
        ...callbacks,
      } as never) as never,
    writeReserve: 96,
    connect: { clientId: THING, keepAliveSeconds: 60, cleanSession: true },
    onConnected: () => {
      up = true;
      client!.subscribe(1, [...agent.subscriptions]);
    },
    onSuback: (id, grants) => {
      if (id === 1 && grants.every((g) => g < 0x80)) agent.subscribed();
      else log.push(`subscription refused: ${grants}`);
    },
    onMessage: ({ topic, payload }) => {
      if (!agent.handle(topic, payload)) log.push(`not routed: ${topic}`);
    },
    onClose: (reason) => {
      up = false;
      closed = true;
      log.push(`closed: ${reason}`);
    },
  });
  return {
    agent, applied, log,
    connected: () => up,
    stop: async () => {
      client?.disconnect();
      await until(() => closed, "the client closed", 5000).catch(() => client?.close("test stop"));
      await new Promise((r) => setTimeout(r, 30)); // the client's deferred socket close
    },
  };
}

const reports = () => double.requests.filter((r) => r.topic.endsWith("/update"));
const settle = () => new Promise((r) => setTimeout(r, 300));

test("shadow on the host target: created, changed, a refusal reported once, an offline change fetched at connect, kept across a restart", async () => {
  const alarms = { fault_after_s: 60, "max31865.temperature": { high: 90, clear_high: 88 } };
  let device = boot();
  try {
    expect(device.agent.loadProblem).toBeUndefined();
    expect(device.applied).toHaveLength(0);
    // No shadow yet: get/rejected 404, and the node's report creates it.
    await until(() => double.shadow?.reported.config_version === 0, "the first report");
    // config_error null is its absence in a shadow (a reported null removes the key).
    expect(double.shadow!.reported).toEqual({ config_version: 0 });

    // An operator's change: the delta is applied and reported; desired and reported then agree.
    double.setDesired({ flush_ms: 2000, alarms });
    await until(() => double.shadow!.reported.flush_ms === 2000, "the change reported");
    expect(device.applied).toHaveLength(1);
    expect(device.applied[0].settings.flushIntervalMs).toBe(2000);
    expect(double.shadow!.reported).toEqual({ flush_ms: 2000, alarms, config_version: 2 });

    // A refused change: reported as config_error beside the old document, once. The service answers
    // that report with a delta again (desired still differs); the node does not report it again.
    const before = reports().length;
    double.setDesired({ heartbeat_s: 5 });
    await until(() => typeof double.shadow!.reported.config_error === "string", "the refusal reported");
    await settle();
    expect(reports().length, device.log.join("\n")).toBe(before + 1);
    expect(String(double.shadow!.reported.config_error)).toContain("heartbeat_s");
    expect(double.shadow!.reported.flush_ms).toBe(2000);
    expect(double.shadow!.reported.heartbeat_s).toBeUndefined();
    expect(device.applied).toHaveLength(1);
    expect(device.agent.settings.heartbeatMs).toBe(60_000);

    // Corrected: applied, and the error cleared.
    double.setDesired({ heartbeat_s: 30 });
    await until(() => double.shadow!.reported.heartbeat_s === 30, "the correction reported");
    expect(double.shadow!.reported.config_error).toBeUndefined();
    expect(device.agent.settings.heartbeatMs).toBe(30_000);
  } finally {
    await device.stop();
  }

  // A change while the node is off: nobody receives its delta.
  double.setDesired({ batch_bytes: 1024, flush_ms: null });
  const version = double.shadow!.version;
  device = boot();
  try {
    // The stored configuration is in force before any connection...
    expect(device.applied).toHaveLength(1);
    expect(device.applied[0].settings.flushIntervalMs).toBe(2000);
    expect(device.applied[0].settings.heartbeatMs).toBe(30_000);
    // ...and the get at connect brings the change made while it was off.
    await until(() => device.agent.version === version, "the offline change applied");
    expect(device.agent.settings.maxBatchBytes).toBe(1024);
    expect(device.agent.settings.flushIntervalMs).toBe(5000);
    expect(device.agent.document).toEqual({ alarms, heartbeat_s: 30, batch_bytes: 1024 });
    await until(() => double.shadow!.reported.batch_bytes === 1024, "the offline change reported");
    expect(double.shadow!.reported.flush_ms, "removed from reported too").toBeUndefined();
    expect(double.shadow!.reported.config_version).toBe(version);
  } finally {
    await device.stop();
  }
}, 60_000);

test("shadow on the host target: a write cut short (the temporary file left behind) keeps the stored configuration", async () => {
  const stored = store.load();
  expect(stored).toBeDefined();
  // What a power cut during Preference.set leaves: a partial temporary file; the rename never happened.
  writeFileSync(join(flashDir, "preference.json.new"), '{"iiot":{"shadow":"{\\"version\\":99,\\"docu');
  const device = boot();
  try {
    expect(device.agent.loadProblem).toBeUndefined();
    expect(device.applied).toHaveLength(1);
    expect(JSON.parse(stored!).version).toBe(device.agent.version);
    // The next write replaces the leftover and the file.
    await until(() => device.agent.seenVersion > 0 && device.connected(), "connected and fetched");
    double.setDesired({ batch_bytes: 2048 });
    await until(() => device.agent.settings.maxBatchBytes === 2048, "applied");
    expect(existsSync(join(flashDir, "preference.json.new"))).toBe(false);
    expect(JSON.parse(store.load()!).document.batch_bytes).toBe(2048);
  } finally {
    await device.stop();
  }
}, 30_000);
