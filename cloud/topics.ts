// Where a device's messages live. A topic root is `<prefix>/<site levels...>/<thing>/`, the thing
// name always last, so the thing's own level can be checked against its identity (the IoT policy,
// the Mosquitto ACL, and each rule's WHERE). The firmware's default root
// `factory/chicago/building-a/line-3/press-7/` is prefix `factory` and three site levels.

export interface TopicLayout {
  /** First level of every device topic. */
  prefix: string;
  /** Levels between the prefix and the thing name (site, building, line, ...). */
  siteLevels: number;
}

export const DEFAULT_LAYOUT: TopicLayout = { prefix: "factory", siteLevels: 3 };

/** What a device publishes under its root, one topic level each (response: its answers to commands). */
export type MessageKind = "telemetry" | "status" | "alarm" | "response";
export const MESSAGE_KINDS: readonly MessageKind[] = ["telemetry", "status", "alarm", "response"];

/** The MQTT topic level names allowed for the prefix and site levels: no wildcards, no slashes, not empty. */
const LEVEL = /^[A-Za-z0-9_.:-]+$/;

export function checkLayout(layout: TopicLayout): TopicLayout {
  if (!LEVEL.test(layout.prefix) || layout.prefix.startsWith("$")) throw new Error(`topic prefix must be one plain topic level, got ${JSON.stringify(layout.prefix)}`);
  // AWS IoT allows 7 slashes in a topic: prefix + site levels + thing + kind, plus `command/<name>`.
  if (!Number.isInteger(layout.siteLevels) || layout.siteLevels < 0 || layout.siteLevels > 3) throw new Error(`siteLevels must be 0..3, got ${layout.siteLevels}`);
  return layout;
}

/** 1-based level of the thing name, as IoT SQL's topic(n) counts. */
export function thingLevel(layout: TopicLayout): number {
  return layout.siteLevels + 2;
}

/** The topic filter matching one kind of message from every device: `factory/+/+/+/+/telemetry`. */
export function kindFilter(layout: TopicLayout, kind: MessageKind): string {
  return [layout.prefix, ...Array(layout.siteLevels + 1).fill("+"), kind].join("/");
}

/** A device's topic root from its site path and thing name: `factory/chicago/building-a/line-3/press-7/`. */
export function topicRoot(layout: TopicLayout, site: readonly string[], thing: string): string {
  checkLayout(layout);
  if (site.length !== layout.siteLevels) throw new Error(`the layout has ${layout.siteLevels} site levels, got ${site.length}: ${site.join("/")}`);
  for (const level of [...site, thing]) if (!LEVEL.test(level)) throw new Error(`not a plain topic level: ${JSON.stringify(level)}`);
  return `${[layout.prefix, ...site, thing].join("/")}/`;
}

/**
 * What one device may do, written once with placeholders: `{root}` is the device's topic root (ends
 * with `/`), `{thing}` its thing name. The IoT policy fills them with policy variables, the
 * Mosquitto ACL with `%u` patterns. `awsOnly` entries are AWS's reserved topics that nothing answers
 * locally (the classic shadow).
 */
export interface TopicGrant {
  action: "publish" | "subscribe";
  /** A topic (publish) or topic filter (subscribe); `#` only as the last level. */
  topic: string;
  retain?: boolean;
  awsOnly?: boolean;
}

export const DEVICE_GRANTS: readonly TopicGrant[] = [
  { action: "publish", topic: "{root}telemetry" },
  // The status topic is retained: online on connect, offline as the will and on a clean stop.
  { action: "publish", topic: "{root}status", retain: true },
  { action: "publish", topic: "{root}alarm" },
  // Commands for this device only, and its answers (src/fleet/commands.ts).
  { action: "subscribe", topic: "{root}command/#" },
  { action: "publish", topic: "{root}response" },
  // The named shadow "config" the node follows (src/fleet/shadow.ts): granted on the local broker too,
  // so a node there subscribes without a refusal (nothing answers it unless a shadow service runs).
  { action: "publish", topic: "$aws/things/{thing}/shadow/name/config/get" },
  { action: "publish", topic: "$aws/things/{thing}/shadow/name/config/update" },
  { action: "subscribe", topic: "$aws/things/{thing}/shadow/name/config/#" },
  // The classic shadow, of this thing only.
  { action: "publish", topic: "$aws/things/{thing}/shadow/get", awsOnly: true },
  { action: "publish", topic: "$aws/things/{thing}/shadow/update", awsOnly: true },
  { action: "subscribe", topic: "$aws/things/{thing}/shadow/#", awsOnly: true },
  // Jobs of this thing (firmware updates, src/ota/jobs-client.ts): granted on the local broker too,
  // where cloud/local/jobs-service.ts answers them.
  { action: "publish", topic: "$aws/things/{thing}/jobs/get" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/start-next" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/get" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/update" },
  { action: "subscribe", topic: "$aws/things/{thing}/jobs/#" },
  // MQTT-based file delivery to this thing, JSON form (the image of an update, src/ota/download.ts):
  // GetStream requests out, data blocks and errors in, for any stream id.
  { action: "publish", topic: "$aws/things/{thing}/streams/+/get/json" },
  { action: "subscribe", topic: "$aws/things/{thing}/streams/+/data/json" },
  { action: "subscribe", topic: "$aws/things/{thing}/streams/+/rejected/json" },
];

/**
 * What the local jobs service (cloud/local/jobs-service.ts) may do, for every thing (`{thing}` is
 * any thing name): read the job and stream requests and write their answers and notify-next. On AWS
 * the service is the broker itself and needs no grant.
 */
export const JOBS_SERVICE_GRANTS: readonly TopicGrant[] = [
  { action: "subscribe", topic: "$aws/things/{thing}/jobs/start-next" },
  { action: "subscribe", topic: "$aws/things/{thing}/jobs/+/update" },
  { action: "subscribe", topic: "$aws/things/{thing}/jobs/get" },
  { action: "subscribe", topic: "$aws/things/{thing}/jobs/+/get" },
  { action: "subscribe", topic: "$aws/things/{thing}/streams/+/get/json" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/notify-next" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/start-next/accepted" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/start-next/rejected" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/update/accepted" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/update/rejected" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/get/accepted" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/get/rejected" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/get/accepted" },
  { action: "publish", topic: "$aws/things/{thing}/jobs/+/get/rejected" },
  { action: "publish", topic: "$aws/things/{thing}/streams/+/data/json" },
  { action: "publish", topic: "$aws/things/{thing}/streams/+/rejected/json" },
];

/** MQTT topic filter matching (MQTT 3.1.1 4.7): `+` one level, `#` the rest; `$` topics only by filters that name them. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && !filter.startsWith("$")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
