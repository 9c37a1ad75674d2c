// One simulated device of a soak: the unchanged firmware (src/main.ts, a module singleton, hence a
// process per device) on the host target, its clock accelerated (docs/soak.md) up to the limits the
// fleet driver sends, its flash log's records noted in a ledger (./ledger.ts), its sensors driven by
// the scenario, and what it publishes counted as AWS would bill it. Started by tools/soak/fleet.ts.

import { appendFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { bootFirmware } from "../../host/firmware.ts";
import { firmwareClock, type ScheduledTimer } from "../../host/moddable/clock.ts";
import { networkActivity } from "../../host/moddable/network-activity.ts";
import { traceSink } from "../../host/moddable/runtime.ts";
import { processTemperature, simBoard } from "../../sim/board.ts";
import { rtdResistance } from "../../drivers/max31865/rtd.ts";
import { METERING, units } from "../../cloud/pricing.ts";
import { recordLedger } from "./ledger.ts";
import type { Billing, DeviceProgress, DeviceSetup, FromDevice, ToDevice } from "./protocol.ts";

const send = (message: FromDevice) => process.send?.(message);
const setup = JSON.parse(process.argv[2]) as DeviceSetup;

// Firmware time from here on: the timers, the chips and the device's own clock (Date.now, which the
// firmware reads as its RTC) all run on the accelerated clock; the limit starts where the boot does.
firmwareClock.accelerate({
  startMs: setup.startMs,
  limitMs: setup.startMs,
  idle: () => networkActivity.idle(),
  // Only once the firmware runs: the driver's first step waits for the boot.
  onLimit: () => node && send({ type: "at", progress: progress() }),
});
Date.now = () => Math.floor(firmwareClock.now());

const topicRoot = String(setup.config.topic_root);
const billing: Billing = { messages: 0, units: 0, bytes: 0, telemetryMessages: 0, telemetryUnits: 0, alarmUnits: 0, statusUnits: 0, alarmMessages: 0, statusMessages: 0, readingsPublished: 0, connects: 0 };
let droppedAtBoot = 0;
/** A publish as AWS meters it: topic plus payload in 5 KB units, a retained one twice. */
const bill = (topic: "telemetry" | "alarm" | "status", payloadBytes: number, retained: boolean) => {
  const bytes = Buffer.byteLength(topicRoot + topic) + payloadBytes;
  const n = units(bytes, METERING.messageUnitBytes) * (retained && METERING.retainedCountsTwice ? 2 : 1);
  billing.messages++;
  billing.bytes += bytes;
  billing.units += n;
  billing[`${topic}Units`] += n;
};
// The firmware's log lines say what it published and what its flash log held at boot.
const onLine = (line: string) => {
  let m: RegExpMatchArray | null;
  if ((m = line.match(/^(?:publish|resend) id=\d+ (alarm seq=\d+|seq=\d+\.\.\d+ readings=(\d+)) bytes=(\d+)/))) {
    const alarm = m[1].startsWith("alarm");
    bill(alarm ? "alarm" : "telemetry", Number(m[3]), false);
    if (alarm) billing.alarmMessages++;
    else {
      billing.telemetryMessages++;
      billing.readingsPublished += Number(m[2]);
    }
  } else if ((m = line.match(/^(?:status online|heartbeat|status offline \(stopped\)) bytes=(\d+)/))) {
    bill("status", Number(m[1]), true);
    billing.statusMessages++;
  } else if (line.startsWith("connected to ")) {
    billing.connects++;
    billing.messages++;
    billing.units++; // CONNECT with its will (a status of about 100 bytes)
  } else if ((m = line.match(/^flash log: .* (\d+) dropped since format/))) droppedAtBoot = Number(m[1]);
  // Which records a full log gave up: kept in a file at once (the process may be killed next).
  else if ((m = line.match(/^flash log: full; dropped \d+ unacknowledged records \((\d+)\.\.(\d+)\)/))) appendFileSync(join(setup.state, "drops.txt"), `${m[1]} ${m[2]}\n`);
};
let partial = "";
traceSink.write = (text) => {
  if (setup.logFile) appendFileSync(setup.logFile, text);
  const lines = (partial + text).split("\n");
  partial = lines.pop() ?? "";
  for (const line of lines) onLine(line);
};

// The scenario's sensors: the RTD above the 85 C alarm while overheating, every chip faulted while faulty.
const board = simBoard();
const during = (kind: string, atMs: number) => setup.sensorEvents.some((e) => e.kind === kind && atMs >= e.fromMs && atMs < e.toMs);
board.max31865.resistance = (atMs) => rtdResistance(during("overheat", atMs) ? 90 : processTemperature(atMs), 100);
let faulted = false;
const faultWatch: ScheduledTimer = {
  deadline: 0,
  repeat: 1000,
  fire() {
    const on = during("fault", firmwareClock.now());
    if (on !== faulted) board.faultEveryChip((faulted = on));
  },
};
firmwareClock.arm(faultWatch, 0);

// One ledger file per boot, in order (./ledger.ts reads them back in that order): a power cut starts
// a new process, a restart the firmware asks for (main's reboot) a new partition in the same one.
mkdirSync(setup.state, { recursive: true });
const nextLedgerPath = () => {
  const boots = readdirSync(setup.state).filter((f) => f.startsWith("ledger-")).length;
  return join(setup.state, `ledger-${String(boots).padStart(4, "0")}.bin`);
};

// The ledger taps the log partition each time the firmware opens it (bootFirmware forgets any earlier one).
const logPartition = String(setup.config.log_partition ?? "iiotlog");
const openPartition = board.flashPartition.bind(board);
let ledger: { close(): void } | undefined;
let tapped: unknown;
board.flashPartition = (label, storage) => {
  const flash = openPartition(label, storage);
  if (label === logPartition && flash !== tapped) {
    ledger?.close();
    ledger = recordLedger(flash, nextLedgerPath());
    tapped = flash;
  }
  return flash;
};

let node: Awaited<ReturnType<typeof bootFirmware>> | undefined;
const progress = (): DeviceProgress => ({
  atMs: firmwareClock.now(),
  pending: node?.stats.pending ?? 0,
  rssMb: process.memoryUsage().rss / 2 ** 20,
  billing: { ...billing },
});

process.on("message", (message: ToDevice) => {
  if (message.type === "limit") firmwareClock.setLimit(message.ms);
  else if (message.type === "stop") void stop(message.drainMs);
});
process.on("disconnect", () => process.exit(1));

async function stop(drainMs: number) {
  firmwareClock.setLimit(Infinity);
  const stats = await node!.stop(drainMs);
  firmwareClock.disarm(faultWatch);
  // Exit once the message is out: on a loaded host 200 ms were not always enough, and the driver
  // took the exit for a failure.
  process.send?.({ type: "stopped", progress: progress(), droppedTotal: droppedAtBoot + stats.dropped, stillInFlash: stats.pending, sampled: stats.sampled } satisfies FromDevice, () => process.exit(0));
}

try {
  node = await bootFirmware({
    config: { ...setup.config, thing: setup.thing, broker_address: "127.0.0.1", broker_port: setup.brokerPort, broker_name: "localhost" },
    resources: setup.resources,
    state: setup.state,
  });
  if (!ledger) throw new Error(`the firmware opened no partition ${logPartition}`);
  send({ type: "at", progress: progress() });
} catch (error) {
  send({ type: "failed", error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exit(1);
}
