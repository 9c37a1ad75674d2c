// Figures for the flash log: power-cut trials, write amplification and wear for a day of
// the reference device, outage capacity, throughput on Node and metered compute on XS.

import { FlashLog, LogFullError } from "../../src/log/flash-log";
import { encodeReport } from "../../src/telemetry/reading";
import { SimNorFlash } from "../../sim/nor-flash";
import { PARTITION_SIZES } from "../../sim/board";
import { runPowerCutTrials } from "../../host-tests/portable/powercut-model";
import { bundleForXs, runBundleOnXs } from "../../host-tests/xs/harness";
import { FLUSH_WINDOWS, referenceWindow } from "./workload";
import type { Figure } from "./report.ts";

const SECTOR_CYCLES = 100_000;
const DAY = 86_400;

export async function flashlogFigures(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const add = (name: string, value: number, unit: string, note = "") => figures.push({ name: `flashlog.${name}`, value, unit, note });

  // 1. Power cuts at every flash step of random sequences, both full policies.
  const refuse = runPowerCutTrials({ sequences: 50, opsPerSequence: 80, seed: 2026, policy: "refuse" });
  const drop = runPowerCutTrials({ sequences: 50, opsPerSequence: 80, seed: 419, policy: "drop-oldest", sectors: 4, sectorSize: 256 });
  const totals = [refuse, drop];
  const sum = (k: "trials" | "lost" | "corrupt" | "resurrected" | "disordered") => totals.reduce((n, t) => n + t[k], 0);
  add("powercut_trials", sum("trials"), "trials", "a cut at every program/erase step of 100 random sequences");
  add("lost", sum("lost"), "records", "appended (returned) and unacknowledged, then missing");
  add("corrupt", sum("corrupt"), "records", "returned with bytes other than appended");
  add("resurrected", sum("resurrected"), "records", "acknowledged, then returned again");
  add("disordered", sum("disordered"), "records", "returned out of sequence order");

  // 2. One day of the reference device on the ESP32 partition, acknowledged batch by batch.
  const partitionBytes = PARTITION_SIZES.iiotlog;
  const flash = new SimNorFlash({ byteLength: partitionBytes });
  const log = new FlashLog(flash);
  const erasesAtMount = flash.stats.erases;
  const programmedAtMount = flash.stats.bytesProgrammed;
  let t0 = performance.now();
  for (let t = 0; t < DAY; t++) {
    log.append(encodeReport(1_795_000_000_000 + t * 1000, referenceWindow(t)));
    if ((t + 1) % FLUSH_WINDOWS === 0) log.acknowledge(log.nextSeq - 1);
  }
  const dayMs = performance.now() - t0;
  const recordBytes = log.stats.recordBytes / log.stats.appended;
  add("record_bytes", round(recordBytes, 1), "bytes", "one reference window: 11 bytes of framing + payload");
  add("write_amplification", round((flash.stats.bytesProgrammed - programmedAtMount) / log.stats.recordBytes, 3), "ratio", "bytes programmed (records, commit and ack marks, sector headers) per record byte");
  const erases = flash.stats.erases - erasesAtMount;
  add("erases_per_day", erases, "erases", `${partitionBytes / 1024} KiB partition, ${flash.wear.length} sectors`);
  const worstSector = Math.max(...flash.wear);
  add("life_years", round(SECTOR_CYCLES / worstSector / 365, 0), "years", `${SECTOR_CYCLES} cycles, most-erased sector ${worstSector}/day`);
  add("day_of_appends_node", round(dayMs, 0), "ms", "86,400 windows encoded, appended and acknowledged on Node");

  // 3. Outage capacity: fill 1 MiB with nothing acknowledged.
  const mb = new FlashLog(new SimNorFlash({ byteLength: 1024 * 1024 }), { whenFull: "refuse" });
  t0 = performance.now();
  let stored = 0;
  try {
    for (;;) {
      mb.append(encodeReport(1_795_000_000_000 + stored * 1000, referenceWindow(stored)));
      stored++;
    }
  } catch (error) {
    if (!(error instanceof LogFullError)) throw error;
  }
  const appendMs = performance.now() - t0;
  add("offline_hours_per_mb", round(stored / 3600, 2), "hours", `${stored} windows fit in 1 MiB before the log refuses`);
  add("offline_hours_partition", round((stored / 3600) * (partitionBytes / (1024 * 1024)), 1), "hours", "on the 2 MiB ESP32 partition");
  add("append_throughput_node", round(stored / (appendMs / 1000), 0), "records/s", "encode + durable append on simulated NOR, Node");

  // 4. Replay of that backlog: read in batch-sized chunks and acknowledge.
  t0 = performance.now();
  let replayed = 0;
  while (mb.pendingRecords > 0) {
    const records = mb.read(mb.tailSeq, 34);
    replayed += records.length;
    mb.acknowledge(records[records.length - 1].seq);
  }
  const replayMs = performance.now() - t0;
  add("replay_throughput_node", round(replayed / (replayMs / 1000), 0), "records/s", "read 34 at a time + acknowledge, Node");

  // 5. Metered compute per record on XS, beside the naive baseline (one JSON message per measurement).
  const code = await bundleForXs(`
import { FlashLog } from "./src/log/flash-log.ts";
import { encodeReport, CHANNELS } from "./src/telemetry/reading.ts";
import { SimNorFlash } from "./sim/nor-flash.ts";
import { referenceWindow } from "./tools/bench/workload.ts";
const N = 2000;
const windows = [];
for (let t = 0; t < N; t++) windows.push(referenceWindow(t));
const log = new FlashLog(new SimNorFlash({ byteLength: 256 * 4096 }));
resetMeter(0, 0);
for (let t = 0; t < N; t++) log.append(encodeReport(1795000000000 + t * 1000, windows[t]));
const append = resetMeter(0, 0);
let replayed = 0;
while (log.pendingRecords > 0) {
  const records = log.read(log.tailSeq, 34);
  replayed += records.length;
  log.acknowledge(records[records.length - 1].seq);
}
const replay = resetMeter(0, 0);
let bytes = 0;
for (let t = 0; t < N; t++) {
  for (const [n, s] of windows[t]) bytes += JSON.stringify({ device: "press-7", ts: 1795000000000 + t * 1000, sensor: CHANNELS[n].sensor, [CHANNELS[n].quantity]: s.value }).length;
}
const naive = resetMeter(0, 0);
report({ append: append / N, replay: replay / replayed, naive: naive / N, bytes });
`);
  const { reports } = await runBundleOnXs(code);
  const xs = reports[0] as { append: number; replay: number; naive: number };
  add("xs_compute_per_append", round(xs.append, 0), "computrons", "encode one reference window + durable append, XS engine");
  add("xs_compute_per_replayed_record", round(xs.replay, 0), "computrons", "read + acknowledge, XS engine");
  add("xs_naive_compute_per_window", round(xs.naive, 0), "computrons", "naive baseline: JSON.stringify one message per measurement, same windows");
  return figures;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}
