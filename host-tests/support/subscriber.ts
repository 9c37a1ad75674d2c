// An independent MQTT.js subscriber: what a cloud rule would see of the node's telemetry.

import { expandReadings } from "../../cloud/expand-readings.ts";
import mqtt, { type MqttClient } from "mqtt";

export interface TelemetryDoc {
  device: string;
  boot: number;
  readings: { seq: number; ts: number; sensor: string; quality?: string; [value: string]: unknown }[];
}

export interface Subscriber {
  docs: TelemetryDoc[];
  /** Subscriptions made: 1 at first, one more after each reconnect to a broker that lost the session. */
  readonly subscriptions: number;
  /** Waits until at least n readings arrived, or timeoutMs passed. */
  waitForReadings(n: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

export async function subscribe(options: {
  port: number; tls: { ca: Buffer; cert: Buffer; key: Buffer }; topic: string; clientId: string;
  /** A persistent session that reconnects by itself: survives broker restarts. */
  persistent?: boolean;
}): Promise<Subscriber> {
  const client: MqttClient = await mqtt.connectAsync(`mqtts://127.0.0.1:${options.port}`, {
    ...options.tls,
    clientId: options.clientId,
    servername: "localhost",
    rejectUnauthorized: true,
    clean: !options.persistent,
    reconnectPeriod: options.persistent ? 200 : 0,
    connectTimeout: 5000,
    resubscribe: false, // done below, where it can be counted
  });
  const docs: TelemetryDoc[] = [];
  let subscriptions = 0;
  // Readings with their values named (cloud/expand-readings.ts), as the stores keep them.
  client.on("message", (_topic, payload) => {
    const doc = JSON.parse(payload.toString("utf8")) as TelemetryDoc;
    docs.push({ ...doc, readings: expandReadings(doc) as unknown as TelemetryDoc["readings"] });
  });
  // A restarted broker without persistence has forgotten the session: subscribe again, and count it.
  client.on("connect", (connack) => {
    if (!connack.sessionPresent) void client.subscribeAsync(options.topic, { qos: 1 }).then(() => void subscriptions++, () => {});
  });
  await client.subscribeAsync(options.topic, { qos: 1 });
  subscriptions++;
  const count = () => docs.reduce((n, d) => n + d.readings.length, 0);
  return {
    docs,
    get subscriptions() {
      return subscriptions;
    },
    async waitForReadings(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (count() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      return count();
    },
    close: () => client.endAsync(),
  };
}

/** Resolves with how the broker answered a connection attempt: "connected" or the error. */
export async function tryConnect(port: number, tls: Partial<{ ca: Buffer; cert: Buffer; key: Buffer }>): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
      ...tls, clientId: "iiot-test-intruder", servername: "localhost", rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000,
    });
    const done = (outcome: string) => {
      client.end(true);
      resolve(outcome);
    };
    client.once("connect", () => done("connected"));
    client.once("error", (e) => done(`error: ${e.message}`));
    client.once("close", () => done("closed before CONNACK"));
  });
}
