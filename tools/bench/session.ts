// Figures for the MQTT session: what survives the fault scenario against a real Mosquitto,
// how close replaying an hour of backlog comes to AWS IoT's per-connection limits, and how hard 200
// devices hit a restarted broker with jittered backoff versus a fixed retry period.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import TLSSocket from "../../host/moddable/tls";
import TCP from "../../host/moddable/tcp";
import { Uplink } from "../../src/uplink";
import { FlashLog } from "../../src/log/flash-log";
import { encodeReport } from "../../src/telemetry/reading";
import { ReconnectSchedule, FixedPeriodSchedule } from "../../src/session/reconnect-schedule";
import { PublishLimiter, AWS_PUBLISH_LIMITS } from "../../src/session/publish-limiter";
import { SimNorFlash } from "../../sim/nor-flash";
import { dedupe, runFaultScenario } from "../../host-tests/support/fault-scenario";
import { startMosquitto } from "../../host-tests/support/mosquitto";
import { devPki } from "../../host-tests/support/pki";
import { random } from "../../host-tests/portable/api";
import { referenceWindow } from "./workload";
import type { Figure } from "./report.ts";

export async function sessionFigures(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const add = (name: string, value: number, unit: string, note = "") => figures.push({ name: `session.${name}`, value, unit, note });

  // 1. The fault scenario: kill -9 + restart, cuts mid-packet, refusals, duplicate client id.
  const run = await runFaultScenario({ window: 4, seed: 7 });
  const seen = dedupe(run.docs, run.stats.sampled, run.freshLaneBatches);
  add("readings_lost", seen.lost, "readings", `of ${run.stats.sampled} sampled through kill -9, ${run.cuts} cut/refused connections, a duplicate client id`);
  add("duplicates_after_dedupe", seen.duplicatesAfterDedupe, "readings", "the same sample under two sequence numbers (what dedupe by seq cannot remove)");
  add("duplicate_batches", seen.duplicateBatches, "batches", `resent and delivered twice over ${run.stats.reconnects} reconnects (in-flight window ${run.window})`);
  add("disordered_after_dedupe", seen.disordered, "readings", `first arrivals out of sequence order, beyond the ${run.freshLaneBatches} fresh-lane batches that overtook a backlog by design`);

  // 2. Replay of one hour of the reference device with the AWS limiter on, against Mosquitto.
  const drain = await drainBacklog(3600);
  add("drain_seconds_1h", round(drain.seconds, 2), "s", `${drain.messages} publishes, ${Math.round(drain.bytes / 1024)} KiB, in-flight window 10`);
  add("drain_lower_bound_1h", round(drain.bound, 2), "s", "max(bytes / 512 KiB/s, messages / 100 per s)");
  add("drain_ratio", round(drain.seconds / drain.bound, 3), "ratio", "drain time / lower bound (at most 1.25 wanted)");

  // 3. 200 devices after a broker restart that keeps the broker down 30 s: the real schedule classes,
  // stepped in simulated time (10 ms), since 200 TLS clients on one 2-core machine measure the machine.
  const jittered = storm(() => new ReconnectSchedule({ startupJitterMs: 0 }, rng()));
  const fixed = storm(() => new FixedPeriodSchedule(5000));
  add("storm_peak_connects_per_s", jittered.peak, "connects/s", `200 devices, broker back after 30 s, full-jitter backoff (base 1 s, cap 300 s): peak CONNECTs per second on the live broker; all back after ${jittered.allConnectedS} s (simulated schedule)`);
  add("storm_peak_connects_per_s_fixed_5s", fixed.peak, "connects/s", `same devices retrying every 5 s (ESPHome-style); all back after ${fixed.allConnectedS} s`);
  return figures;
}

let seed = 1;
function rng(): () => number {
  return random(seed++);
}

/** A discrete-time run of the real schedules: the broker is down for downS seconds, then up. */
function storm(make: () => { atPowerUp(): { delayMs: number }; attempting(t: number): void; connected(t: number): void; closed(t: number): { delayMs: number } }, downS = 30) {
  const devices = Array.from({ length: 200 }, () => ({ schedule: make(), next: 0, done: false }));
  // Everyone was connected and the broker restarted at t=0: each device's connection just closed.
  for (const d of devices) d.next = d.schedule.closed(0).delayMs;
  const perSecond = new Map<number, number>();
  let lastConnect = 0;
  for (let t = 0; t < 3_600_000 && devices.some((d) => !d.done); t += 10) {
    for (const d of devices) {
      if (d.done || d.next > t) continue;
      d.schedule.attempting(t);
      if (t >= downS * 1000) {
        // Attempts against the live broker are the storm it has to absorb (TLS handshakes, sessions).
        const second = Math.floor(t / 1000);
        perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
        d.schedule.connected(t);
        d.done = true;
        lastConnect = t;
      } else d.next = t + d.schedule.closed(t).delayMs;
    }
  }
  return { peak: Math.max(...perSecond.values()), allConnectedS: Math.round(lastConnect / 1000) };
}

async function drainBacklog(windows: number) {
  const pki = devPki("press-7");
  const broker = await startMosquitto({ certsDir: pki.dir });
  const log = new FlashLog(new SimNorFlash({ byteLength: 512 * 4096 }));
  const start = Date.now() - windows * 1000;
  for (let t = 0; t < windows; t++) log.append(encodeReport(start + t * 1000, referenceWindow(t)));
  const der = (name: string) => readFileSync(join(pki.resources("press-7"), name));
  const secure = { certificate: der("ca.der"), clientCertificates: [der("device.der")], clientKey: der("device-key.der"), serverName: "localhost" };
  let connectedAt = 0;
  const uplink = new Uplink({
    log, device: "press-7", boot: 1, firmware: "bench",
    broker: { lookup: (done) => done({ address: "127.0.0.1" }), cancel() {} },
    openSocket: (callbacks, address) => new TLSSocket({ TCP: { io: TCP }, address, port: broker.port, host: "localhost", secure, ...callbacks }),
    writeReserve: 96,
    connect: { clientId: "press-7-drain", keepAliveSeconds: 60 },
    topicRoot: "bench/press-7/", maxBatchBytes: 5120, flushIntervalMs: 5000, inFlightWindow: 10, heartbeatMs: 60_000,
    schedule: new ReconnectSchedule({ startupJitterMs: 0 }), limiter: new PublishLimiter(AWS_PUBLISH_LIMITS),
    clockValid: () => true, platformStatus: () => ({}), now: () => Date.now(),
    report: (line) => {
      if (line.startsWith("connected")) connectedAt = Date.now();
    },
  });
  uplink.start();
  const ok = await uplink.drain(120_000);
  const seconds = (Date.now() - connectedAt) / 1000;
  uplink.stop();
  await broker.stop();
  if (!ok) throw new Error("the backlog did not drain within 120 s");
  const { publishes: messages, publishedBytes: bytes } = uplink.stats;
  const bound = Math.max(bytes / AWS_PUBLISH_LIMITS.bytesPerWindow, messages / AWS_PUBLISH_LIMITS.messagesPerWindow);
  return { seconds, bound, messages, bytes };
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}
