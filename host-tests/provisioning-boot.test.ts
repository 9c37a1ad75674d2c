// The firmware as shipped to a fleet: only a claim certificate. On its first boot (host target) it
// provisions itself against a local double of AWS's provisioning topics, stores its identity, and
// starts as the thing; the next boot uses that identity and never the claim again.

import { test, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { attachProvisioningDouble, type ProvisioningDouble } from "./support/provisioning-double.ts";
import { roguePki, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const ROOT = `factory/chicago/building-a/line-3/${THING}/`;
let pki: Pki;
let broker: EmbeddedBroker;
let double: ProvisioningDouble;
const lines: string[] = [];

beforeAll(async () => {
  traceSink.write = (text) => void lines.push(text);
  pki = roguePki("claim-device");
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  const claimDir = pki.resources("claim-device");
  double = attachProvisioningDouble(broker.aedes, { pkiDir: pki.dir, claimCertPem: readFileSync(join(claimDir, "device.pem"), "utf8"), templateName: "iiot-fleet", things: [THING] });
});

afterAll(async () => {
  double?.close();
  await broker?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  traceSink.write = (text) => void process.stdout.write(text);
});

test("first boot with a claim certificate: provisioned, then sampling and delivering as the thing; the next boot never uses the claim", { timeout: 60_000 }, async () => {
  const state = mkdtempSync(join(tmpdir(), "iiot-claim-"));
  const boot = () => bootFirmware({
    config: {
      thing: THING, topic_root: ROOT, broker_host: "localhost", broker_port: broker.port, sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0,
      // The resources hold the claim as device.der: the firmware as it leaves the factory.
      claim_cert: "device.der", claim_key: "device-key.der",
    },
    resources: pki.resources("claim-device"),
    state,
  });
  const responses: Record<string, unknown>[] = [];
  broker.aedes.on("publish", (packet, client) => {
    if (client && packet.topic === `${ROOT}response`) responses.push(JSON.parse(packet.payload.toString()));
  });
  const first = await boot();
  let rotated: Record<string, unknown> | undefined;
  try {
    await until(() => first.stats.readingsAcknowledged >= 3, `readings delivered after provisioning\n${lines.join("")}`, 30_000);
    // Rotation on request: the uplink closes, a new identity is made, tried and switched to, and the
    // node goes on delivering with it.
    const certificatesBefore = double.issued.size;
    const identitiesBefore = new Set(double.connections.map((c) => c.who));
    broker.aedes.publish({ cmd: "publish", topic: `${ROOT}command/rotate`, payload: Buffer.from(JSON.stringify({ id: "rot-1" })), qos: 1, retain: false, dup: false }, () => {});
    await until(() => responses.some((r) => (r.result as { event?: string } | undefined)?.event === "identity-rotated"), `the rotation reported\n${lines.join("")}`, 20_000);
    rotated = responses.find((r) => (r.result as { event?: string } | undefined)?.event === "identity-rotated");
    expect(responses.find((r) => r.id === "rot-1")).toMatchObject({ ok: true, result: { started: true } });
    expect(double.issued.size, "a new certificate was issued").toBe(certificatesBefore + 1);
    const delivered = first.stats.readingsAcknowledged;
    await until(() => first.stats.readingsAcknowledged > delivered + 2, "readings delivered with the new identity", 15_000);
    const uplinkAfter = double.connections.filter((c) => c.clientId === THING && c.admitted && !identitiesBefore.has(c.who));
    expect(uplinkAfter.length, "the node connected as the thing with a certificate it had not used before").toBeGreaterThan(1);
  } finally {
    await first.stop(2000);
  }
  const result = rotated!.result as { certificate: string; replaced: string };
  expect(result.certificate).not.toBe(result.replaced);
  expect(result.replaced, "the replaced certificate named by its AWS id (SHA-256 of its DER)").toMatch(/^[0-9a-f]{64}$/);
  const claimUses = double.connections.filter((c) => c.who === "claim").length;
  expect(claimUses, "the claim was used to provision").toBeGreaterThan(0);
  expect(double.connections.some((c) => c.who !== "claim" && c.clientId === THING && c.admitted), "connected as the thing with its own certificate").toBe(true);
  expect(lines.join("")).toMatch(/provisioning: done; starting as press-7/);

  const second = await boot();
  try {
    await until(() => second.stats.readingsAcknowledged >= 3, "readings delivered on the second boot", 20_000);
  } finally {
    await second.stop(2000);
  }
  expect(double.connections.filter((c) => c.who === "claim").length, "no claim connection on the second boot").toBe(claimUses);
});
