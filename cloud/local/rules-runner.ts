// The local stand-in for the AWS IoT rules engine: an MQTT.js client with a persistent session
// (clean session off, a fixed client id) that subscribes at QoS 1 to the rules' own topic filters
// (never `#`), runs every matching rule through the IoT SQL evaluator and hands the output to the
// rule's sink. A message is acknowledged only after every rule has stored it or dead-lettered it:
// if the runner dies in between, the broker delivers the message again, and the sinks' inserts,
// keyed by (device, seq), make that harmless.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { compile, parsePayload } from "../iot-sql/evaluate.ts";
import { ruleTopicFilters, type RuleDefinition } from "../rules.ts";
import { topicMatches } from "../topics.ts";
import type { DeadLetters } from "./dead-letters.ts";
import type { Sinks } from "./sinks.ts";

type PublishPacket = Parameters<MqttClient["handleMessage"]>[0];

/** The rules runner's certificate CN and MQTT client id. */
export const RULES_RUNNER_IDENTITY = "iiot-rules";

export interface RulesRunnerOptions {
  /** mqtts://host:port */
  url: string;
  tls: { ca: Buffer; cert: Buffer; key: Buffer; servername?: string };
  clientId?: string;
  rules: readonly RuleDefinition[];
  sinks: Sinks;
  deadLetters: DeadLetters;
  /** timestamp() for the rules. */
  now?: () => number;
  log?: (line: string) => void;
}

export interface RulesRunnerStats {
  /** Messages taken (each once per delivery, redeliveries included). */
  messages: number;
  /** Rule outputs a sink stored. */
  actions: number;
  deadLetters: number;
}

export interface RulesRunner {
  readonly stats: RulesRunnerStats;
  /** Resolves once no message is being processed. */
  idle(): Promise<void>;
  /** Waits for the message in hand, then disconnects. */
  close(): Promise<void>;
  /** Drops the connection at once, as a crash would: what was not acknowledged comes again. */
  kill(): Promise<void>;
}

export async function startRulesRunner(options: RulesRunnerOptions): Promise<RulesRunner> {
  const rules = options.rules.map((definition) => {
    const compiled = compile(definition.sql);
    // The SQL's FROM and the declared filter are one: the runner subscribes to what the rule reads.
    if (compiled.topicFilter !== definition.topicFilter) throw new Error(`rule ${definition.name}: FROM '${compiled.topicFilter}' is not its topic filter ${definition.topicFilter}`);
    return { definition, compiled };
  });
  const filters = ruleTopicFilters(options.rules);
  if (filters.some((f) => f.split("/")[0] === "#")) throw new Error("the rules runner never subscribes to everything (#)");
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const stats: RulesRunnerStats = { messages: 0, actions: 0, deadLetters: 0 };
  let pending: Promise<void> = Promise.resolve();

  async function handle(packet: PublishPacket): Promise<void> {
    stats.messages++;
    const topic = packet.topic;
    const bytes = typeof packet.payload === "string" ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
    const payload = parsePayload(bytes);
    const receivedAt = now();
    for (const { definition, compiled } of rules) {
      if (!topicMatches(definition.topicFilter, topic)) continue;
      let failedAction = "evaluate";
      try {
        const outcome = compiled.run(payload, { topic, timestamp: receivedAt });
        if (!outcome.matched || outcome.output === undefined) continue;
        failedAction = definition.sink;
        await options.sinks[definition.sink](outcome.output, { rule: definition, topic, receivedAt });
        stats.actions++;
      } catch (error) {
        const errorMessage = error instanceof Error ? error.message : String(error);
        stats.deadLetters++;
        log(`rules: ${definition.name} on ${topic}: ${failedAction} failed: ${errorMessage}`);
        // If this write fails too, the message is not acknowledged and comes back.
        await options.deadLetters.write({
          ruleName: definition.name,
          topic,
          base64OriginalPayload: bytes.toString("base64"),
          failures: [{ failedAction, failedResource: definition.sink, errorMessage }],
          received_at: receivedAt,
        });
      }
    }
  }

  const clientOptions: IClientOptions = {
    ca: options.tls.ca,
    cert: options.tls.cert,
    key: options.tls.key,
    servername: options.tls.servername ?? "localhost",
    rejectUnauthorized: true,
    clientId: options.clientId ?? RULES_RUNNER_IDENTITY,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
  };
  const client: MqttClient = mqtt.connect(options.url, clientOptions);
  // MQTT.js sends the PUBACK when this calls back: after the sinks, not before. Set before the
  // connection opens, since a persistent session may deliver queued messages at once.
  client.handleMessage = (packet, done) => {
    const run = pending.then(() => handle(packet));
    pending = run.catch(() => {});
    run.then(
      () => done(),
      (error: Error) => {
        log(`rules: not acknowledged, will come again: ${error.message}`);
        done(error);
      },
    );
  };
  client.on("error", (error) => log(`rules: ${error.message}`));
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  const grants = await client.subscribeAsync(filters, { qos: 1 });
  const refused = grants.filter((g) => g.qos === 128).map((g) => g.topic);
  if (refused.length > 0) {
    await client.endAsync(true);
    throw new Error(`the broker refused the subscriptions ${refused.join(", ")}`);
  }
  log(`rules: ${rules.length} rules on ${filters.join(", ")}`);
  return {
    stats,
    idle: () => pending,
    async close() {
      await pending;
      await client.endAsync();
    },
    async kill() {
      await client.endAsync(true);
    },
  };
}
