// Runs the unchanged firmware on the host target under its default topic root and records every
// message it publishes, as the cloud rules would receive them: telemetry through a normal process
// temperature, a hot one (above the 85 C limit), every chip faulted (bad readings, no values) and
// healed, plus the status messages of the connection (online, and offline on the clean stop).

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { bootFirmware, manifestConfig } from "../../host/firmware.ts";
import { rtdResistance } from "../../drivers/max31865/rtd.ts";
import { driftingAir, pressVibration, processTemperature, simBoard } from "../../sim/board.ts";
import type { NodeStats } from "../../src/app.ts";
import { kindFilter, MESSAGE_KINDS, type TopicLayout } from "../../cloud/topics.ts";
import type { Pki } from "./pki.ts";
import { until } from "./until.ts";

export interface CapturedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export const NORMAL_C = 60;
export const HOT_C = 90;

/** Readings published with each phase's process temperature, by sequence number. */
export interface Phases {
  hot: { from: number; until: number };
  faulted: { from: number; until: number };
}

export async function captureFirmwareMessages(options: {
  port: number;
  pki: Pki;
  thing: string;
  /** Certificate (CN) of the recording client, from the dev PKI. */
  subscriber: string;
  clientId: string;
  layout: TopicLayout;
  /** Samples per phase (200 ms each). */
  samples?: number;
}): Promise<{ messages: CapturedMessage[]; stats: NodeStats; phases: Phases; topicRoot: string }> {
  const { port, pki, thing, layout } = options;
  const samples = options.samples ?? 5;
  const topicRoot = String(manifestConfig().topic_root);
  const messages: CapturedMessage[] = [];
  // The rules' own filters, never `#`.
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ...pki.tlsOptions(options.subscriber),
    clientId: options.clientId,
    servername: "localhost",
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const board = simBoard();
  let stopping: Promise<NodeStats> | undefined;
  let node: Awaited<ReturnType<typeof bootFirmware>> | undefined;
  try {
    client.on("message", (topic, payload, packet) => void messages.push({ topic, payload, retain: packet.retain }));
    await client.subscribeAsync(MESSAGE_KINDS.map((k) => kindFilter(layout, k)), { qos: 1 });
    board.max31865.resistance = rtdResistance(NORMAL_C, 100);
    node = await bootFirmware({
        // No topic_root: the manifest's default root, which the rules' filters must match.
        config: { thing, broker_address: "127.0.0.1", broker_port: port, broker_name: "localhost", sample_ms: 200, flush_ms: 600, startup_jitter_ms: 0 },
        resources: pki.resources(thing),
        state: mkdtempSync(join(tmpdir(), "iiot-cloud-state-")),
      });
    const running = node;
    await until(() => running.stats.sampled >= samples, `${samples} samples at ${NORMAL_C} C`);
    board.max31865.resistance = rtdResistance(HOT_C, 100);
    // The window in flight when the input changes may hold either value: phases leave it out.
    const hotFrom = running.stats.sampled + 1;
    await until(() => running.stats.sampled >= hotFrom + samples, `${samples} samples at ${HOT_C} C`);
    const hotUntil = running.stats.sampled - 1;
    board.faultEveryChip(true);
    const faultedFrom = running.stats.sampled + 1;
    await until(() => running.stats.sampled >= faultedFrom + samples, `${samples} faulted samples`);
    const faultedUntil = running.stats.sampled - 1;
    board.faultEveryChip(false);
    board.max31865.resistance = rtdResistance(NORMAL_C, 100);
    await until(() => running.stats.sampled >= faultedUntil + 1 + samples, `${samples} healed samples`);
    const stats = await (stopping = running.stop(5000));
    const readings = () => messages.filter((m) => m.topic.endsWith("/telemetry")).reduce((n, m) => n + (JSON.parse(m.payload.toString()) as { readings: unknown[] }).readings.length, 0);
    await until(() => readings() >= stats.sampled && messages.some((m) => m.topic.endsWith("/status") && m.payload.includes('"offline"')), "every reading and the offline status", 5000);
    return { messages, stats, phases: { hot: { from: hotFrom, until: hotUntil }, faulted: { from: faultedFrom, until: faultedUntil } }, topicRoot };
  } finally {
    // No firmware timer or socket outlives the capture, whatever failed.
    if (node && !stopping) await node.stop(0);
    await client.endAsync(true);
    // Give the shared board its plant back for whatever runs next in this process.
    board.faultEveryChip(false);
    board.sht3x.environment = driftingAir;
    board.bme280.environment = (atMs) => ({ ...driftingAir(atMs), pressure: 101_325 });
    board.max31865.resistance = (atMs) => rtdResistance(processTemperature(atMs), 100);
    board.adxl345.motion = pressVibration;
  }
}
