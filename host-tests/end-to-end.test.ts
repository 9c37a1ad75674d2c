// The firmware on the host target against the embedded broker and a real Mosquitto, both requiring
// client certificates from the dev CA. An independent MQTT.js subscriber checks what arrives.

import { test, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { startMosquitto } from "./support/mosquitto.ts";
import { devPki, roguePki, SUBSCRIBER, type Pki } from "./support/pki.ts";
import { subscribe, tryConnect } from "./support/subscriber.ts";
import { stopWhenFinished } from "./support/stop-when-finished.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const TOPIC = `iiot-test/${THING}/telemetry`;
let pki: Pki;
let rogue: Pki;
const firmwareLog: string[] = [];

beforeAll(() => {
  pki = devPki(THING, SUBSCRIBER);
  rogue = roguePki(THING);
  traceSink.write = (text) => void firmwareLog.push(text);
});
afterAll(() => {
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

async function runFirmware(port: number, resources: string, state = mkdtempSync(join(tmpdir(), "iiot-state-"))) {
  return stopWhenFinished(await bootFirmware({
    config: {
      thing: THING, topic_root: `iiot-test/${THING}/`, broker_host: "localhost", broker_port: port,
      sample_ms: 200, flush_ms: 600, startup_jitter_ms: 0,
    },
    resources,
    state,
  }));
}

for (const [kind, start] of Object.entries(brokers)) {
  test(`${kind}: every reading arrives once, in sequence order, over mutual TLS`, async () => {
    const broker = await start();
    try {
      const sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-${kind}` });
      const node = await runFirmware(broker.port, pki.resources(THING));
      await until(() => node.stats.readingsAcknowledged >= 10, "10 readings acknowledged");
      const stats = await node.stop(5000);
      expect(stats.sampled >= 10, `sampled ${stats.sampled}`).toBeTruthy();
      expect(stats.readingsAcknowledged, `every reading acknowledged\n${firmwareLog.join("")}`).toBe(stats.sampled);
      expect(stats.acknowledged).toBe(stats.published);
      await sub.waitForReadings(stats.sampled, 5000);
      await sub.close();
      const seqs = sub.docs.flatMap((d) => d.readings.map((r) => r.seq));
      expect(seqs, "each reading once, in order").toStrictEqual(Array.from({ length: stats.sampled }, (_, i) => i));
      const boots = new Set(sub.docs.map((d) => `${d.device}/${d.boot}`));
      expect([...boots]).toStrictEqual([`${THING}/1`]);
      for (const d of sub.docs) for (const r of d.readings) {
        const sht3x = r.sht3x as { temperature?: number; humidity?: number; quality?: string };
        expect(sht3x.quality, `reading ${r.seq} is good: ${JSON.stringify(r)}`).toBe(undefined);
        expect(typeof sht3x.temperature).toBe("number");
        expect(typeof sht3x.humidity).toBe("number");
      }
      // The settle read before it let the MAX31865 finish its start-up lead check and first conversion.
      const first = sub.docs[0].readings[0];
      expect(first.max31865, `the first window holds a value: ${JSON.stringify(first)}`).toStrictEqual({ temperature: expect.any(Number) });
    } finally {
      await broker.stop();
    }
  });

  test(`${kind}: clients without a certificate or with one from another CA are refused`, async () => {
    const broker = await start();
    try {
      const { ca } = pki.tlsOptions(SUBSCRIBER);
      expect(await tryConnect(broker.port, { ca }), "no client certificate").not.toBe("connected");
      const foreign = rogue.tlsOptions(THING);
      expect(await tryConnect(broker.port, { ca, cert: foreign.cert, key: foreign.key }), "certificate from another CA").not.toBe("connected");
      expect(await tryConnect(broker.port, pki.tlsOptions(SUBSCRIBER)), "control: the dev CA's certificate gets in").toBe("connected");

      // The firmware itself, trusting the right CA but holding a foreign certificate: refused,
      // the reason reported, sampling goes on.
      const mixed = mkdtempSync(join(tmpdir(), "iiot-foreign-identity-"));
      copyFileSync(join(pki.resources(THING), "ca.der"), join(mixed, "ca.der"));
      for (const f of ["device.der", "device-key.der"]) copyFileSync(join(rogue.resources(THING), f), join(mixed, f));
      const intruder = await runFirmware(broker.port, mixed);
      // Refused (the reason recorded) while sampling goes on.
      await until(() => intruder.stats.sampled >= 8 && intruder.stats.lastError !== "", "8 samples and a refused connection");
      const stats = await intruder.stop(0);
      expect(stats.connects).toBe(0);
      expect(stats.readingsAcknowledged).toBe(0);
      expect(stats.lastError).toMatch(/socket error|closed/);
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
    for (let i = 1; i < seqs.length; i++) expect(seqs[i] > seqs[i - 1], `in order within a connection: ${seqs}`).toBeTruthy();
    for (const seq of seqs) received.set(seq, (received.get(seq) ?? 0) + 1);
  };

  // Online for a while, then the broker goes away and the node keeps sampling, then loses power.
  let broker = await startEmbeddedBroker({ certsDir: pki.dir });
  let sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-outage-1` });
  let node = await runFirmware(broker.port, pki.resources(THING), state);
  await until(() => node.stats.readingsAcknowledged >= 3, "3 readings acknowledged");
  await sub.close();
  await broker.close();
  const waitingAtOutage = node.stats.pending;
  await until(() => node.stats.pending >= waitingAtOutage + 5, "5 more readings kept in flash");
  const first = await node.stop(0);
  expect(first.pending >= 5, `readings waiting in flash: ${first.pending}`).toBeTruthy();
  expect(first.dropped + first.notStored).toBe(0);
  collect(sub);

  // Power comes back with a broker: the backlog goes out first, then fresh readings.
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: TOPIC, clientId: `${SUBSCRIBER}-outage-2` });
  node = await runFirmware(broker.port, pki.resources(THING), state);
  await until(() => node.stats.readingsAcknowledged >= first.pending + 3, "the backlog and 3 fresh readings acknowledged");
  const second = await node.stop(5000);
  await sub.waitForReadings(first.sampled + second.sampled - received.size, 5000);
  await sub.close();
  await broker.close();
  collect(sub);
  expect(second.pending, "everything acknowledged in the end").toBe(0);
  const total = first.sampled + second.sampled;
  expect([...received.keys()].sort((a, b) => a - b), "every reading of both boots arrived").toStrictEqual(Array.from({ length: total }, (_, i) => i));
  expect(new Set(sub.docs.map((d) => d.boot)), "the second boot has its own boot id").toStrictEqual(new Set([2]));
});
