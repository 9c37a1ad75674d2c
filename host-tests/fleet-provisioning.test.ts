// Provisioning by claim and rotation on the host target: the firmware's provisioning machine, its
// MQTT client and the host TLS socket against the embedded broker with a local double of AWS's
// provisioning topics (real keys and certificates from an openssl CA in a temporary folder). A
// power cut at every flash step of the identity store ends, after a restart, with exactly one
// identity that the broker admits, and the claim is never used once the device had its own.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import mqtt from "mqtt";
import Timer from "timer";
import TLSSocket from "embedded:io/socket/tcp/tls";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { IdentityStore, type Identity } from "../src/fleet/identity-store.ts";
import { ProvisioningMachine, type Credentials } from "../src/fleet/provisioning.ts";
import { MqttProvisioningLink } from "../src/fleet/mqtt-link.ts";
import { SimNorFlash } from "../sim/nor-flash.ts";
import { random } from "./portable/api.ts";
import { roguePki, type Pki } from "./support/pki.ts";
import { attachProvisioningDouble, fingerprint, type ProvisioningDouble } from "./support/provisioning-double.ts";

const THING = "press-7";
const TEMPLATE = "iiot-fleet";
let pki: Pki;
let broker: EmbeddedBroker;
let double: ProvisioningDouble;
let ca: Buffer;
let claim: { certificate: Buffer; key: Buffer };

beforeAll(async () => {
  pki = roguePki("claim-device");
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  const claimDir = pki.resources("claim-device");
  claim = { certificate: readFileSync(join(claimDir, "device.der")), key: readFileSync(join(claimDir, "device-key.der")) };
  ca = readFileSync(join(pki.dir, "ca.der"));
  double = attachProvisioningDouble(broker.aedes, { pkiDir: pki.dir, claimCertPem: readFileSync(join(claimDir, "device.pem"), "utf8"), templateName: TEMPLATE, things: [THING] });
});

afterAll(async () => {
  double?.close();
  await broker?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

function openSocket(credentials: Credentials, callbacks: { onReadable(n: number): void; onWritable(n: number): void; onError(): void }) {
  const identity = credentials.kind === "claim" ? claim : { certificate: credentials.identity.certificate, key: credentials.identity.key };
  return new TLSSocket({
    TCP: { io: null as never },
    address: "127.0.0.1",
    port: broker.port,
    host: "localhost",
    secure: { certificate: ca, clientCertificates: [identity.certificate], clientKey: identity.key, serverName: "localhost", protocolVersion: 0x303 },
    ...callbacks,
  } as never) as unknown as { read(): ArrayBuffer | undefined; write(b: Uint8Array): number | undefined; close(): void };
}

/** One boot's provisioning: runs until done or failed, or until the flash loses power. */
async function boot(flash: SimNorFlash, mode: "claim" | "rotate", log: string[]): Promise<{ phase: string; powerLost: boolean }> {
  let powerLost = false;
  const device = {
    byteLength: flash.byteLength, blockSize: flash.blockSize,
    read: (o: number, n: number) => flash.read(o, n),
    write: (o: number, d: Uint8Array) => guard(() => flash.write(o, d)),
    erase: (s: number) => guard(() => flash.erase(s)),
  };
  function guard(step: () => void) {
    try {
      step();
    } catch (error) {
      if ((error as Error).name === "PowerLoss") powerLost = true;
      throw error;
    }
  }
  const store = new IdentityStore(device);
  const link = new MqttProvisioningLink({ openSocket, writeReserve: 96, keepAliveSeconds: 60 });
  const machine = new ProvisioningMachine({
    store, link, mode, thingName: THING, templateName: TEMPLATE,
    parameters: { Site: "chicago", Building: "building-a", Line: "line-3" },
    timers: { set: (cb, ms) => Timer.set(cb, ms), clear: (t) => Timer.clear(t as Timer) },
    nowSeconds: () => Math.floor(Date.now() / 1000),
    retryDelayMs: () => 200,
    responseTimeoutMs: 5000,
    report: (line) => log.push(line),
  });
  link.machine = machine;
  try {
    try {
      machine.start();
    } catch (error) {
      if ((error as Error).name !== "PowerLoss") throw error;
    }
    const deadline = Date.now() + 20_000;
    while (!powerLost && machine.phase !== "done" && machine.phase !== "failed") {
      if (Date.now() > deadline) throw new Error(`provisioning did not finish: ${machine.phase}\n${log.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { phase: machine.phase, powerLost };
  } finally {
    machine.stop();
    await new Promise((r) => setTimeout(r, 30)); // the client's deferred socket close
  }
}

/** Whether the broker admits this identity as the thing (an independent MQTT.js client). */
async function admitted(identity: Identity): Promise<boolean> {
  const cert = new X509Certificate(Buffer.from(identity.certificate)).toString();
  const key = createPrivateKey({ key: Buffer.from(identity.key), format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" });
  const client = mqtt.connect(`mqtts://localhost:${broker.port}`, {
    clientId: THING, ca: readFileSync(join(pki.dir, "ca.pem")), cert, key, reconnectPeriod: 0, connectTimeout: 5000,
  });
  try {
    return await new Promise<boolean>((resolve) => {
      client.once("connect", () => resolve(true));
      client.once("error", () => resolve(false));
      client.once("close", () => resolve(false));
    });
  } finally {
    client.end(true);
  }
}

const newFlash = (seed: number) => new SimNorFlash({ byteLength: 2 * 4096, blockSize: 4096, random: random(seed) });

test("provisioning by claim on the host target: a new identity the broker admits, the claim never again", async () => {
  const flash = newFlash(1);
  const log: string[] = [];
  const first = await boot(flash, "claim", log);
  expect(first.phase, log.join("\n")).toBe("done");
  const identity = new IdentityStore(flash).active()!;
  expect(identity).toBeDefined();
  expect(await admitted(identity)).toBe(true);
  const claimUses = double.connections.filter((c) => c.who === "claim").length;
  expect(claimUses).toBeGreaterThan(0);
  // The next boot does nothing: no claim connection.
  expect((await boot(flash, "claim", log)).phase).toBe("done");
  expect(double.connections.filter((c) => c.who === "claim").length).toBe(claimUses);
  // Rotation over the device's own connection: generation 2, admitted, and the old one asked nothing of the claim.
  expect((await boot(flash, "rotate", log)).phase, log.join("\n")).toBe("done");
  const rotated = new IdentityStore(flash).active()!;
  expect(rotated.generation).toBe(2);
  expect(await admitted(rotated)).toBe(true);
  expect(double.connections.filter((c) => c.who === "claim").length).toBe(claimUses);
}, 60_000);

for (const mode of ["claim", "rotate"] as const) {
  test(`${mode}: a power cut at every flash step leaves exactly one identity the broker admits`, async () => {
    // An uninterrupted run writes erase + program + registered + committed: four steps.
    for (let cut = 1; cut <= 4; cut++) {
      const flash = newFlash(10 + cut);
      const log: string[] = [];
      if (mode === "rotate") expect((await boot(flash, "claim", log)).phase).toBe("done");
      const old = new IdentityStore(flash).active();
      flash.cutAfter(cut);
      const cutRun = await boot(flash, mode, log);
      expect(cutRun.powerLost, `cut ${cut}: the power went\n${log.join("\n")}`).toBe(true);
      flash.powerOn();
      const afterCut = new IdentityStore(flash).active();
      if (mode === "rotate") {
        expect(afterCut, `cut ${cut}: the old or the new identity right after the cut`).toBeDefined();
        expect(await admitted(afterCut!), `cut ${cut}: that identity works`).toBe(true);
      }
      const claimBefore = double.connections.filter((c) => c.who === "claim").length;
      const resumed = await boot(flash, mode, log);
      expect(resumed.phase, `cut ${cut}\n${log.join("\n")}`).toBe("done");
      const store = new IdentityStore(flash);
      const final = store.active()!;
      expect(store.candidate(), `cut ${cut}: nothing left waiting`).toBeUndefined();
      expect(await admitted(final), `cut ${cut}: the final identity works`).toBe(true);
      if (old) expect(final.generation).toBe(old.generation + 1);
      if (afterCut) expect(double.connections.filter((c) => c.who === "claim").length, `cut ${cut}: claim after own identity`).toBe(claimBefore);
      void fingerprint;
    }
  }, 120_000);
}
