// The node: sample the sensors on a fixed period, pack readings into batches, hand batches to the uplink.

import Timer from "timer";
import type { NodeConfig } from "./config";
import { BatchEncoder, type Reading } from "./telemetry/batch";
import { Uplink } from "./uplink";
import type { SocketCallbacks, StreamSocket } from "./mqtt/client";

/** A sensor as the node sees it: a name and a sample() that never throws. */
export interface SensorSource {
  name: string;
  sample(): { quality: Reading["quality"]; reason?: string; values: Record<string, number> };
}

export interface NodeDependencies {
  config: NodeConfig;
  boot: number;
  sensors: SensorSource[];
  openSocket(callbacks: SocketCallbacks): StreamSocket;
  writeReserve: number;
  log(line: string): void;
}

export interface NodeStats {
  sampled: number;
  published: number;
  acknowledged: number;
  readingsAcknowledged: number;
  readingsDropped: number;
  connects: number;
  lastError: string;
}

export interface RunningNode {
  readonly stats: NodeStats;
  /** Stops sampling, publishes what is pending and waits up to drainMs for its acknowledgement. */
  stop(drainMs?: number): Promise<NodeStats>;
}

export function startNode(deps: NodeDependencies): RunningNode {
  const { config, log } = deps;
  const encoder = new BatchEncoder({ device: config.thing, boot: deps.boot, maxBytes: config.maxBatchBytes });
  const uplink = new Uplink({
    openSocket: deps.openSocket,
    writeReserve: deps.writeReserve,
    connect: { clientId: config.thing, keepAliveSeconds: config.keepAliveSeconds, cleanSession: true },
    topic: `${config.topicRoot}telemetry`,
    inFlightWindow: 10,
    maxQueuedBatches: 8,
    reconnectDelayMs: 2000,
    log,
  });
  let seq = 0;
  let sampled = 0;

  const stats = (): NodeStats => {
    const u = uplink.stats;
    return {
      sampled, published: u.published, acknowledged: u.acknowledged, readingsAcknowledged: u.readingsAcknowledged,
      readingsDropped: u.readingsDropped, connects: u.connects, lastError: u.lastError,
    };
  };

  const flush = () => {
    const batch = encoder.flush();
    if (batch) uplink.send(batch);
  };

  const sampleAll = () => {
    const ts = Date.now();
    for (const sensor of deps.sensors) {
      const s = sensor.sample();
      const reading: Reading = { seq: ++seq, ts, sensor: sensor.name, quality: s.quality, values: s.values };
      if (s.reason) reading.reason = s.reason;
      sampled++;
      log(`sample seq=${reading.seq} ${sensor.name} ${describeValues(s.values)} ${s.quality}${s.reason ? ` (${s.reason})` : ""}`);
      const closed = encoder.add(reading);
      if (closed) uplink.send(closed);
    }
  };

  log(`${config.thing} boot ${deps.boot}: sampling every ${config.sampleIntervalMs} ms, batches up to ${config.maxBatchBytes} bytes or ${config.flushIntervalMs} ms`);
  log(`broker ${config.broker.address}:${config.broker.port} (TLS server name ${config.broker.serverName})`);
  uplink.start();
  const sampler = Timer.repeat(sampleAll, config.sampleIntervalMs);
  const flusher = Timer.repeat(flush, config.flushIntervalMs);

  return {
    get stats() {
      return stats();
    },
    async stop(drainMs = 10_000) {
      Timer.clear(sampler);
      Timer.clear(flusher);
      flush();
      const drained = await uplink.whenIdle(drainMs);
      if (!drained) log(`stop: ${uplink.unacknowledgedBatches} batches still unacknowledged after ${drainMs} ms`);
      uplink.stop();
      return stats();
    },
  };
}

function describeValues(values: Record<string, number>): string {
  const parts: string[] = [];
  for (const name in values) parts.push(`${name}=${values[name]}`);
  return parts.join(" ") || "-";
}
