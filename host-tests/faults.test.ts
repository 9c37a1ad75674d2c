// The firmware against a real Mosquitto that fails: killed with -9 and restarted, connections cut
// mid-packet by a proxy, connections refused, and another client taking the same client id. An
// independent subscriber with a persistent session checks that, after dropping duplicates by
// sequence number, every reading arrived, in order, with few duplicates.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { startMosquitto, freePort, type Mosquitto } from "./support/mosquitto.ts";
import { startCuttingProxy } from "./support/cutting-proxy.ts";
import { devPki, SUBSCRIBER } from "./support/pki.ts";
import { subscribe } from "./support/subscriber.ts";
import { random } from "./portable/api.ts";

const THING = "press-7";
const WINDOW = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("faults: kill -9, cuts mid-packet, refusals and a duplicate client id lose no reading", async () => {
  const pki = devPki(THING, SUBSCRIBER);
  const log: string[] = [];
  traceSink.write = (text) => void log.push(text);
  const port = await freePort();
  let broker: Mosquitto = await startMosquitto({ certsDir: pki.dir, port });
  const proxy = await startCuttingProxy(port, random(99));
  const sub = await subscribe({ port, tls: pki.tlsOptions(SUBSCRIBER), topic: `faults/${THING}/telemetry`, clientId: `${SUBSCRIBER}-faults`, persistent: true });
  const node = await bootFirmware({
    config: {
      thing: THING, topic_root: `faults/${THING}/`, broker_address: "127.0.0.1", broker_port: proxy.port, broker_name: "localhost",
      sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0, backoff_base_ms: 200, backoff_cap_ms: 1500, inflight: WINDOW,
      duplicate_backoff_ms: 2000,
    },
    resources: pki.resources(THING),
    state: mkdtempSync(join(tmpdir(), "iiot-faults-")),
  });
  const outages: string[] = [];
  try {
    await sleep(2000);

    outages.push("kill -9");
    await broker.kill();
    await sleep(1500);
    broker = await startMosquitto({ certsDir: pki.dir, port });
    await sleep(2500);

    outages.push("cuts");
    proxy.mode = { kind: "cut", minBytes: 40, maxBytes: 2500 }; // mostly inside the TLS handshake
    proxy.cutAll();
    await sleep(2500);
    proxy.mode = { kind: "cut", minBytes: 3000, maxBytes: 7000 }; // mostly inside PUBLISHes and PUBACKs
    proxy.cutAll();
    await sleep(8000);
    proxy.mode = { kind: "pass" };
    proxy.cutAll();
    await sleep(2500);

    outages.push("refused");
    proxy.mode = { kind: "refuse" };
    proxy.cutAll();
    await sleep(2500);
    proxy.mode = { kind: "pass" };
    await sleep(3000);

    outages.push("duplicate client id");
    const intruder = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ...pki.tlsOptions(SUBSCRIBER), clientId: THING, servername: "localhost", reconnectPeriod: 150, connectTimeout: 3000,
    });
    await sleep(3000);
    await intruder.endAsync(true);
    await sleep(4000);
  } finally {
    var stats = await node.stop(8000);
    await sub.waitForReadings(stats.sampled, 5000);
    await sub.close();
    await proxy.close();
    await broker.stop();
    traceSink.write = (text) => void process.stdout.write(text);
  }
  const text = log.join("");
  if (process.env.FAULTS_VERBOSE) process.stderr.write(`${text}\ncuts=${proxy.cuts} reconnects=${stats.reconnects} docs=${sub.docs.length}\n`);
  assert.ok(proxy.cuts >= 5, `the proxy cut or refused ${proxy.cuts} connections`);
  assert.ok(stats.reconnects >= 4, `reconnects ${stats.reconnects}\n${text}`);
  assert.match(text, /another client with this id/, "the duplicate client id was noticed");

  // Dedupe by sequence number, keeping first arrival: every reading, in order.
  const firstSeen: number[] = [];
  const seen = new Set<number>();
  let duplicateBatches = 0;
  for (const doc of sub.docs) {
    const seqs = doc.readings.map((r) => r.seq);
    if (seqs.every((s) => seen.has(s))) duplicateBatches++;
    for (const s of seqs) if (!seen.has(s)) {
      seen.add(s);
      firstSeen.push(s);
    }
  }
  const expected = Array.from({ length: stats.sampled }, (_, i) => i);
  assert.deepEqual([...seen].sort((a, b) => a - b), expected, `readings_lost = ${stats.sampled - seen.size}\n${text}`);
  assert.deepEqual(firstSeen, expected, "in order after dropping duplicates");
  assert.ok(duplicateBatches <= WINDOW * stats.reconnects, `${duplicateBatches} duplicate batches over ${stats.reconnects} reconnects, window ${WINDOW}`);
  assert.equal(stats.pending, 0);
  assert.equal(stats.dropped + stats.notStored, 0);
});
