// The fleet simulator of a soak (docs/soak.md): N devices, each the unchanged firmware in a process
// of its own (./device.ts) on an accelerated clock, against a real Mosquitto with mutual TLS and the
// per-device ACL (cloud/local), through a proxy that can cut the network, and the local mirror's
// rules runner storing into PostgreSQL (a fresh schema per run). The driver moves the fleet's time
// in steps (every device reaches the step's end before the next starts) and injects the scenario
// between steps: network outages, broker restarts, power cuts (SIGKILL; the device boots again from
// its flash file and preferences), sensor faults and alarms. At the end every device's ledger is
// checked against the store (./accounting.ts).

import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase, type Database } from "../../cloud/local/database.ts";
import { deadLetterFile } from "../../cloud/local/dead-letters.ts";
import { startMosquitto, type MosquittoProcess } from "../../cloud/local/mosquitto-process.ts";
import type { MosquittoConfigOptions } from "../../cloud/local/mosquitto-config.ts";
import { ensureRulesRunnerIdentity } from "../../cloud/local/pipeline.ts";
import { RULES_RUNNER_IDENTITY, startRulesRunner, type RulesRunner } from "../../cloud/local/rules-runner.ts";
import { archiveSink, databaseSinks, readPath, type Sinks } from "../../cloud/local/sinks.ts";
import { ruleDefinitions } from "../../cloud/rules.ts";
import { DEFAULT_LAYOUT, topicRoot } from "../../cloud/topics.ts";
import { TELEMETRY } from "../../cloud/payload-shapes.ts";
import { manifestConfig } from "../../host/firmware.ts";
import { devPki } from "../../host-tests/support/pki.ts";
import { freePort } from "../../host-tests/support/mosquitto.ts";
import { startCuttingProxy, type CuttingProxy } from "../../host-tests/support/cutting-proxy.ts";
import { accountDevice, type DeviceAccount } from "./accounting.ts";
import type { Billing, DeviceProgress, DeviceSetup, FromDevice, SensorEvent, ToDevice } from "./protocol.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const BOOT_TOGETHER = 4;

export interface SoakOptions {
  devices: number;
  /** Simulated span of the scenario (days, fractions allowed); the drain after it comes on top. */
  days: number;
  /** Fleet time per step. */
  stepMs?: number;
  /** Real time (ms since the epoch) after which the scenario is cut short (the drain still runs). */
  realDeadline?: number;
  databaseUrl?: string;
  /** Network outages (firmware time each), spread over the span; default: the workload's 10 min, 1 h, 24 h where they fit. */
  outagesMs?: number[];
  brokerRestarts?: number;
  /** Power cuts per device. */
  powerCutsPerDevice?: number;
  /** Only this many devices (the first ones) get power cuts: each reboot costs a Node process start. */
  powerCutDevices?: number;
  /** Firmware settings for every device (thing, topic root and broker are the fleet's). */
  config?: Record<string, unknown>;
  /** Keep each device's firmware log in its state folder. */
  deviceLogs?: boolean;
  /**
   * Break delivery once on purpose (a test proves the checks can fail): "drop" acknowledges one
   * telemetry batch without storing it; "twice" stores one reading again under another number.
   */
  sabotage?: "drop" | "twice";
  log?: (line: string) => void;
}

export interface SoakResult {
  devices: number;
  simulatedDays: number;
  realSeconds: number;
  accounts: DeviceAccount[];
  /** Arrivals at the readings sink beyond the first, per (device, seq). */
  duplicatesDelivered: number;
  billing: Billing;
  maxLogDepth: number;
  rssGrowthMb: number;
  rssFirstMb: number;
  rssLastMb: number;
  powerCuts: number;
  outages: number;
  brokerRestarts: number;
  sensorEvents: number;
  stillInFlash: number;
  droppedTotal: number;
  deadLetters: number;
  messagesToRules: number;
}

interface Device {
  thing: string;
  state: string;
  child?: ChildProcess;
  progress?: DeviceProgress;
  /** Billing of earlier boots (a boot counts from zero). */
  billedBefore: Billing;
  sensorEvents: SensorEvent[];
  waiters: ((m: FromDevice) => void)[];
  rssSamples: number[];
}

const zeroBilling = (): Billing => ({ messages: 0, units: 0, bytes: 0, telemetryMessages: 0, telemetryUnits: 0, alarmUnits: 0, statusUnits: 0, alarmMessages: 0, statusMessages: 0, readingsPublished: 0, connects: 0 });
const addBilling = (a: Billing, b: Billing): Billing => {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Billing)[]) out[k] += b[k];
  return out;
};

/** A deterministic generator, so a soak's scenario is the same run after run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface FleetEvent {
  atMs: number;
  kind: "outage-start" | "outage-end" | "broker-stop" | "broker-start" | "power-cut";
  device?: number;
}

/** The scenario over [start, start + span): fleet events in time order, and each device's sensor events. */
export function planScenario(options: SoakOptions, startMs: number, random: () => number): { events: FleetEvent[]; sensors: SensorEvent[][] } {
  const span = options.days * DAY;
  const events: FleetEvent[] = [];
  const outages = options.outagesMs ?? [10 * MINUTE, HOUR, DAY].filter((d) => d * 3 <= span);
  // Spread over the span, each in its own slot, none in the first or last tenth.
  const restarts = options.brokerRestarts ?? Math.max(1, Math.round(options.days / 10));
  const slots = outages.length + restarts;
  let slot = 0;
  const slotStart = () => startMs + span * (0.1 + (0.8 * slot++) / slots);
  for (const d of outages) {
    const at = slotStart();
    events.push({ atMs: at, kind: "outage-start" }, { atMs: at + d, kind: "outage-end" });
  }
  for (let i = 0; i < restarts; i++) {
    const at = slotStart();
    events.push({ atMs: at, kind: "broker-stop" }, { atMs: at + 5 * MINUTE, kind: "broker-start" });
  }
  const cuts = options.powerCutsPerDevice ?? Math.max(1, Math.round(options.days / 5));
  for (let device = 0; device < Math.min(options.devices, options.powerCutDevices ?? Infinity); device++)
    for (let i = 0; i < cuts; i++) events.push({ atMs: startMs + span * (0.05 + 0.9 * random()), kind: "power-cut", device });
  events.sort((a, b) => a.atMs - b.atMs);
  // Per device: an overheat (alarm raised, then cleared) about every other day and a sensor fault
  // (every chip, long enough for fault alarms) about every five days; at least one of each.
  const sensors = Array.from({ length: options.devices }, () => {
    const list: SensorEvent[] = [];
    const add = (kind: SensorEvent["kind"], count: number, lengthMs: number) => {
      for (let i = 0; i < count; i++) {
        const from = startMs + span * (0.05 + 0.9 * random());
        list.push({ kind, fromMs: from, toMs: from + lengthMs });
      }
    };
    add("overheat", Math.max(1, Math.round(options.days / 2)), 10 * MINUTE);
    add("fault", Math.max(1, Math.round(options.days / 5)), 2 * MINUTE);
    return list;
  });
  return { events, sensors };
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const stepMs = options.stepMs ?? MINUTE;
  const random = seeded(16);
  const names = Array.from({ length: options.devices }, (_, i) => (options.devices === 1 ? String(manifestConfig().thing) : `soak-${String(i + 1).padStart(3, "0")}`));
  const pki = devPki(...names);
  const certsDir = pki.dir;
  const rulesTls = ensureRulesRunnerIdentity(certsDir);
  const work = mkdtempSync(join(tmpdir(), "iiot-soak-"));
  const rules = ruleDefinitions(DEFAULT_LAYOUT);
  const brokerPort = await freePort();
  const brokerOptions: MosquittoConfigOptions = { port: brokerPort, certsDir, dataDir: join(work, "mosquitto"), layout: DEFAULT_LAYOUT, rules, rulesRunner: RULES_RUNNER_IDENTITY, persistence: true };
  const schema = `soak_${Date.now()}`;
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const devices: Device[] = [];
  let db: Database | undefined;
  let broker: MosquittoProcess | undefined;
  let proxy: CuttingProxy | undefined;
  let runner: RulesRunner | undefined;
  try {
    broker = await startMosquitto(brokerOptions);
    proxy = await startCuttingProxy(brokerPort, random);
    db = await openDatabase({ url: options.databaseUrl ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test", schema });
    const database = db;
    cleanups.push(async () => {
      await database.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await database.close();
    });
    // Arrivals per (device, seq) at the readings sink: a resend the store absorbs is still counted here.
    const arrivals = new Map<string, Uint8Array>();
    let duplicatesDelivered = 0;
    let sabotage = options.sabotage;
    const sinks: Sinks = { ...databaseSinks(database), "archive-stream": archiveSink(join(work, "cloud")) };
    const store = sinks["telemetry-table"];
    sinks["telemetry-table"] = async (output, context) => {
      const batch = output as { device: string; readings: unknown[] };
      if (sabotage === "drop") {
        sabotage = undefined;
        return;
      }
      await store(output, context);
      if (sabotage === "twice") {
        sabotage = undefined;
        await database.query("INSERT INTO readings (device, seq, ts, published_boot, data, received_at) SELECT device, seq + 1000000000, ts, published_boot, data, received_at FROM readings WHERE device = $1 AND seq = $2",
          [batch.device, readPath(batch.readings[0] as never, TELEMETRY.reading.seq)]);
      }
      let counts: Uint8Array = arrivals.get(batch.device) ?? new Uint8Array(1 << 20);
      arrivals.set(batch.device, counts);
      for (const r of batch.readings) {
        const seq = readPath(r as never, TELEMETRY.reading.seq) as number;
        if (seq >= counts.length) {
          const bigger: Uint8Array = new Uint8Array(Math.max(counts.length * 2, seq + 1));
          bigger.set(counts);
          arrivals.set(batch.device, (counts = bigger));
        }
        if (counts[seq] > 0) duplicatesDelivered++;
        if (counts[seq] < 255) counts[seq]++;
      }
    };
    runner = await startRulesRunner({
      url: `mqtts://127.0.0.1:${brokerPort}`, tls: { ...rulesTls, servername: "localhost" }, rules, sinks,
      deadLetters: deadLetterFile(join(work, "cloud", "dead-letters.jsonl")), log: (line) => log(line),
    });

    const startMs = Math.floor(Date.now() / 1000) * 1000;
    const plan = planScenario(options, startMs, random);
    const base = { ...manifestConfig(), ...options.config };
    for (let i = 0; i < options.devices; i++) {
      const state = join(work, "devices", names[i]);
      mkdirSync(state, { recursive: true });
      devices.push({ thing: names[i], state, billedBefore: zeroBilling(), sensorEvents: plan.sensors[i], waiters: [], rssSamples: [] });
    }

    const spawnDevice = (d: Device, atMs: number) => {
      const setup: DeviceSetup = {
        thing: d.thing, state: d.state, resources: pki.resources(d.thing), brokerPort: proxy!.port, startMs: atMs,
        config: { ...base, topic_root: topicRoot(DEFAULT_LAYOUT, ["chicago", "building-a", "line-3"], d.thing) },
        sensorEvents: d.sensorEvents, logFile: options.deviceLogs ? join(d.state, "firmware.log") : undefined,
      };
      const child = fork(join(root, "tools/soak/device.ts"), [JSON.stringify(setup)], {
        execArgv: ["--import", "tsx", "--import", join(root, "host/register.mjs")], cwd: root, stdio: ["ignore", "ignore", "inherit", "ipc"],
      });
      d.child = child;
      d.progress = undefined;
      child.on("message", (m: FromDevice) => {
        if (m.type === "failed") log(`soak: ${d.thing} failed: ${m.error}`);
        if ("progress" in m) d.progress = m.progress;
        for (const w of d.waiters.splice(0)) w(m);
      });
      // "close", not "exit": a message sent just before exiting can arrive after "exit".
      child.on("close", () => {
        // A power-cut process closes after its successor may have started: its end is not the successor's.
        if (d.child !== child) return;
        d.child = undefined;
        for (const w of d.waiters.splice(0)) w({ type: "failed", error: "exited" });
      });
    };
    const message = (d: Device, m: ToDevice) => d.child?.send(m);
    const next = (d: Device, what: string, timeoutMs = 600_000) =>
      new Promise<FromDevice>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`soak: ${d.thing} did not report (${what}) within ${timeoutMs / 1000} s`)), timeoutMs);
        d.waiters.push((m) => {
          clearTimeout(timer);
          if (m.type === "failed") reject(new Error(`soak: ${d.thing} ${what}: ${m.error}`));
          else resolve(m);
        });
      });
    cleanups.push(() => {
      for (const d of devices) d.child?.kill("SIGKILL");
    });
    const killDevice = async (d: Device) => {
      const child = d.child;
      if (!child) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
      if (d.progress) d.billedBefore = addBilling(d.billedBefore, d.progress.billing);
      d.progress = undefined;
    };

    // Each device boots and stands at the start; a few at a time (a hundred Node processes loading
    // the firmware at once on two cores would take longer than one after another).
    for (let i = 0; i < devices.length; i += BOOT_TOGETHER)
      await Promise.all(devices.slice(i, i + BOOT_TOGETHER).map((d) => {
        const reached = next(d, "boot");
        spawnDevice(d, startMs);
        return reached;
      }));
    log(`soak: ${options.devices} device(s) booted in ${((Date.now() - started) / 1000).toFixed(1)} s; broker on ${brokerPort}, proxy on ${proxy.port}, schema ${schema}`);

    const counters = { powerCuts: 0, outages: 0, brokerRestarts: 0 };
    let maxLogDepth = 0;
    let t = startMs;
    let events = plan.events;
    const step = async (to: number, cut: Device[]) => {
      const waits = devices.filter((d) => d.child && !cut.includes(d)).map((d) => next(d, `step to ${new Date(to).toISOString()}`));
      for (const d of devices) message(d, { type: "limit", ms: to });
      // A power cut lands while the device runs towards the step's end: at any point of its work.
      await Promise.all(cut.map(async (d) => {
        await new Promise((r) => setTimeout(r, Math.floor(random() * 20)));
        await killDevice(d);
        counters.powerCuts++;
      }));
      await Promise.all(waits);
      for (const d of cut) {
        const booted = next(d, "boot after a power cut");
        spawnDevice(d, to);
        await booted;
      }
      for (const d of devices) if (d.progress) {
        maxLogDepth = Math.max(maxLogDepth, d.progress.pending);
        d.rssSamples.push(d.progress.rssMb);
      }
    };
    const end = startMs + options.days * DAY;
    let lastReport = Date.now();
    while (t < end) {
      if (options.realDeadline && Date.now() > options.realDeadline) {
        log(`soak: real-time deadline reached at ${((t - startMs) / DAY).toFixed(2)} simulated days; cutting the scenario short`);
        break;
      }
      const due = events.filter((e) => e.atMs <= t);
      events = events.filter((e) => e.atMs > t);
      const cut: Device[] = [];
      for (const e of due) {
        if (e.kind === "outage-start") {
          proxy.mode = { kind: "refuse" };
          proxy.cutAll();
          counters.outages++;
        } else if (e.kind === "outage-end") proxy.mode = { kind: "pass" };
        else if (e.kind === "broker-stop") {
          await broker.stop();
          counters.brokerRestarts++;
        } else if (e.kind === "broker-start") broker = await startMosquitto(brokerOptions);
        else if (e.kind === "power-cut" && e.device !== undefined && !cut.includes(devices[e.device])) cut.push(devices[e.device]);
        log(`soak: ${new Date(t).toISOString()} ${e.kind}${e.device !== undefined ? ` ${devices[e.device].thing}` : ""}`);
      }
      const to = Math.min(t + stepMs, end, events[0]?.atMs ?? Infinity);
      await step(Math.max(to, t + 1000), cut);
      t = Math.max(to, t + 1000);
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        const pending = devices.reduce((n, d) => n + (d.progress?.pending ?? 0), 0);
        log(`soak: ${((t - startMs) / DAY).toFixed(3)} of ${options.days} simulated days after ${((Date.now() - started) / 1000).toFixed(0)} s; ${pending} records waiting; rules runner ${runner.stats.messages} messages`);
      }
    }
    const scenarioEnd = t;
    // The scenario is over: the network and broker are up, and the fleet runs until every log is empty.
    proxy.mode = { kind: "pass" };
    if (events.some((e) => e.kind === "broker-start")) broker = await startMosquitto(brokerOptions);
    const drainDeadline = Date.now() + 20 * 60_000;
    // Caught up: no more waiting than one flush interval's readings (the stop publishes those).
    const caughtUp = Math.ceil(Number(base.flush_ms ?? 5000) / Number(base.sample_ms ?? 1000)) + 2;
    while (devices.some((d) => (d.progress?.pending ?? Infinity) > caughtUp)) {
      if (Date.now() > drainDeadline) throw new Error("soak: the fleet's logs did not empty within 20 minutes after the scenario");
      await step(t + stepMs, []);
      t += stepMs;
    }
    // A clean stop: each device publishes what is left (nothing) and disconnects.
    const stopped = await Promise.all(devices.map(async (d) => {
      const done = next(d, "stop");
      message(d, { type: "stop", drainMs: 30_000 });
      const m = await done;
      if (m.type !== "stopped") throw new Error(`soak: ${d.thing} did not stop`);
      return { d, m };
    }));
    let stillInFlash = 0;
    let droppedTotal = 0;
    let billing = zeroBilling();
    for (const { d, m } of stopped) {
      stillInFlash += m.stillInFlash;
      droppedTotal += m.droppedTotal;
      billing = addBilling(billing, addBilling(d.billedBefore, m.progress.billing));
    }
    // The rules runner catches up: nothing new for 3 s and nothing in hand.
    let last = -1;
    for (let quiet = 0; quiet < 3; ) {
      await new Promise((r) => setTimeout(r, 1000));
      await runner.idle();
      quiet = runner.stats.messages === last ? quiet + 1 : 0;
      last = runner.stats.messages;
    }
    const accounts: DeviceAccount[] = [];
    for (const d of devices) accounts.push(await accountDevice(database, d.thing, d.state));
    // Memory: each device's RSS over the run's second half against its first steps (after warm-up).
    const growth = devices.map((d) => {
      const s = d.rssSamples;
      const early = s.slice(Math.floor(s.length * 0.1), Math.floor(s.length * 0.2) + 1);
      const late = s.slice(-Math.max(1, Math.floor(s.length * 0.1)));
      return { first: Math.max(...early), last: Math.max(...late) };
    });
    return {
      devices: options.devices,
      simulatedDays: (scenarioEnd - startMs) / DAY,
      realSeconds: (Date.now() - started) / 1000,
      accounts,
      duplicatesDelivered,
      billing,
      maxLogDepth,
      rssGrowthMb: Math.max(...growth.map((g) => g.last - g.first)),
      rssFirstMb: Math.max(...growth.map((g) => g.first)),
      rssLastMb: Math.max(...growth.map((g) => g.last)),
      ...counters,
      sensorEvents: plan.sensors.reduce((n, s) => n + s.length, 0),
      stillInFlash,
      droppedTotal,
      deadLetters: runner.stats.deadLetters,
      messagesToRules: runner.stats.messages,
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
    await runner?.kill().catch(() => {});
    await proxy?.close().catch(() => {});
    await broker?.stop().catch(() => {});
    if (!process.env.SOAK_KEEP) rmSync(work, { recursive: true, force: true });
    else log(`soak: kept ${work}`);
  }
}
