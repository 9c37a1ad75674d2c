// npm run sim -- --limits: the reference device on the simulator under an ESP32 board's fixed XS
// heaps (sim/device-limits, optionally scaled down to prove headroom), through what a plant does to
// it, with every reading accounted for at the broker:
//   0      boot with a `backlogHours` backlog in flash (as after an outage): the replay starts
//   33 %   the broker goes away (a network outage: the device keeps sampling into flash)
//   +40 %  of the outage: power cut, mcsim is killed (-9) while offline and started again on the same flash file
//   +O     the broker comes back after `outageMinutes` (default 17 % of the run): the outage's backlog is replayed
//   65 %   every simulated chip fails for 60 s (CRC, NACK, open RTD, accelerometer unpowered); at least
//          10 % of the run after the outage's end, so that the two replays do not overlap the fault
//   100 %  stop once every reading sampled has reached the broker (or 120 s have passed)
// With `outDir` the build goes there (mcconfig -o) instead of $MODDABLE/build, and with `stateDir`
// the flash file and console log go there instead of .state/sim/: so that two runs (two checkouts)
// on one machine do not build over each other's mc.so.
// The process temperature's 15-minute cycle crosses 85 C (where the pipeline's alarm belongs).

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { ChildProcess } from "node:child_process";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../host/broker.ts";
import { manifestConfig } from "../../host/firmware.ts";
import { printFigures, writeSection, type Figure } from "../bench/report.ts";
import { writeBacklog } from "./backlog.ts";
import { buildSimulator, powerOff, runSimulator, type Sdk } from "./sdk.ts";

/** An ESP32 board target's XS heaps (esp32/nodemcu and the like, no growth), as sim/device-limits builds them. */
const BOARD_CREATION = (() => {
  const { creation } = JSON.parse(readFileSync(new URL("../../sim/device-limits/manifest.json", import.meta.url), "utf8")) as {
    creation: { chunk: { initial: number }; heap: { initial: number }; stack: number };
  };
  return { chunk: creation.chunk.initial, slots: creation.heap.initial, stack: creation.stack };
})();
/** Bytes per slot on the 64-bit simulator (16 on the ESP32): the SDK reports slot and stack use in bytes. */
const SIM_SLOT_BYTES = 32;
const FAULT_SECONDS = 60;

export interface ScenarioOptions {
  root: string;
  sdk: Sdk;
  say(text: string): void;
  scale: number;
  /** The stack's own scale (default: scale): finding the smallest heaps needs the stack left alone. */
  stackScale: number;
  minutes: number;
  gcProbeMs: number;
  backlogHours: number;
  /** How long the broker stays away (default: 17 % of the run). */
  outageMinutes?: number;
  /** Where mcconfig builds (its -o); default $MODDABLE/build. */
  outDir?: string;
  /** Where the flash file, console log and build log go; default .state/sim/<variant>-state. */
  stateDir?: string;
  command: string;
}

interface Sample {
  at: number;
  chunk: number;
  slots: number;
  stack: number;
  collections: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The manifest directory to build: sim/device-limits itself, or a scaled copy of its creation under .state. */
function variant(root: string, scale: number, stackScale: number): string {
  const base = join(root, "sim/device-limits");
  if (scale === 1 && stackScale === 1) return base;
  const dir = join(root, ".state/sim", variantName(scale, stackScale));
  mkdirSync(dir, { recursive: true });
  const creation = {
    chunk: { initial: Math.floor(BOARD_CREATION.chunk * scale), incremental: 0 },
    heap: { initial: Math.floor(BOARD_CREATION.slots * scale), incremental: 0 },
    stack: Math.floor(BOARD_CREATION.stack * stackScale),
  };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify({ include: [join(relative(dir, base), "manifest.json")], creation }, null, 2)}\n`);
  return dir;
}

function variantName(scale: number, stackScale: number): string {
  const pct = (f: number) => Math.round(f * 100);
  return `limits-${pct(scale)}${stackScale === scale ? "" : `-stack-${pct(stackScale)}`}`;
}

export async function runLimitsScenario(o: ScenarioOptions): Promise<number> {
  const { say } = o;
  const started = Date.now();
  const pct = Math.round(o.scale * 100);
  const name = variantName(o.scale, o.stackScale);
  const dir = variant(o.root, o.scale, o.stackScale);
  const state = o.stateDir ?? join(o.root, ".state/sim", `${name}-state`);
  mkdirSync(state, { recursive: true });
  // One run per flash file: two simulators on one file would be two chips on one bus.
  const lock = join(state, "running.pid");
  if (existsSync(lock) && readFileSync(lock, "utf8") !== "") {
    const pid = Number(readFileSync(lock, "utf8"));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      // a stale lock from a run that was killed
    }
    if (alive) {
      say(`sim: another run (pid ${pid}) uses ${state}; wait for it or stop it\n`);
      return 2;
    }
  }
  writeFileSync(lock, String(process.pid));
  const consoleLog = join(state, "console.log");
  writeFileSync(consoleLog, "");
  const config = manifestConfig();
  const telemetryTopic = `${config.topic_root}telemetry`;
  const durationMs = o.minutes * 60_000;
  // The phases, as fractions of the run.
  const outageFrom = 0.33;
  const outageLength = o.outageMinutes === undefined ? 0.17 : (o.outageMinutes * 60_000) / durationMs;
  const outageTo = outageFrom + outageLength;
  const cutAt = outageFrom + 0.4 * outageLength;
  const faultFraction = Math.max(0.65, outageTo + 0.1);
  if (faultFraction * durationMs + FAULT_SECONDS * 1000 > durationMs) {
    say(`sim: a ${o.outageMinutes} min outage leaves no room for the sensor fault in a ${o.minutes} min run (it needs ${Math.ceil(((outageTo + 0.1) * durationMs + FAULT_SECONDS * 1000) / 60_000)} min)\n`);
    writeFileSync(lock, "");
    return 2;
  }

  // The broker, and every reading that reaches it.
  const delivered = new Map<number, number>();
  let badReadings = 0;
  let alarmsDelivered = 0;
  const alarmTopic = `${config.topic_root}alarm`;
  let broker: EmbeddedBroker | undefined;
  let port = 0;
  const watch = (b: EmbeddedBroker) => {
    b.aedes.on("publish", (packet, client) => {
      if (!client) return;
      if (packet.topic === alarmTopic) {
        // Alarm records take sequence numbers between the readings.
        const { seq } = JSON.parse(packet.payload.toString()) as { seq: number };
        if (!delivered.has(seq)) alarmsDelivered++;
        delivered.set(seq, (delivered.get(seq) ?? 0) + 1);
        return;
      }
      if (packet.topic !== telemetryTopic) return;
      const batch = JSON.parse(packet.payload.toString()) as { readings: ({ seq: number } & Record<string, unknown>)[] };
      for (const r of batch.readings) {
        delivered.set(r.seq, (delivered.get(r.seq) ?? 0) + 1);
        if (Object.values(r).some((v) => typeof v === "object" && v !== null && (v as { quality?: string }).quality === "bad")) badReadings++;
      }
    });
  };
  const brokerUp = async () => {
    broker = await startEmbeddedBroker({ certsDir: join(o.root, "certs/out"), port });
    port = broker.port;
    watch(broker);
    say(`sim: broker up on 127.0.0.1:${port}\n`);
  };
  const brokerDown = async () => {
    await broker?.close();
    broker = undefined;
    say("sim: broker down\n");
  };
  await brokerUp();

  // Always a fresh flash file: the accounting below starts from its first record.
  const { first, pending: backlog } = writeBacklog(state, o.backlogHours, Date.now());
  say(`sim: flash holds a backlog of ${backlog} readings (${o.backlogHours} h${first > 0 ? `; the oldest ${first} did not fit the partition` : ""}) in ${state}/flash-iiotlog.bin\n`);
  const faultAt = Date.now() + 60_000 + faultFraction * durationMs; // the build takes up to a minute; the time is approximate
  say(`sim: scenario of ${o.minutes} min: broker away from ${(outageFrom * o.minutes).toFixed(1)} to ${(outageTo * o.minutes).toFixed(1)} min (power cut at ${(cutAt * o.minutes).toFixed(1)}), every chip faulted for ${FAULT_SECONDS} s at about ${(faultFraction * o.minutes).toFixed(1)} min\n`);
  say(`sim: building ${relative(o.root, dir)} (heaps ${pct} % of an ESP32 board's: ${Math.floor(BOARD_CREATION.slots * o.scale)} slots, ${Math.floor(BOARD_CREATION.chunk * o.scale)} bytes of chunk, ${Math.floor(BOARD_CREATION.stack * o.stackScale)} stack slots) ...\n`);
  let so: string;
  try {
    so = buildSimulator(o.sdk, dir, {
      broker_host: "localhost", broker_port: port, flash_dir: `${state}/`,
      probe_gc_ms: o.gcProbeMs, sim_fault_at: Math.round(faultAt), sim_fault_s: FAULT_SECONDS,
    }, { instrument: true, logFile: join(state, "build.log"), outDir: o.outDir });
  } catch (error) {
    await brokerDown();
    say(`sim: ${(error as Error).message}\n`);
    return 2;
  }

  // The device, its console and its heaps.
  const samples: Sample[] = [];
  let aborts = 0;
  let notStored = 0;
  let maxSampled = -1;
  let firstConnect: number | undefined;
  let replayDone: number | undefined;
  let boots = 0;
  // Live heaps (right after a forced collection), from the probe's lines, in bytes as the SDK counts them.
  let liveSlots = 0;
  let liveChunk = 0;
  const minutes: { slots: number; chunk: number }[] = [];
  let mainKept: { slots: number; chunk: number } | undefined;
  let outageBackEnd: number | undefined; // the last sequence number sampled before the broker came back
  let brokerBack: number | undefined;
  let outageReplayDone: number | undefined;
  let child: ChildProcess | undefined;
  const boot = () => {
    boots++;
    const c = runSimulator(o.sdk, so);
    let pending = "";
    const onText = (text: string) => {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      appendFileSync(consoleLog, lines.map((l) => `${((Date.now() - started) / 1000).toFixed(1)} ${l}\n`).join(""));
      for (const line of lines) {
        if (line.startsWith("instruments:")) {
          // Pixels..Piu (9 host values), then chunk used/available, slot used/available, stack used/available, collections.
          const v = line.slice(line.indexOf(":") + 1).split(",").map(Number);
          samples.push({ at: Date.now(), chunk: v[9], slots: v[11] / SIM_SLOT_BYTES, stack: v[13] / SIM_SLOT_BYTES, collections: v[15] });
          continue;
        }
        if (line.startsWith("instruments key:")) continue;
        const kept = /^probe: main slots=(\d+) chunk=(\d+)/.exec(line);
        if (kept && mainKept === undefined) mainKept = { slots: Number(kept[1]) / SIM_SLOT_BYTES, chunk: Number(kept[2]) };
        const live = /^probe: (live|minute) slots=(\d+) chunk=(\d+)/.exec(line);
        if (live) {
          const slots = Number(live[2]) / SIM_SLOT_BYTES;
          const chunk = Number(live[3]);
          if (live[1] === "live") {
            liveSlots = Math.max(liveSlots, slots);
            liveChunk = Math.max(liveChunk, chunk);
          } else minutes.push({ slots, chunk });
          continue;
        }
        const seq = /^sample seq=(\d+)/.exec(line);
        if (seq) maxSampled = Math.max(maxSampled, Number(seq[1]));
        if (line.startsWith("sample NOT STORED")) notStored++;
        if (firstConnect === undefined && line.startsWith("connected to ")) firstConnect = Date.now();
        if (/memory full|stack overflow|XS abort/.test(line)) aborts++;
        if (!line.startsWith("sample ") && !line.startsWith("publish ") && !line.startsWith("puback ")) say(`device: ${line}\n`);
      }
    };
    c.stdout!.setEncoding("utf8").on("data", onText);
    c.stderr!.setEncoding("utf8").on("data", onText);
    child = c;
  };
  const covered = (upTo: number) => {
    for (let s = first; s <= upTo; s++) if (!delivered.has(s)) return false;
    return true;
  };

  // Ctrl-C or a kill: mcsim runs in its own process group, so it must be stopped here, and the lock freed.
  const interrupted = async () => {
    if (child) await powerOff(child);
    await brokerDown();
    writeFileSync(lock, "");
    process.exit(130);
  };
  process.once("SIGINT", () => void interrupted());
  process.once("SIGTERM", () => void interrupted());
  const t0 = Date.now();
  let last = -1;
  const until = async (fraction: number) => {
    while (Date.now() - t0 < fraction * durationMs) {
      await sleep(500);
      if (replayDone === undefined && backlog > 0 && covered(first + backlog - 1)) {
        replayDone = Date.now();
        say(`sim: the ${backlog}-reading backlog is delivered, ${((replayDone - (firstConnect ?? t0)) / 1000).toFixed(1)} s after connecting\n`);
      }
      if (outageReplayDone === undefined && outageBackEnd !== undefined && covered(outageBackEnd)) {
        outageReplayDone = Date.now();
        say(`sim: the outage's backlog (to seq ${outageBackEnd}) is delivered, ${((outageReplayDone - brokerBack!) / 1000).toFixed(1)} s after the broker came back\n`);
      }
    }
  };
  try {
    boot();
    await until(outageFrom);
    await brokerDown();
    await until(cutAt);
    say("sim: power cut (mcsim killed with -9) while the broker is away; starting it again\n");
    await powerOff(child!);
    await sleep(1000);
    boot();
    await until(outageTo);
    outageBackEnd = maxSampled;
    brokerBack = Date.now();
    await brokerUp();
    await until(1);
    last = maxSampled;
    const deadline = Date.now() + 120_000;
    while (!covered(last) && Date.now() < deadline) await sleep(500);
  } finally {
    if (child) await powerOff(child);
    await brokerDown();
    writeFileSync(lock, "");
  }

  // Figures, over the readings sampled until the scenario's end (the device samples on while it waits).
  let lost = 0;
  let duplicates = 0;
  for (let s = first; s <= last; s++) if (!delivered.has(s)) lost++;
  for (const n of delivered.values()) duplicates += n - 1;
  const peak = (key: "chunk" | "slots" | "stack") => Math.max(...samples.map((s) => s[key]));
  /** The value 90 % of the once-a-second samples stay at or under: the steady state, replays aside. */
  const p90 = (key: "chunk" | "slots") => samples.map((s) => s[key]).sort((a, b) => a - b)[Math.floor(samples.length * 0.9)] ?? NaN;
  const replay = samples.filter((s) => firstConnect !== undefined && s.at >= firstConnect && s.at <= (replayDone ?? firstConnect));
  const gcRate = replay.length > 1 ? replay.reduce((sum, s) => sum + s.collections, 0) / replay.length : NaN;
  const outageReplay = samples.filter((s) => brokerBack !== undefined && s.at >= brokerBack && s.at <= (outageReplayDone ?? brokerBack));
  const outageGcRate = outageReplay.length > 1 ? outageReplay.reduce((sum, s) => sum + s.collections, 0) / outageReplay.length : NaN;
  const livePeak = (key: "slots" | "chunk") => (o.gcProbeMs > 0 ? Math.round(key === "slots" ? liveSlots : liveChunk) : NaN);
  const liveMedian = (key: "slots" | "chunk") => {
    const sorted = minutes.map((m) => m[key]).sort((a, b) => a - b);
    return sorted.length > 0 ? Math.round(sorted[Math.floor(sorted.length / 2)]) : NaN;
  };
  const free = (used: number, of: number) => Math.round((1 - used / of) * 1000) / 10;
  const limit = (full: number, scale = o.scale) => Math.floor(full * scale);
  const probe = o.gcProbeMs > 0 ? `a collection forced every ${o.gcProbeMs} ms, so at most that much garbage is counted` : "no forced collections: includes garbage, so it rises to the heap size whenever XS collects";
  const figures: Figure[] = [
    { name: "sim.heap_scale", value: o.scale, unit: "ratio", note: `the board's heaps times this: ${limit(BOARD_CREATION.slots)} slots, ${limit(BOARD_CREATION.chunk)} bytes of chunk, ${limit(BOARD_CREATION.stack, o.stackScale)} stack slots, no growth` },
    { name: "sim.minutes", value: Math.round((Date.now() - t0) / 6000) / 10, unit: "min", note: `the scenario run (${boots} boots: one power cut)` },
    { name: "sim.peak_slots", value: Math.round(peak("slots")), unit: "slots", note: `largest 'Slot used' sampled each second, ${probe}; of ${limit(BOARD_CREATION.slots)}` },
    { name: "sim.peak_chunk_bytes", value: peak("chunk"), unit: "bytes", note: `largest 'Chunk used' (64-bit simulator), ${probe}; of ${limit(BOARD_CREATION.chunk)}` },
    { name: "sim.slots_p90", value: Math.round(p90("slots")), unit: "slots", note: `'Slot used' that 90 % of the samples stay under (the steady state; replays are the rest); of ${limit(BOARD_CREATION.slots)}` },
    { name: "sim.chunk_bytes_p90", value: p90("chunk"), unit: "bytes", note: `'Chunk used' that 90 % of the samples stay under; of ${limit(BOARD_CREATION.chunk)}` },
    { name: "sim.peak_live_slots", value: livePeak("slots"), unit: "slots", note: o.gcProbeMs > 0 ? `largest 'Slot used' right after a collection (forced every ${o.gcProbeMs} ms; read by the probe): what the firmware and the simulated board keep between turns, garbage excluded; of ${limit(BOARD_CREATION.slots)}, ${free(livePeak("slots"), limit(BOARD_CREATION.slots))} % free` : "not measured: no forced collections (--gc-probe-ms 0)" },
    { name: "sim.peak_live_chunk_bytes", value: livePeak("chunk"), unit: "bytes", note: o.gcProbeMs > 0 ? `largest 'Chunk used' right after a collection; of ${limit(BOARD_CREATION.chunk)}, ${free(livePeak("chunk"), limit(BOARD_CREATION.chunk))} % free` : "not measured: no forced collections (--gc-probe-ms 0)" },
    { name: "sim.main_kept_slots", value: mainKept ? Math.round(mainKept.slots) : NaN, unit: "slots", note: "live slots that the firmware's main() added by the time it returned (the first boot; before the first connect), the simulated board's included" },
    { name: "sim.main_kept_chunk_bytes", value: mainKept ? mainKept.chunk : NaN, unit: "bytes", note: "the same for chunk" },
    { name: "sim.live_slots_median_minute", value: liveMedian("slots"), unit: "slots", note: `the median over the run's minutes of each minute's live peak (the steady state)` },
    { name: "sim.live_chunk_bytes_median_minute", value: liveMedian("chunk"), unit: "bytes", note: `the same for chunk` },
    { name: "sim.peak_stack_slots", value: Math.round(peak("stack")), unit: "slots", note: `deepest XS stack; of ${limit(BOARD_CREATION.stack, o.stackScale)}` },
    { name: "sim.gc_per_s_replay", value: Math.round(gcRate * 10) / 10, unit: "per s", note: `collections per second while the ${backlog}-reading backlog was replayed${o.gcProbeMs > 0 ? ` (including the ${1000 / o.gcProbeMs} forced ones)` : ""}` },
    { name: "sim.replay_s", value: replayDone && firstConnect ? Math.round((replayDone - firstConnect) / 100) / 10 : NaN, unit: "s", note: `from the first CONNACK until the ${o.backlogHours} h backlog had reached the broker` },
    { name: "sim.outage_min", value: Math.round(outageLength * o.minutes * 10) / 10, unit: "min", note: "how long the broker was away (a power cut in the middle)" },
    { name: "sim.outage_replay_s", value: outageReplayDone && brokerBack ? Math.round((outageReplayDone - brokerBack) / 100) / 10 : NaN, unit: "s", note: "from the broker's return (the device reconnects with backoff) until every reading sampled during the outage had reached it" },
    { name: "sim.gc_per_s_outage_replay", value: Math.round(outageGcRate * 10) / 10, unit: "per s", note: "collections per second during that replay" },
    { name: "sim.memory_aborts", value: aborts, unit: "count", note: "'memory full', stack overflow or other XS aborts in the device's console" },
    { name: "sim.readings_sampled", value: last + 1 - first, unit: "readings", note: "the backlog plus both boots' windows and alarm records (sequence numbers from the backlog's first to the last sampled before the end)" },
    { name: "sim.readings_lost", value: lost, unit: "readings", note: "sampled and never seen at the broker (through the outage and the power cut)" },
    { name: "sim.readings_not_stored", value: notStored, unit: "readings", note: "windows the flash log refused or failed to store (they have no sequence number)" },
    { name: "sim.duplicates_delivered", value: duplicates, unit: "readings", note: "readings the broker saw more than once (resends after the outage; a sink drops them by seq)" },
    { name: "sim.alarms_delivered", value: alarmsDelivered, unit: "alarms", note: `alarm raises and clears that reached the broker (the ${FAULT_SECONDS} s fault on every chip outlasts fault_after_s: a sensor-fault raise and clear per channel)` },
    { name: "sim.readings_bad", value: badReadings, unit: "readings", note: `delivered readings with a bad sensor (the ${FAULT_SECONDS} s fault on every chip)` },
  ];
  printFigures(figures);
  const key = name === "limits-100" ? "sim" : `sim-${name.slice("limits-".length)}`;
  writeSection(key, `Simulator under ${name === "limits-100" ? "an ESP32 board's" : `${pct} % of an ESP32 board's`} XS heaps${o.stackScale !== o.scale ? ` (stack ${Math.round(o.stackScale * 100)} %)` : ""}`, o.command, figures, (Date.now() - started) / 1000, `Moddable SDK ${sdkVersion(o.sdk)}`);
  const ok = lost === 0 && aborts === 0 && notStored === 0;
  say(`sim: ${ok ? "every reading arrived and the heaps held" : "FAILED: see the figures above"}\n`);
  return ok ? 0 : 1;
}

function sdkVersion(sdk: Sdk): string {
  try {
    return readFileSync(join(sdk.moddable, "tools/VERSION"), "utf8").trim();
  } catch {
    return "(version unknown)";
  }
}
