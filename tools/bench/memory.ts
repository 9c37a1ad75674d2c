// Live XS slots of what the firmware keeps for the run, measured on the real XS engine (xsnap): each
// program builds the object, keeps it, collects garbage, and the engine reports the slots in use;
// a program that builds nothing is the baseline. Slot counts compare one to one with an ESP32's.

import { bundleForXs, runBundleOnXs } from "../../host-tests/xs/harness";
import type { Figure } from "./report.ts";

/**
 * Live slots after `build` ran and its result was kept, minus the same program keeping only `base`
 * (what the build refers to: without it the bundler would drop the modules, and the difference would
 * count their code, which a device keeps in flash).
 */
async function liveSlots(imports: string, build: string, base: string): Promise<number> {
  const run = async (keep: string) => {
    const code = await bundleForXs(`${imports}\nglobalThis.__keep = ${keep};\ngc();\nreport(0);`);
    return (await runBundleOnXs(code)).heapSlots;
  };
  return (await run(`[${build}, ${base}]`)) - (await run(base));
}

/**
 * Slots that `step` allocates per call, garbage included: slots in use after `calls` calls with no
 * collection in between, minus after none, divided by calls (XS collects only when its heap is
 * full, and xsnap's is far larger than this allocates). Two call counts must agree (within 1 %), or a collection
 * interfered and the figure is NaN.
 */
async function slotsPerCall(setup: string, step: string): Promise<number> {
  const run = async (calls: number) => {
    const code = await bundleForXs(`${setup}\nconst sink = [];\ngc();\nfor (let i = 0; i < ${calls}; i++) sink.push(${step});\nglobalThis.__keep = sink;\nreport(0);`);
    return (await runBundleOnXs(code)).heapSlots;
  };
  const none = await run(0);
  const a = (await run(50)) - none;
  const b = (await run(100)) - none;
  const per = a / 50;
  return Math.abs(b / 100 - per) <= Math.max(1, per / 100) ? Math.round(per * 10) / 10 : NaN;
}

export async function memoryFigures(): Promise<Figure[]> {
  const board = await liveSlots(`import { simBoard } from "./sim/board.ts";`, "simBoard()", "[simBoard]");
  // A log whose 2 MiB partition is full of unacknowledged records (about 14 h of the reference
  // device offline): mounted from flash, as at the first boot after such an outage.
  const fullLog = await liveSlots(
    `import { FlashLog } from "./src/log/flash-log.ts";
import { SimNorFlash } from "./sim/nor-flash.ts";
import { encodeReport } from "./src/telemetry/reading.ts";
import { referenceWindow } from "./tools/bench/workload.ts";
const flash = new SimNorFlash({ byteLength: 0x200000, blockSize: 4096, random: () => 0.5 });
{
  const filling = new FlashLog(flash);
  for (let i = 0; filling.dropped === 0; i++) filling.append(encodeReport(1795000000000 + i * 1000, referenceWindow(i)));
}
`,
    "new FlashLog(flash)",
    "[FlashLog, flash]",
  );
  // What the fleet code keeps for the whole run: the shadow agent with the reference configuration in
  // force (a stored document applied at boot), the command dispatcher with 16 remembered request ids,
  // and the pipeline's windows and alarm states.
  const base = `{ sampleIntervalMs: 1000, sensors: ["sht3x", "bme280", "max31865", "adxl345"], flushIntervalMs: 5000, heartbeatMs: 60000, maxBatchBytes: 5120 }`;
  const shadow = await liveSlots(
    `import { ShadowAgent } from "./src/fleet/shadow.ts";
const stored = JSON.stringify({ version: 7, document: { flush_ms: 2000, channels: { "max31865.temperature": { interval_s: 5, stats: ["min", "max"] }, "sht3x.temperature": { interval_s: 1 } } } });`,
    `new ShadowAgent({ thing: "press-7", base: ${base}, store: { load: () => stored, save() {} }, apply() {}, publish() {} })`,
    "[ShadowAgent, stored]",
  );
  const commands = await liveSlots(
    `import { CommandDispatcher } from "./src/fleet/commands.ts";
const ids = Array.from({ length: 16 }, (_, i) => "request-" + i).join(" ");
const handlers = { flush() {}, resend() {}, reboot() {}, identify() {}, acknowledgeAlarm() {}, diagnostics() {}, rotate() {} };`,
    `new CommandDispatcher({ topicRoot: "factory/chicago/building-a/line-3/press-7/", handlers, now: () => 0, clockValid: () => true, memory: { load: () => ids, save() {} } })`,
    "[CommandDispatcher, ids, handlers]",
  );
  const pipeline = await liveSlots(
    `import { parsePipelineConfig } from "./src/pipeline/channel-config.ts";
import { ReportWindows } from "./src/pipeline/windows.ts";
import { AlarmMonitor } from "./src/pipeline/alarms.ts";`,
    `(() => { const c = parsePipelineConfig({}, 1000, ["sht3x", "bme280", "max31865", "adxl345"]); const w = new ReportWindows(c, 1000); return [c, w, new AlarmMonitor(c.alarms, [...new Set([...w.channels, ...c.alarms.channels.keys()])])]; })()`,
    "[parsePipelineConfig, ReportWindows, AlarmMonitor]",
  );
  // What firmware updates keep while no job runs: the update service with its Jobs client, agent and
  // record store (a platform of stand-ins: on a device the slot and boot control are host objects
  // of a few slots each, and the key is a 91-byte resource).
  const updates = await liveSlots(
    `import { UpdateService } from "./src/ota/update-service.ts";
import { SimNorFlash } from "./sim/nor-flash.ts";
import { fromHex } from "./src/ota/sha256.ts";
const records = new SimNorFlash({ byteLength: 8192, blockSize: 4096, random: () => 0.5 });
const key = fromHex("3059301306072a8648ce3d020106082a8648ce3d03010703420004b92a049fc195cd76f3672aef82eecbde0f227ef79907c0f77b1ac0c2e67b5bc3002f005d594d6e9dca2cb8853f4bae106e733552596ad3606b490d1452d4c0af");
const slot = { capacity: 0x1e0000, sectorSize: 4096, begin() {}, write() {}, read() {}, activate() {}, abort() {} };
const boot = { runningState: () => "valid", markValid() {}, rollback() {}, reboot() {} };`,
    `(() => { const s = new UpdateService({ thing: "press-7", version: "0.3.0", platform: { runningVersion: "0.3.0", slot, boot, records }, publicKey: key, publish: () => true, now: () => 0, log() {} }); s.boot(); s.connected(); return s; })()`,
    "[UpdateService, records, key, slot, boot]",
  );
  // A replay's per-reading work in the pure code: the stored record decoded, then added to a batch
  // (batches of 5,120 bytes closed and encoded to UTF-8 on the way; the reference device's columns).
  const replaySetup = `import { encodeReport, decodeReading } from "./src/telemetry/reading.ts";
import { BatchEncoder, Legend } from "./src/telemetry/batch.ts";
import { referenceWindow } from "./tools/bench/workload.ts";
const payloads = [];
for (let i = 0; i < 200; i++) payloads.push(encodeReport(1795000000000 + i * 1000, referenceWindow(i)));
const readings = payloads.map((p, i) => decodeReading(i, p));
const encoder = new BatchEncoder({ device: "press-7", boot: 3, maxBytes: 5120, columns: new Legend([0x3e7, 0, 0]) });`;
  // ...and the flash log's side: reading records (32 at a time, as the uplink does) and marking them
  // delivered, on a simulated NOR chip held in RAM (a device reads and writes its flash instead).
  const logSetup = `import { FlashLog } from "./src/log/flash-log.ts";
import { SimNorFlash } from "./sim/nor-flash.ts";
import { encodeReport } from "./src/telemetry/reading.ts";
import { referenceWindow } from "./tools/bench/workload.ts";
const flash = new SimNorFlash({ byteLength: 0x100000, blockSize: 4096, random: () => 0.5 });
const log = new FlashLog(flash);
for (let i = 0; i < 3300; i++) log.append(encodeReport(1795000000000 + i * 1000, referenceWindow(i)));`;
  const readGarbage = (await slotsPerCall(logSetup, "log.read(i * 32, 32).length")) / 32;
  const ackGarbage = await slotsPerCall(logSetup, "log.acknowledge(i)");
  const decodeGarbage = await slotsPerCall(replaySetup, "decodeReading(i, payloads[i])");
  const encodeGarbage = await slotsPerCall(replaySetup, "encoder.add(readings[i])");
  return [
    { name: "memory.replay_read_slots_per_record", value: Math.round(readGarbage * 10) / 10, unit: "slots", note: "slots allocated per record reading the flash log 32 records at a time (the records, their payloads, the scans; the simulated chip's copies included)" },
    { name: "memory.replay_ack_slots_per_record", value: ackGarbage, unit: "slots", note: "slots allocated per record marking it delivered (its scan and CRC check, the one-byte program; the simulated chip's copies included)" },
    { name: "memory.replay_decode_slots_per_reading", value: decodeGarbage, unit: "slots", note: "slots allocated (garbage included) decoding one stored reference reading: the Reading, its Map and a sample object per channel" },
    { name: "memory.replay_encode_slots_per_reading", value: encodeGarbage, unit: "slots", note: "slots allocated adding one reference reading to a batch (5,120-byte batches closed and UTF-8-encoded on the way): the batch JSON is strings (chunk), so only small objects count" },
    { name: "memory.shadow_agent_slots", value: shadow, unit: "slots", note: "the named-shadow agent with a stored configuration applied (the document, its validated settings, the five topics)" },
    { name: "memory.command_dispatcher_slots", value: commands, unit: "slots", note: "the command dispatcher with 16 remembered request ids" },
    { name: "memory.update_service_slots", value: updates, unit: "slots", note: "firmware updates at rest: the update service, its Jobs client (having asked for the next job), the agent with its parsed key and the update record store, and the seven topic filters" },
    { name: "memory.pipeline_slots", value: pipeline, unit: "slots", note: "the reference device's validated channels and alarms, its report windows and the alarm states of the channels it watches (as src/app.ts builds them): windows and alarm states in typed arrays, channels and limits set alike sharing one settings object" },
    { name: "memory.sim_board_slots", value: board, unit: "slots", note: "the simulated reference board (four chips, buses, GPIO) kept by the simulator build and the host target; none of it exists on a device" },
    { name: "memory.flash_log_full_slots", value: fullLog, unit: "slots", note: "a FlashLog mounted on a 2 MiB partition full of unacknowledged records (512 sectors, about 14 h of the reference device): per-sector state is in typed arrays (4.5 KiB of chunk), not objects; the count varies by a few tens of slots with the program's own bookkeeping" },
  ];
}
