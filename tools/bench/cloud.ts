// Figures for the cloud half: 100 simulated devices (each with its own certificate) through
// Mosquitto with the generated ACL, the rules runner and PostgreSQL on this machine:
//   1. ingest: every device replays a backlog as fast as its in-flight window allows;
//   2. latency: the reference pace (a reading a second, a batch every 5 s) for a minute, from the
//      reading's own ts to its row stored;
//   3. restarts: the same pace while Mosquitto is restarted twice: readings stored twice, delivered
//      twice (resends the (device, seq) key absorbed), lost;
// and the reference device's cost per month on AWS (cloud-cost.ts), from the firmware's own traffic.
// The batches' readings come from that firmware run. Needs mosquitto and PostgreSQL (DATABASE_URL,
// else postgres://postgres@127.0.0.1:5432/test; the bench works in a schema of its own and drops it).

import { expandReadings } from "../../cloud/expand-readings.ts";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase, type Database } from "../../cloud/local/database.ts";
import { deadLetterFile } from "../../cloud/local/dead-letters.ts";
import { startMosquitto, type MosquittoProcess } from "../../cloud/local/mosquitto-process.ts";
import { RULES_RUNNER_IDENTITY, startRulesRunner, type RulesRunner } from "../../cloud/local/rules-runner.ts";
import { archiveSink, databaseSinks, type Sinks } from "../../cloud/local/sinks.ts";
import { ruleDefinitions } from "../../cloud/rules.ts";
import { DEFAULT_LAYOUT, topicRoot } from "../../cloud/topics.ts";
import { freePort } from "../../host-tests/support/mosquitto.ts";
import { costFigures, runReferenceDevice } from "./cloud-cost.ts";
import { SimDevice, type Reading } from "./cloud-fleet.ts";
import type { Figure } from "./report.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const DEVICES = Number(process.env.BENCH_CLOUD_DEVICES ?? 100);
const REFERENCE_SECONDS = Number(process.env.BENCH_CLOUD_REFERENCE_S ?? 180);
const BACKLOG_READINGS = 600; // ten minutes offline per device
const LATENCY_SECONDS = 60;
const RESTART_SECONDS = 45;
const PG_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const log = (line: string) => process.stderr.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`cloud bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function cloudFigures(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const add = (name: string, value: number, unit: string, note: string) => figures.push({ name: `cloud.${name}`, value, unit, note });
  const names = Array.from({ length: DEVICES }, (_, i) => `bench-${String(i).padStart(3, "0")}`);

  // A PKI of its own (kept in .state/bench/pki: 100 RSA keys take half a minute the first time).
  const pkiDir = join(root, ".state/bench/pki");
  const thing = "press-7";
  log(`cloud: certificates for ${DEVICES} devices in ${pkiDir}`);
  execFileSync(join(root, "certs/generate.sh"), ["--out", pkiDir, "--no-stage", RULES_RUNNER_IDENTITY, thing, ...names], { stdio: "ignore" });
  const tls = (name: string) => ({
    ca: readFileSync(join(pkiDir, "ca.pem")),
    cert: readFileSync(join(pkiDir, "devices", name, "device.pem")),
    key: readFileSync(join(pkiDir, "devices", name, "device.key")),
  });

  // The reference device: its cost, and the readings the simulated devices send.
  const reference = await runReferenceDevice(pkiDir, join(pkiDir, "devices", thing), REFERENCE_SECONDS, log);
  figures.push(...costFigures(reference, DEVICES));
  const template = reference.publishes
    .filter((p) => p.topic.endsWith("/telemetry"))
    .flatMap((p) => expandReadings(JSON.parse(p.payload.toString())) as unknown as Reading[]);
  if (template.length === 0) throw new Error("cloud bench: the reference device published no readings");

  const work = mkdtempSync(join(tmpdir(), "iiot-bench-cloud-"));
  const schema = `iiot_bench_${process.pid}`;
  const rules = ruleDefinitions(DEFAULT_LAYOUT);
  const port = await freePort();
  const url = `mqtts://127.0.0.1:${port}`;
  const mosquittoOptions = { port, certsDir: pkiDir, dataDir: join(work, "mosquitto"), layout: DEFAULT_LAYOUT, rules, rulesRunner: RULES_RUNNER_IDENTITY, persistence: true };
  let broker: MosquittoProcess = await startMosquitto(mosquittoOptions);
  let db: Database | undefined;
  let runner: RulesRunner | undefined;
  const devices: SimDevice[] = [];
  try {
    db = await openDatabase({ url: PG_URL, schema });
    const database = db;

    // Every stored batch, by reading: when it was stored, and how often it came.
    let phase = "ingest";
    const deliveries = new Map<string, number>();
    const latencies: number[] = [];
    const pipelineLatencies: number[] = [];
    let storedReadings = 0;
    const byName = new Map<string, SimDevice>();
    const base: Sinks = { ...databaseSinks(database), "archive-stream": archiveSink(work) };
    const sinks: Sinks = {
      ...base,
      "telemetry-table": async (output, context) => {
        await base["telemetry-table"](output, context);
        const now = Date.now();
        const batch = { device: (output as { device: string }).device, readings: expandReadings(output) as unknown as Reading[] };
        const device = byName.get(batch.device);
        for (const r of batch.readings) {
          const key = `${batch.device}/${r.seq}`;
          const n = (deliveries.get(key) ?? 0) + 1;
          deliveries.set(key, n);
          if (n > 1) continue;
          storedReadings++;
          if (phase === "latency") {
            latencies.push(now - r.ts);
            const sent = device?.stats.publishedAt.get(r.seq);
            if (sent !== undefined) pipelineLatencies.push(now - sent);
          }
        }
      },
    };
    runner = await startRulesRunner({ url, tls: tls(RULES_RUNNER_IDENTITY), rules, sinks, deadLetters: deadLetterFile(join(work, "dead-letters.jsonl")) });

    log(`cloud: connecting ${DEVICES} devices to Mosquitto on ${url}`);
    const site = ["bench", "hall-1", "line-1"];
    for (const name of names) {
      const d = new SimDevice(name, topicRoot(DEFAULT_LAYOUT, site, name), template, tls(name));
      await d.connect(url);
      devices.push(d);
      byName.set(name, d);
    }
    const acknowledged = () => devices.reduce((n, d) => n + d.stats.acknowledged, 0);
    const published = () => devices.reduce((n, d) => n + d.stats.published, 0);

    // 1. Ingest: each device's backlog, all at once.
    const backlogs = devices.map((d) => d.backlog(BACKLOG_READINGS));
    const total = DEVICES * BACKLOG_READINGS;
    const batches = backlogs.reduce((n, b, i) => n + SimDevice.batches(devices[i].name, b).length, 0);
    log(`cloud: ingest of ${total} readings in ${batches} batches`);
    const t0 = performance.now();
    await Promise.all(devices.map((d, i) => d.publishAll(backlogs[i])));
    await until(() => storedReadings >= total, `${total} readings stored`, 300_000);
    const ingestS = (performance.now() - t0) / 1000;
    const [{ n: rows }] = await database.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings");
    if (rows !== total) throw new Error(`cloud bench: ${rows} rows after the ingest, ${total} readings sent`);
    add("ingest_readings_per_s", Math.round(total / ingestS), "readings/s", `${DEVICES} devices (own certificates, Mosquitto with the ACL, QoS 1, 10 in flight each) replaying ${BACKLOG_READINGS} readings each in ${batches} batches of up to 5 KB, through the rules runner into PostgreSQL, first publish to last row: ${ingestS.toFixed(1)} s`);
    add("ingest_batches_per_s", Math.round(batches / ingestS), "batches/s", "the same run in messages: each goes through 3 rules (store, threshold, archive)");

    // 2. Latency at the reference pace.
    phase = "latency";
    log(`cloud: ${DEVICES} devices at the reference pace for ${LATENCY_SECONDS} s`);
    for (const d of devices) d.startRealtime();
    await new Promise((r) => setTimeout(r, LATENCY_SECONDS * 1000));
    await Promise.all(devices.map((d) => d.stopRealtime()));
    await until(() => acknowledged() === published() && storedReadings >= published(), "the latency phase's readings", 60_000);
    latencies.sort((a, b) => a - b);
    pipelineLatencies.sort((a, b) => a - b);
    add("store_latency_p99_ms", percentile(latencies, 99), "ms", `from a reading's ts (sampling) to its row stored, ${latencies.length} readings, ${DEVICES} devices at 1 reading/s in 5 s batches (the batching is most of it; p50 ${percentile(latencies, 50)} ms)`);
    add("publish_to_store_p99_ms", percentile(pipelineLatencies, 99), "ms", `from the batch handed to MQTT.js to its rows stored: TLS, Mosquitto, the runner and PostgreSQL (p50 ${percentile(pipelineLatencies, 50)} ms)`);

    // 3. Broker restarts at the reference pace: nothing stored twice, nothing lost.
    phase = "restarts";
    const before = { deliveries: [...deliveries.values()].filter((n) => n > 1).length, published: published() };
    log(`cloud: ${RESTART_SECONDS} s at the reference pace with Mosquitto restarted twice`);
    for (const d of devices) d.startRealtime();
    const restarts = [10, 25];
    let elapsed = 0;
    for (const at of restarts) {
      await new Promise((r) => setTimeout(r, (at - elapsed) * 1000));
      await broker.stop(); // SIGTERM: Mosquitto writes its persistence file and exits
      await new Promise((r) => setTimeout(r, 2000));
      broker = await startMosquitto(mosquittoOptions);
      elapsed = at + 2;
    }
    await new Promise((r) => setTimeout(r, (RESTART_SECONDS - elapsed) * 1000));
    await Promise.all(devices.map((d) => d.stopRealtime()));
    await until(() => acknowledged() === published(), "every device's batches acknowledged after the restarts", 120_000);
    await until(async () => {
      const [{ n }] = await database.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings");
      return n >= published();
    }, "every acknowledged reading stored", 60_000).catch(() => {});
    await runner.idle();
    const [counts] = await database.query<{ n: number; distinct_n: number }>("SELECT count(*)::float8 AS n, count(DISTINCT (device, seq))::float8 AS distinct_n FROM readings");
    const lost = acknowledged() - counts.distinct_n;
    const twice = [...deliveries.values()].filter((n) => n > 1).length - before.deliveries;
    add("stored_twice", counts.n - counts.distinct_n, "readings", `rows beyond one per (device, seq) after ${restarts.length} Mosquitto restarts (SIGTERM, 2 s down, persistence on) during ${RESTART_SECONDS} s at the reference pace; ${published() - before.published} readings in that phase`);
    add("delivered_twice", twice, "readings", "readings the runner received again after the restarts (resent by the devices or redelivered by Mosquitto): the (device, seq) key kept one row each");
    add("lost_after_restarts", lost, "readings", "acknowledged to the devices and not in the readings table");
    add("reconnects_after_restarts", devices.reduce((n, d) => n + d.stats.connects - 1, 0), "connects", `the devices' reconnects (MQTT.js, 1 s period): ${DEVICES} × ${restarts.length} expected`);
    return figures;
  } finally {
    for (const d of devices) await d.close().catch(() => {});
    await runner?.close().catch(() => {});
    if (db) {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await db.close();
    }
    await broker.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
