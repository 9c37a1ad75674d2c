// The firmware on the host target against the embedded broker and a real Mosquitto, both requiring
// client certificates from the dev CA. An independent MQTT.js subscriber checks what arrives.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { startMosquitto } from "./support/mosquitto.ts";
import { devPki, roguePki, SUBSCRIBER, type Pki } from "./support/pki.ts";
import { subscribe, tryConnect } from "./support/subscriber.ts";

const THING = "press-7";
const TOPIC = `iiot-test/${THING}/telemetry`;
let pki: Pki;
let rogue: Pki;
const firmwareLog: string[] = [];

before(() => {
  pki = devPki(THING, SUBSCRIBER);
  rogue = roguePki(THING);
  traceSink.write = (text) => void firmwareLog.push(text);
});
after(() => {
  traceSink.write = (text) => void process.stdout.write(text);
});

interface Broker {
  port: number;
  stop(): Promise<void>;
}

const brokers: Record<string, () => Promise<Broker>> = {
  embedded: async () => {
    const b = await startEmbeddedBroker({ certsDir: pki.dir });
    return { port: b.port, stop: b.close };
  },
  mosquitto: () => startMosquitto({ certsDir: pki.dir }),
};

function runFirmware(port: number, resources: string, state = mkdtempSync(join(tmpdir(), "iiot-state-"))) {
  return bootFirmware({
    config: {
      thing: THING, topic_root: `iiot-test/${THING}/`, broker_address: "127.0.0.1", broker_port: port,
      broker_name: "localhost", sample_ms: 200, flush_ms: 600, startup_jitter_ms: 0,
    },
    resources,
    state,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [kind, start] of Object.entries(brokers)) {
  test(`${kind}: every reading arrives once, in sequence order, over mutual TLS`, async () => {
    const broker = await start();
    try {
      const sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-${kind}` });
      const node = await runFirmware(broker.port, pki.resources(THING));
      await sleep(3000);
      const stats = await node.stop(5000);
      assert.ok(stats.sampled >= 10, `sampled ${stats.sampled}`);
      assert.equal(stats.readingsAcknowledged, stats.sampled, `every reading acknowledged\n${firmwareLog.join("")}`);
      assert.equal(stats.acknowledged, stats.published);
      await sub.waitForReadings(stats.sampled, 5000);
      await sub.close();
      const seqs = sub.docs.flatMap((d) => d.readings.map((r) => r.seq));
      assert.deepEqual(seqs, Array.from({ length: stats.sampled }, (_, i) => i), "each reading once, in order");
      const boots = new Set(sub.docs.map((d) => `${d.device}/${d.boot}`));
      assert.deepEqual([...boots], [`${THING}/1`]);
      for (const d of sub.docs) for (const r of d.readings) {
        const sht3x = r.sht3x as { temperature?: number; humidity?: number; quality?: string };
        assert.equal(sht3x.quality, undefined, `reading ${r.seq} is good: ${JSON.stringify(r)}`);
        assert.equal(typeof sht3x.temperature, "number");
        assert.equal(typeof sht3x.humidity, "number");
      }
    } finally {
      await broker.stop();
    }
  });

  test(`${kind}: clients without a certificate or with one from another CA are refused`, async () => {
    const broker = await start();
    try {
      const { ca } = pki.tlsOptions(SUBSCRIBER);
      assert.notEqual(await tryConnect(broker.port, { ca }), "connected", "no client certificate");
      const foreign = rogue.tlsOptions(THING);
      assert.notEqual(await tryConnect(broker.port, { ca, cert: foreign.cert, key: foreign.key }), "connected", "certificate from another CA");
      assert.equal(await tryConnect(broker.port, pki.tlsOptions(SUBSCRIBER)), "connected", "control: the dev CA's certificate gets in");

      // The firmware itself, trusting the right CA but holding a foreign certificate: refused,
      // the reason reported, sampling goes on.
      const mixed = mkdtempSync(join(tmpdir(), "iiot-foreign-identity-"));
      copyFileSync(join(pki.resources(THING), "ca.der"), join(mixed, "ca.der"));
      for (const f of ["device.der", "device-key.der"]) copyFileSync(join(rogue.resources(THING), f), join(mixed, f));
      const intruder = await runFirmware(broker.port, mixed);
      await sleep(2500);
      const stats = await intruder.stop(0);
      assert.ok(stats.sampled >= 8, `sampling continued (${stats.sampled})`);
      assert.equal(stats.connects, 0);
      assert.equal(stats.readingsAcknowledged, 0);
      assert.match(stats.lastError, /socket error|closed/);
    } finally {
      await broker.stop();
    }
  });
}

test("embedded: readings taken while the broker is down wait in flash and arrive in order after a restart", async () => {
  const state = mkdtempSync(join(tmpdir(), "iiot-state-"));
  const received = new Map<number, number>();
  const collect = (sub: Awaited<ReturnType<typeof subscribe>>) => {
    const seqs = sub.docs.flatMap((d) => d.readings.map((r) => r.seq));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `in order within a connection: ${seqs}`);
    for (const seq of seqs) received.set(seq, (received.get(seq) ?? 0) + 1);
  };

  // Online for a while, then the broker goes away and the node keeps sampling, then loses power.
  let broker = await startEmbeddedBroker({ certsDir: pki.dir });
  let sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-outage-1` });
  let node = await runFirmware(broker.port, pki.resources(THING), state);
  await sleep(1500);
  await sub.close();
  await broker.close();
  await sleep(2000);
  const first = await node.stop(0);
  assert.ok(first.pending >= 5, `readings waiting in flash: ${first.pending}`);
  assert.equal(first.dropped + first.notStored, 0);
  collect(sub);

  // Power comes back with a broker: the backlog goes out first, then fresh readings.
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-outage-2` });
  node = await runFirmware(broker.port, pki.resources(THING), state);
  await sleep(1500);
  const second = await node.stop(5000);
  await sub.waitForReadings(first.sampled + second.sampled - received.size, 5000);
  await sub.close();
  await broker.close();
  collect(sub);
  assert.equal(second.pending, 0, "everything acknowledged in the end");
  const total = first.sampled + second.sampled;
  assert.deepEqual([...received.keys()].sort((a, b) => a - b), Array.from({ length: total }, (_, i) => i), "every reading of both boots arrived");
  assert.deepEqual(new Set(sub.docs.map((d) => d.boot)), new Set([2]), "the second boot has its own boot id");
});
