// The dashboard in headless Chromium (Debian's chromium, driven by playwright-core): the firmware
// on the host target publishes to the embedded broker, the pipeline stores into PGlite, and the
// page must show what the database holds: the device online, then offline (stopped); every chart
// with one point per stored reading and the same values; the latest process temperature as stored;
// the log depth and heartbeat time of the last online status; alarms (published in the assumed
// shape) active and past; threshold alerts. A screenshot is kept in .state/artifacts/.

import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startPipeline, type Pipeline } from "../cloud/local/pipeline.ts";
import { RULES_RUNNER_IDENTITY } from "../cloud/local/rules-runner.ts";
import { rtdResistance } from "../drivers/max31865/rtd.ts";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware, manifestConfig } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { processTemperature, simBoard } from "../sim/board.ts";
import type { NodeStats, RunningNode } from "../src/app.ts";
import { devPki } from "./support/pki.ts";
import { until, untilAsync } from "./support/until.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const THING = String(manifestConfig().thing);
const ROOT = String(manifestConfig().topic_root);
const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOT = join(root, ".state/artifacts/dashboard.png");
const CHARTS = ["air", "pressure", "process", "vibration"];
const firmwareLog: string[] = [];

beforeAll(() => void (traceSink.write = (text) => void firmwareLog.push(text)));
afterAll(() => void (traceSink.write = (text) => void process.stdout.write(text)));

async function chartPoints(page: Page): Promise<number[]> {
  return page.$$eval("[data-chart]", (els) => els.map((el) => Number(el.getAttribute("data-points"))));
}

/** A page expression (the test's own types have no DOM): every chart's point count passes `check`. */
const everyChart = (check: string) => `[...document.querySelectorAll("[data-chart]")].every((el) => Number(el.getAttribute("data-points")) ${check})`;

test("the dashboard shows what the database holds: status, charts, latest values, log depth, alarms", { timeout: 90_000 }, async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  const pki = devPki(THING, RULES_RUNNER_IDENTITY);
  const board = simBoard();
  let broker: EmbeddedBroker | undefined;
  let pipeline: Pipeline | undefined;
  let node: RunningNode | undefined;
  let stopped: Promise<NodeStats> | undefined;
  let browser: Browser | undefined;
  try {
    broker = await startEmbeddedBroker({ certsDir: pki.dir });
    const p = (pipeline = await startPipeline({ brokerUrl: `mqtts://127.0.0.1:${broker.port}`, certsDir: pki.dir, out: mkdtempSync(join(tmpdir(), "iiot-dashboard-")), pgliteInMemory: true, dashboardPort: 0 }));
    const db = p.db;
    const running = (node = await bootFirmware({
      config: { thing: THING, broker_address: "127.0.0.1", broker_port: broker.port, broker_name: "localhost", sample_ms: 250, flush_ms: 1000, startup_jitter_ms: 0 },
      resources: pki.resources(THING),
      state: mkdtempSync(join(tmpdir(), "iiot-dashboard-state-")),
    }));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 20_000,
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => void pageErrors.push(e.message));
    page.setDefaultTimeout(20_000);
    await page.goto(p.dashboard!.url);

    // Live: online, and the charts fill as readings are stored.
    await page.waitForSelector('[data-testid="state"][data-state="online"]');
    await page.waitForFunction(everyChart(">= 8"));
    expect(await page.textContent('[data-testid="state"]')).toBe("online");

    // A hot process temperature for a moment: the backstop rule's threshold alerts.
    // The firmware's own alarms: raised above 85 C, cleared below 83 C, raised again and left raised.
    const alarmRows = async () => (await db.query<{ n: number }>("SELECT count(*)::float8 AS n FROM alarms WHERE device = $1", [THING]))[0].n;
    board.max31865.resistance = rtdResistance(90, 100);
    await untilAsync(async () => (await alarmRows()) >= 1, "the raised alarm stored");
    board.max31865.resistance = rtdResistance(70, 100);
    await untilAsync(async () => (await alarmRows()) >= 2, "the cleared alarm stored");
    board.max31865.resistance = rtdResistance(88.5, 100);
    await untilAsync(async () => (await alarmRows()) >= 3, "raised again");
    await page.waitForFunction(`document.querySelectorAll("#past-alarms tbody tr:not(:has(td.none))").length === 3`);

    // Stop: drained and acknowledged, stored, and the page caught up with the database.
    const stats = await (stopped = running.stop(5000));
    expect(await p.waitForReadings(THING, stats.readingsAcknowledged, 10_000)).toBe(stats.readingsAcknowledged);
    const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings WHERE device = $1", [THING]);
    expect(n, firmwareLog.join("")).toBe(stats.sampled);
    await page.waitForSelector('[data-testid="state"][data-state="offline"]');
    await page.waitForFunction(everyChart(`=== ${n}`));

    expect(await page.textContent('[data-testid="state"]')).toBe("offline (stopped)");
    expect(await chartPoints(page)).toStrictEqual(CHARTS.map(() => n));
    for (const id of CHARTS) expect(await page.locator(`[data-chart="${id}"] canvas`).count(), `chart ${id} drawn`).toBe(1);

    // The charts' series are the stored values in sampling order.
    const stored = await db.query<{ seq: number; t: number | null; h: number | null; p: number | null; pt: number | null; peak: number | null }>(
      `SELECT seq::float8 AS seq, (data->'sht3x'->>'temperature')::float8 AS t, (data->'sht3x'->>'humidity')::float8 AS h, (data->'bme280'->>'pressure')::float8 AS p,
              (data->'max31865'->>'temperature')::float8 AS pt, (data->'adxl345'->>'peak')::float8 AS peak FROM readings WHERE device = $1 ORDER BY ts, seq`,
      [THING],
    );
    const series = await page.evaluate(() => {
      const charts = (globalThis as unknown as { dashboard: { charts: Record<string, { plot: { data: (number | null)[][] } }> } }).dashboard.charts;
      return { air: charts.air.plot.data, pressure: charts.pressure.plot.data, process: charts.process.plot.data, vibration: charts.vibration.plot.data };
    });
    expect(series.air[1]).toStrictEqual(stored.map((r) => r.t));
    expect(series.air[2]).toStrictEqual(stored.map((r) => r.h));
    expect(series.pressure[1]).toStrictEqual(stored.map((r) => r.p));
    expect(series.process[1]).toStrictEqual(stored.map((r) => r.pt));
    expect(series.vibration[4]).toStrictEqual(stored.map((r) => r.peak));

    // Latest values: the last stored reading's, as stored.
    const last = stored[stored.length - 1];
    expect(last.pt).not.toBeNull();
    expect(await page.textContent('[data-channel="max31865.temperature"]')).toBe(String(last.pt));
    expect(await page.textContent('[data-channel="sht3x.temperature"]')).toBe(String(last.t));
    expect(await page.textContent('[data-testid="readings-count"]')).toBe(String(n));

    // The last online status: its time as the last heartbeat, its log depth and drops.
    const [heartbeat] = await db.query<{ at: number; log_depth: number; dropped: number }>(
      `SELECT (extract(epoch from received_at) * 1000)::float8 AS at, (data->>'log_depth')::float8 AS log_depth, (data->>'dropped')::float8 AS dropped
       FROM device_status WHERE device = $1 AND state = 'online' ORDER BY received_at DESC LIMIT 1`,
      [THING],
    );
    expect(await page.getAttribute('[data-testid="last-heartbeat"]', "data-ms")).toBe(String(heartbeat.at));
    expect(await page.textContent('[data-testid="log-depth"]')).toBe(String(heartbeat.log_depth));
    expect(await page.textContent('[data-testid="dropped"]')).toBe(String(heartbeat.dropped));

    // Alarms: the page lists what the store holds, the last raise still active.
    const rowsOf = (table: string) => page.$$eval(`${table} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    const alarmsStored = await db.query<{ seq: number; channel: string; state: string; value: number; limit_value: number }>(
      "SELECT seq::float8 AS seq, channel, state, value, limit_value FROM alarms WHERE device = $1 ORDER BY seq DESC", [THING]);
    expect(alarmsStored.map((a) => [a.channel, a.state, a.limit_value])).toStrictEqual([
      ["max31865.temperature", "raised", 85], ["max31865.temperature", "cleared", 83], ["max31865.temperature", "raised", 85],
    ]);
    const active = await rowsOf("#active-alarms");
    const latest = alarmsStored[0];
    expect(active.map((r) => [r[0], r[2], r[3], r[4]])).toStrictEqual([["max31865.temperature", String(latest.value), "85", String(latest.seq)]]);
    expect((await rowsOf("#past-alarms")).map((r) => [r[1], r[2], r[5]])).toStrictEqual(alarmsStored.map((a) => [a.channel, a.state, String(a.seq)]));
    const hot = await db.query<{ seq: number; temperature: number }>("SELECT seq::float8 AS seq, temperature FROM threshold_alerts WHERE device = $1 ORDER BY seq DESC", [THING]);
    expect(hot.length).toBeGreaterThan(0);
    expect((await rowsOf("#threshold-alerts")).map((r) => [r[1], r[3]])).toStrictEqual(hot.map((h) => [String(h.temperature), String(h.seq)]));

    expect(pageErrors).toStrictEqual([]);
    mkdirSync(join(root, ".state/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    board.max31865.resistance = (atMs) => rtdResistance(processTemperature(atMs), 100);
    await browser?.close();
    if (node && !stopped) await node.stop(0);
    await pipeline?.close();
    await broker?.close();
  }
});
