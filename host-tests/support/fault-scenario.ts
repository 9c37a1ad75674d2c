// The fault scenario shared by host-tests/faults.test.ts and `npm run bench -- session`: the firmware
// against a real Mosquitto that is killed with -9 and restarted, a proxy that cuts connections
// mid-packet and refuses them, and another client taking the same client id. An independent
// subscriber with a persistent session records what arrives.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { bootFirmware } from "../../host/firmware.ts";
import { traceSink } from "../../host/moddable/runtime.ts";
import type { NodeStats } from "../../src/app.ts";
import { startMosquitto, freePort, type Mosquitto } from "./mosquitto.ts";
import { startCuttingProxy } from "./cutting-proxy.ts";
import { devPki, SUBSCRIBER } from "./pki.ts";
import { subscribe, type TelemetryDoc } from "./subscriber.ts";
import { random } from "../portable/api.ts";
import { until } from "./until.ts";

const THING = "press-7";

export interface FaultScenarioResult {
  stats: NodeStats;
  /** Batches published in the fresh lane, ahead of a backlog. */
  freshLaneBatches: number;
  docs: TelemetryDoc[];
  cuts: number;
  log: string;
  window: number;
}

export async function runFaultScenario(options: { window: number; seed: number }): Promise<FaultScenarioResult> {
  const pki = devPki(THING, SUBSCRIBER);
  const log: string[] = [];
  traceSink.write = (text) => void log.push(text);
  const port = await freePort();
  let broker: Mosquitto = await startMosquitto({ certsDir: pki.dir, port });
  const proxy = await startCuttingProxy(port, random(options.seed));
  const sub = await subscribe({ port, tls: pki.tlsOptions(SUBSCRIBER), topic: `faults/${THING}/telemetry`, clientId: `${SUBSCRIBER}-faults`, persistent: true });
  const node = await bootFirmware({
    config: {
      thing: THING, topic_root: `faults/${THING}/`, broker_host: "localhost", broker_port: proxy.port,
      sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0, backoff_base_ms: 200, backoff_cap_ms: 1500, inflight: options.window,
      duplicate_backoff_ms: 2000,
    },
    resources: pki.resources(THING),
    state: mkdtempSync(join(tmpdir(), "iiot-faults-")),
  });
  let stats: NodeStats;
  // Each stage waits for what it is about (readings kept, connections cut, the backlog delivered),
  // not for a duration: a slow machine takes longer, never less.
  const caughtUp = () => node.stats.pending <= 3;
  const logText = () => log.join("");
  try {
    await until(() => node.stats.readingsAcknowledged >= 5, "the first readings acknowledged");
    // 1. The broker crashes and comes back on the same port (without the sessions: no persistence).
    await broker.kill();
    proxy.mode = { kind: "refuse" }; // the node stays out until the subscriber has subscribed again
    const keptBefore = node.stats.pending;
    await until(() => node.stats.pending >= keptBefore + 5, "readings kept in flash while the broker is down");
    const subscribed = sub.subscriptions;
    broker = await startMosquitto({ certsDir: pki.dir, port });
    await until(() => sub.subscriptions > subscribed, "the subscriber back on the restarted broker", 30_000);
    proxy.mode = { kind: "pass" };
    await until(() => node.stats.reconnects >= 1 && caughtUp(), "a reconnect and the backlog delivered", 30_000);
    // 2. Connections cut after a random number of bytes.
    let cuts = proxy.cuts;
    proxy.mode = { kind: "cut", minBytes: 40, maxBytes: 2500 }; // mostly inside the TLS handshake
    proxy.cutAll();
    await until(() => proxy.cuts >= cuts + 3, "connections cut in the handshake", 30_000);
    cuts = proxy.cuts;
    proxy.mode = { kind: "cut", minBytes: 3000, maxBytes: 7000 }; // mostly inside PUBLISHes and PUBACKs
    proxy.cutAll();
    await until(() => proxy.cuts >= cuts + 3, "connections cut mid-exchange", 60_000);
    let reconnects = node.stats.reconnects;
    proxy.mode = { kind: "pass" };
    proxy.cutAll();
    await until(() => node.stats.reconnects > reconnects && caughtUp(), "the backlog delivered after the cuts", 30_000);
    // 3. Connections refused for a while.
    cuts = proxy.cuts;
    proxy.mode = { kind: "refuse" };
    proxy.cutAll();
    await until(() => proxy.cuts >= cuts + 2, "connections refused", 30_000);
    reconnects = node.stats.reconnects;
    proxy.mode = { kind: "pass" };
    await until(() => node.stats.reconnects > reconnects && caughtUp(), "the backlog delivered after the refusals", 30_000);
    // 4. Another client takes the thing's client id, again and again, then gives up.
    const intruder = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ...pki.tlsOptions(SUBSCRIBER), clientId: THING, servername: "localhost", reconnectPeriod: 150, connectTimeout: 3000,
    });
    try {
      await until(() => /another client with this id/.test(logText()), "the node to suspect a duplicate client id", 30_000);
    } finally {
      await intruder.endAsync(true);
    }
    reconnects = node.stats.reconnects;
    await until(() => node.stats.reconnects > reconnects && caughtUp(), "the node back after the intruder left", 60_000);
  } finally {
    stats = await node.stop(8000);
    await sub.waitForReadings(stats.sampled, 5000);
    await sub.close();
    await proxy.close();
    await broker.stop();
    traceSink.write = (text) => void process.stdout.write(text);
  }
  const text = log.join("");
  const freshLaneBatches = (text.match(/^fresh readings ahead/gm) ?? []).length;
  return { stats, docs: sub.docs, cuts: proxy.cuts, log: text, window: options.window, freshLaneBatches };
}

/**
 * What the subscriber saw after dropping duplicates by sequence number. Arrival order may step back
 * once after each fresh-lane batch (fresh readings overtake a backlog by design); any other step back
 * is disorder. freshLaneBatches comes from the device's log.
 */
export function dedupe(docs: TelemetryDoc[], sampled: number, freshLaneBatches = 0) {
  const firstSeen: number[] = [];
  const seen = new Set<number>();
  const contents = new Map<string, number>();
  let duplicateBatches = 0;
  let duplicateReadings = 0;
  let duplicatesAfterDedupe = 0;
  for (const doc of docs) {
    const seqs = doc.readings.map((r) => r.seq);
    if (seqs.every((s) => seen.has(s))) duplicateBatches++;
    for (const reading of doc.readings) {
      if (seen.has(reading.seq)) {
        duplicateReadings++;
        continue;
      }
      seen.add(reading.seq);
      firstSeen.push(reading.seq);
      // The same sample under another sequence number would slip past a sink's dedupe.
      const { seq: _seq, ...content } = reading;
      const key = JSON.stringify(content);
      if (contents.has(key)) duplicatesAfterDedupe++;
      contents.set(key, reading.seq);
    }
  }
  let lost = 0;
  for (let s = 0; s < sampled; s++) if (!seen.has(s)) lost++;
  let stepsBack = 0;
  for (let i = 1; i < firstSeen.length; i++) if (firstSeen[i] < firstSeen[i - 1]) stepsBack++;
  const disordered = Math.max(0, stepsBack - freshLaneBatches);
  return { lost, disordered, duplicateBatches, duplicateReadings, duplicatesAfterDedupe, received: seen.size };
}
