// A local stand-in for AWS IoT's Device Shadow service, named shadows only, on the embedded broker
// (Aedes): `$aws/things/<thing>/shadow/name/<shadow>/get` answers on get/accepted (state.desired,
// state.reported, state.delta, version) or get/rejected (404 while no shadow exists); `.../update`
// merges state.desired and state.reported (null removes a key, objects merge, anything else
// replaces), increments the version, answers on update/accepted (or update/rejected: not JSON, no
// state, a version that is not the current one), and publishes update/delta whenever desired and
// reported then differ. An operator's change goes through setDesired(), the same path as a client's
// update. Metadata is left out: the device does not read it.

import type { Aedes } from "aedes";

type Doc = Record<string, unknown>;

export interface ShadowDouble {
  /** The shadow as the service holds it (undefined: it does not exist). */
  readonly shadow: { desired: Doc; reported: Doc; version: number } | undefined;
  /** Every message the double published (topic and parsed body), in order. */
  readonly published: { topic: string; body: Doc }[];
  /** Every request a client published to the shadow's get and update topics. */
  readonly requests: { topic: string; body: unknown }[];
  /** An operator's update of state.desired (merged as the service merges it). */
  setDesired(patch: Doc): void;
}

const isObject = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v);

function merge(target: Doc, patch: Doc): void {
  for (const key of Object.keys(patch)) {
    const v = patch[key];
    if (v === null) delete target[key];
    else if (isObject(v)) {
      if (!isObject(target[key])) target[key] = {};
      merge(target[key] as Doc, v);
      if (Object.keys(target[key] as Doc).length === 0) delete target[key];
    } else target[key] = v;
  }
}

/** What desired asks for that reported does not hold (objects compared key by key, arrays whole). */
function delta(desired: Doc, reported: Doc): Doc | undefined {
  const out: Doc = {};
  for (const key of Object.keys(desired)) {
    const d = desired[key];
    const r = reported[key];
    if (isObject(d) && isObject(r)) {
      const inner = delta(d, r);
      if (inner) out[key] = inner;
    } else if (JSON.stringify(d) !== JSON.stringify(r)) out[key] = d;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function attachShadowDouble(aedes: Aedes, options: { thing: string; shadowName: string }): ShadowDouble {
  const prefix = `$aws/things/${options.thing}/shadow/name/${options.shadowName}`;
  let shadow: { desired: Doc; reported: Doc; version: number } | undefined;
  const published: { topic: string; body: Doc }[] = [];
  const requests: { topic: string; body: unknown }[] = [];
  const timestamp = () => Math.floor(Date.now() / 1000);

  const reply = (stub: string, body: Doc) => {
    const topic = `${prefix}/${stub}`;
    published.push({ topic, body });
    aedes.publish({ cmd: "publish", topic, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false }, () => {});
  };

  const update = (request: unknown) => {
    const token = isObject(request) && typeof request.clientToken === "string" ? { clientToken: request.clientToken } : {};
    if (!isObject(request) || !isObject(request.state)) return reply("update/rejected", { code: 400, message: "Missing required node: state", timestamp: timestamp(), ...token });
    if (request.version !== undefined && request.version !== (shadow?.version ?? 0))
      return reply("update/rejected", { code: 409, message: "Version conflict", timestamp: timestamp(), ...token });
    const state = request.state;
    shadow ??= { desired: {}, reported: {}, version: 0 };
    if (isObject(state.desired)) merge(shadow.desired, state.desired);
    else if (state.desired === null) shadow.desired = {};
    if (isObject(state.reported)) merge(shadow.reported, state.reported);
    else if (state.reported === null) shadow.reported = {};
    shadow.version++;
    reply("update/accepted", { state, metadata: {}, version: shadow.version, timestamp: timestamp(), ...token });
    const d = delta(shadow.desired, shadow.reported);
    if (d) reply("update/delta", { version: shadow.version, timestamp: timestamp(), state: d, metadata: {} });
  };

  aedes.on("publish", (packet, client) => {
    if (!client) return; // the double's own replies
    if (packet.topic !== `${prefix}/get` && packet.topic !== `${prefix}/update`) return;
    let request: unknown;
    try {
      request = packet.payload.length === 0 ? {} : JSON.parse(packet.payload.toString());
    } catch {
      requests.push({ topic: packet.topic, body: packet.payload.toString() });
      return reply(packet.topic.endsWith("/get") ? "get/rejected" : "update/rejected", { code: 400, message: "Payload contains invalid json", timestamp: timestamp() });
    }
    requests.push({ topic: packet.topic, body: request });
    if (packet.topic.endsWith("/update")) return update(request);
    const token = isObject(request) && typeof request.clientToken === "string" ? { clientToken: request.clientToken } : {};
    if (!shadow) return reply("get/rejected", { code: 404, message: `No shadow exists with name: '${options.shadowName}'`, timestamp: timestamp(), ...token });
    const state: Doc = {};
    if (Object.keys(shadow.desired).length > 0) state.desired = shadow.desired;
    if (Object.keys(shadow.reported).length > 0) state.reported = shadow.reported;
    const d = delta(shadow.desired, shadow.reported);
    if (d) state.delta = d;
    reply("get/accepted", { state, metadata: {}, version: shadow.version, timestamp: timestamp(), ...token });
  });

  return {
    get shadow() {
      return shadow;
    },
    published,
    requests,
    setDesired: (patch) => update({ state: { desired: patch } }),
  };
}
