// The named shadow "config": the get at every connect, deltas, stale versions, refused documents and
// their reported error, merge-patch semantics, the stored configuration across a restart (and a
// corrupt one), a store that cannot write, and a fuzz of generated documents after each of which the
// applied configuration is unchanged unless the document was valid.

import { test, equal, deepEqual, assert, random } from "./api";
import { ShadowAgent, MAX_DOCUMENT_BYTES, MAX_ERROR_CHARS, MAX_SHADOW_DEPTH, MAX_SHADOW_MESSAGE_BYTES, type ShadowDocument } from "../../src/fleet/shadow";
import { parseBoundedJson } from "../../src/fleet/bounded-json";
import { parseRuntimeSettings, type RuntimeBase, type RuntimeSettings } from "../../src/fleet/runtime-settings";
import { utf8Encode } from "../../src/util/utf8";

const THING = "press-7";
const P = `$aws/things/${THING}/shadow/name/config`;
const BASE: RuntimeBase = { sampleIntervalMs: 1000, sensors: ["sht3x", "bme280", "max31865", "adxl345"], flushIntervalMs: 5000, heartbeatMs: 60_000, maxBatchBytes: 5120 };

const ALARMS = { fault_after_s: 60, "max31865.temperature": { high: 90, clear_high: 88 } };
const CHANNELS = { "max31865.temperature": { interval_s: 5, stats: ["min", "max"], deadband: 0.5 }, "sht3x.humidity": {} };

interface Rig {
  agent: ShadowAgent;
  applied: { settings: RuntimeSettings; document: ShadowDocument }[];
  sent: { topic: string; body: any }[];
  store: { text: string | undefined; saves: number; failing: boolean };
  send(stub: string, body: unknown): boolean;
  reports(): any[];
  log: string[];
}

function rig(stored?: string, store = { text: stored, saves: 0, failing: false }): Rig {
  const applied: Rig["applied"] = [];
  const sent: Rig["sent"] = [];
  const log: string[] = [];
  const agent = new ShadowAgent({
    thing: THING, base: BASE,
    apply: (settings, document) => applied.push({ settings, document }),
    store: {
      load: () => store.text,
      save: (text) => {
        if (store.failing) throw new Error("flash write failed");
        store.text = text;
        store.saves++;
      },
    },
    publish: (topic, payload) => sent.push({ topic, body: JSON.parse(payload) }),
    log: (line) => log.push(line),
  });
  return {
    agent, applied, sent, store, log,
    send: (stub, body) => agent.handle(`${P}/${stub}`, body instanceof Uint8Array ? body : utf8Encode(typeof body === "string" ? body : JSON.stringify(body))),
    reports: () => sent.filter((m) => m.topic === `${P}/update`).map((m) => m.body.state.reported),
  };
}

const builtIn = parseRuntimeSettings({}, BASE);
const last = <T>(list: T[]): T => list[list.length - 1];

test("shadow: the agent subscribes to the named shadow's reply topics and asks for it at every connect", () => {
  const { agent, sent } = rig();
  deepEqual([...agent.subscriptions], [`${P}/get/accepted`, `${P}/get/rejected`, `${P}/update/accepted`, `${P}/update/rejected`, `${P}/update/delta`]);
  agent.subscribed();
  agent.subscribed();
  deepEqual(sent.map((m) => m.topic), [`${P}/get`, `${P}/get`]);
  assert(typeof sent[0].body.clientToken === "string" && sent[0].body.clientToken !== sent[1].body.clientToken, "each request has its own client token");
  equal(agent.handle("factory/chicago/building-a/line-3/press-7/command/flush", utf8Encode("{}")), false, "not a shadow topic");
  equal(agent.handle(`${P}/update/documents`, utf8Encode("{}")), false, "not subscribed");
  equal(agent.handle(`$aws/things/press-8/shadow/name/config/update/delta`, utf8Encode("{}")), false, "another thing's");
});

test("shadow: get/accepted's desired is applied, stored, and reported with its version", () => {
  const r = rig();
  equal(r.agent.version, 0);
  equal(r.agent.settings.flushIntervalMs, 5000, "built-in before any shadow");
  const desired = { flush_ms: 2000, heartbeat_s: 30, alarms: ALARMS };
  r.send("get/accepted", { state: { desired, reported: {} }, metadata: { desired: { flush_ms: { timestamp: 1 } } }, version: 7, timestamp: 1 });
  equal(r.applied.length, 1);
  deepEqual(r.applied[0].document, desired);
  equal(r.applied[0].settings.flushIntervalMs, 2000);
  equal(r.applied[0].settings.heartbeatMs, 30_000);
  equal(r.applied[0].settings.maxBatchBytes, 5120, "left out: the built value");
  equal(r.agent.settings, r.applied[0].settings);
  equal(r.agent.version, 7);
  deepEqual(JSON.parse(r.store.text!), { version: 7, document: desired });
  // The shadow's reported was {}: config_error null (absence) is already so.
  deepEqual(r.reports(), [{ ...desired, config_version: 7 }]);
  equal(r.agent.error, null);
});

test("shadow: a get/accepted without desired keeps what is in force and reports it", () => {
  const r = rig();
  r.send("get/accepted", { state: { reported: { flush_ms: 1 } }, version: 3 });
  equal(r.applied.length, 0);
  equal(r.store.saves, 0);
  // The stale reported flush_ms goes (null) and the version is reported; config_error null is the
  // absence of the key in a shadow, which the reported document already has.
  deepEqual(r.reports(), [{ flush_ms: null, config_version: 0 }]);
});

test("shadow: no shadow yet (get/rejected 404): the node reports what is in force, which creates it", () => {
  const r = rig();
  r.send("get/rejected", { code: 404, message: "No shadow exists with name: 'config'" });
  deepEqual(r.reports(), [{ config_version: 0, config_error: null }]);
  r.send("get/rejected", { code: 500, message: "Internal service failure" });
  equal(r.reports().length, 1, "another failure reports nothing");
});

test("shadow: a delta is merged into the applied document and the merged document applied", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 4 });
  r.send("update/delta", { version: 5, timestamp: 2, state: { batch_bytes: 2048, channels: CHANNELS }, metadata: {} });
  equal(r.applied.length, 2);
  deepEqual(r.agent.document, { flush_ms: 2000, batch_bytes: 2048, channels: CHANNELS });
  equal(r.agent.settings.maxBatchBytes, 2048);
  equal(r.agent.settings.flushIntervalMs, 2000);
  equal(r.agent.settings.pipeline.channels.size, 2);
  equal(r.agent.version, 5);
  deepEqual(JSON.parse(r.store.text!).version, 5);
  // Only what changed is reported.
  deepEqual(last(r.reports()), { batch_bytes: 2048, channels: CHANNELS, config_version: 5 });
});

test("shadow: merge semantics: objects merge, null removes a key (its built value returns), arrays replace", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000, alarms: ALARMS, channels: CHANNELS } }, version: 1 });
  r.send("update/delta", { version: 2, state: { flush_ms: null, alarms: { "max31865.temperature": { high: 95 } }, channels: { "max31865.temperature": { stats: ["max"] }, "sht3x.humidity": null } } });
  deepEqual(r.agent.document, {
    alarms: { fault_after_s: 60, "max31865.temperature": { high: 95, clear_high: 88 } },
    channels: { "max31865.temperature": { interval_s: 5, stats: ["max"], deadband: 0.5 } },
  });
  equal(r.agent.settings.flushIntervalMs, 5000, "flush_ms removed: the built value");
  equal(r.agent.settings.pipeline.alarms.channels.get([...r.agent.settings.pipeline.alarms.channels.keys()][0])!.high, 95);
  // The report removes what went (null) and sends only what changed.
  deepEqual(last(r.reports()), {
    flush_ms: null,
    alarms: { "max31865.temperature": { high: 95 } },
    channels: { "max31865.temperature": { stats: ["max"] }, "sht3x.humidity": null },
    config_version: 2,
  });
});

test("shadow: a __proto__ key is refused as an unknown setting and reaches no prototype", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 1 });
  r.send("update/delta", `{"version":2,"state":{"__proto__":{"polluted":1,"flush_ms":1}}}`);
  r.send("update/delta", `{"version":3,"state":{"channels":{"__proto__":{"polluted":1}}}}`);
  equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
  equal(r.agent.settings.flushIntervalMs, 2000);
  equal(r.applied.length, 1);
  assert(String(last(r.reports()).config_error).includes("__proto__"), String(last(r.reports()).config_error));
});

test("shadow: stale and repeated versions are ignored", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 10 });
  const reports = r.reports().length;
  r.send("update/delta", { version: 10, state: { flush_ms: 3000 } });
  r.send("update/delta", { version: 9, state: { flush_ms: 4000 } });
  r.send("get/accepted", { state: { desired: { flush_ms: 1000 } }, version: 8 });
  equal(r.applied.length, 1);
  equal(r.agent.settings.flushIntervalMs, 2000);
  equal(r.reports().length, reports, "nothing reported");
  equal(r.store.saves, 1);
  r.send("update/delta", { version: 11, state: { flush_ms: 3000 } });
  equal(r.agent.settings.flushIntervalMs, 3000, "the next version is taken");
});

test("shadow: an invalid delta changes nothing; the error is reported beside the old document", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000, alarms: ALARMS } }, version: 1 });
  const settings = r.agent.settings;
  const stored = r.store.text;
  r.send("update/delta", { version: 2, state: { flush_ms: "fast", heartbeat_s: 5, colour: "red", alarms: { "max31865.temperature": { clear_high: 99 } } } });
  equal(r.applied.length, 1, "apply not called");
  equal(r.agent.settings, settings);
  deepEqual(r.agent.document, { flush_ms: 2000, alarms: ALARMS });
  equal(r.agent.version, 1);
  equal(r.store.text, stored, "store untouched");
  const report = last(r.reports());
  deepEqual(Object.keys(report), ["config_error"], "the old reported document stays");
  const error: string = report.config_error;
  for (const word of ["flush_ms", "heartbeat_s", "colour", "clear_high"]) assert(error.includes(word), `${word} named in: ${error}`);
  assert(error.length <= MAX_ERROR_CHARS, "bounded");
  // The same refusal again (a new version, same content) is not reported twice: no update loop.
  r.send("update/delta", { version: 3, state: { flush_ms: "fast", heartbeat_s: 5, colour: "red", alarms: { "max31865.temperature": { clear_high: 99 } } } });
  const before = r.reports().length;
  r.send("update/delta", { version: 4, state: { flush_ms: "fast", heartbeat_s: 5, colour: "red", alarms: { "max31865.temperature": { clear_high: 99 } } } });
  equal(r.reports().length, before);
  // A valid one clears the error.
  r.send("update/delta", { version: 5, state: { flush_ms: 1500 } });
  deepEqual(last(r.reports()), { flush_ms: 1500, config_version: 5, config_error: null });
});

test("shadow: a desired document equal to the applied one at a newer version applies and stores nothing", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000, batch_bytes: 1024 } }, version: 1 });
  r.send("get/accepted", { state: { desired: { batch_bytes: 1024, flush_ms: 2000 }, reported: { flush_ms: 2000, batch_bytes: 1024, config_version: 1, config_error: null } }, version: 2 });
  equal(r.applied.length, 1);
  equal(r.store.saves, 1);
  equal(r.reports().length, 1, "the shadow already holds what the node would report");
  equal(r.agent.version, 1, "config_version stays the version the document was applied at");
});

test("shadow: bad messages (oversize, deep, truncated, not an object, no version) change nothing and are reported", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 1 });
  const settings = r.agent.settings;
  const bad: [string, unknown][] = [
    ["too-large", `{"version":2,"state":{"flush_ms":1000},"pad":"${"x".repeat(MAX_SHADOW_MESSAGE_BYTES)}"}`],
    ["too-deep", `{"version":3,"state":${"{\"a\":".repeat(2000)}1${"}".repeat(2000)}}`],
    ["malformed", `{"version":4,"state":{"flush_ms":10`],
    ["not-utf8", Uint8Array.of(0x7b, 0xff, 0x7d)],
    ["not a JSON object", "[1,2]"],
    ["no valid version", { state: { flush_ms: 1000 } }],
    ["no valid version", { version: -1, state: { flush_ms: 1000 } }],
    ["no valid version", { version: 1e300, state: { flush_ms: 1000 } }],
    ["state must be an object", { version: 5, state: [1] }],
    ["flush_ms must be an integer", `{"version":6,"state":{"flush_ms":1e400}}`],
    ["too large", { version: 7, state: { channels: { "sht3x.humidity": { deadband: 1, pad: "x".repeat(MAX_DOCUMENT_BYTES) } } } }],
  ];
  for (const [reason, body] of bad) {
    equal(r.send("update/delta", body), true);
    equal(r.agent.settings, settings, reason);
    const error = String(last(r.reports()).config_error);
    assert(error.includes(reason), `${reason} in ${error}`);
  }
  equal(r.applied.length, 1);
  equal(r.store.saves, 1);
  // A get/accepted whose desired is not an object.
  r.send("get/accepted", { state: { desired: "flush_ms=1" }, version: 20 });
  equal(r.agent.settings, settings);
  assert(String(last(r.reports()).config_error).includes("desired must be an object"), "reported");
});

test("shadow: the applied configuration and its version survive a restart", () => {
  const first = rig();
  first.send("get/accepted", { state: { desired: { flush_ms: 2000, alarms: ALARMS } }, version: 12 });
  const second = rig(first.store.text);
  equal(second.agent.loadProblem, undefined);
  equal(second.applied.length, 1, "applied at start");
  equal(second.agent.settings.flushIntervalMs, 2000);
  equal(second.agent.version, 12);
  deepEqual(second.agent.document, { flush_ms: 2000, alarms: ALARMS });
  // A delta already applied before the restart, delivered again, is stale.
  second.send("update/delta", { version: 12, state: { flush_ms: 9000 } });
  second.send("update/delta", { version: 11, state: { flush_ms: 9000 } });
  equal(second.applied.length, 1);
  // The get after the reconnect: the desired document unchanged, one report of what is in force.
  second.send("get/accepted", { state: { desired: { flush_ms: 2000, alarms: ALARMS }, reported: { flush_ms: 2000, alarms: ALARMS, config_version: 12, config_error: null } }, version: 13 });
  equal(second.applied.length, 1);
  equal(second.reports().length, 0);
});

test("shadow: a corrupt or invalid stored configuration is ignored with a reason; the built-in one stays", () => {
  const cases: [string, string][] = [
    [`{"version":3,"document":{"flush_ms":20`, "corrupt"],
    [`{"version":3,"document":{"flush_ms":"x"}}`, "invalid"],
    [`{"version":3,"document":[1]}`, "not {version, document}"],
    [`{"version":"3","document":{}}`, "not {version, document}"],
    [`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, "nested too deep"],
    ["x".repeat(5000), "too long"],
  ];
  for (const [text, reason] of cases) {
    const r = rig(text);
    assert(r.agent.loadProblem?.includes(reason), `${reason}: ${r.agent.loadProblem}`);
    equal(r.applied.length, 0);
    equal(r.agent.version, 0);
    deepEqual(r.agent.settings, builtIn);
    r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 2 });
    equal(r.agent.settings.flushIntervalMs, 2000, "a shadow document is taken afterwards");
  }
  const throwing = new ShadowAgent({
    thing: THING, base: BASE, apply: () => {}, publish: () => {},
    store: { load: () => { throw new Error("nvs read failed"); }, save: () => {} },
  });
  assert(throwing.loadProblem?.includes("nvs read failed"), String(throwing.loadProblem));
});

test("shadow: a store that cannot write leaves the old configuration applied and reports the error", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 1 });
  const settings = r.agent.settings;
  const stored = r.store.text;
  r.store.failing = true;
  r.send("update/delta", { version: 2, state: { flush_ms: 3000 } });
  equal(r.applied.length, 1, "apply not called");
  equal(r.agent.settings, settings);
  equal(r.agent.version, 1);
  equal(r.store.text, stored);
  const error = String(last(r.reports()).config_error);
  assert(error.includes("cannot store") && error.includes("flash write failed"), error);
  // Once it writes again, the next version goes through; after a restart the store holds it.
  r.store.failing = false;
  r.send("update/delta", { version: 3, state: { flush_ms: 3000 } });
  equal(r.agent.settings.flushIntervalMs, 3000);
  equal(rig(r.store.text).agent.settings.flushIntervalMs, 3000);
});

test("shadow: an apply that throws stores the old configuration back and reports the error", () => {
  const store = { text: undefined as string | undefined, saves: 0, failing: false };
  let fail = false;
  const sent: string[] = [];
  const agent = new ShadowAgent({
    thing: THING, base: BASE, publish: (_t, p) => sent.push(p),
    apply: () => { if (fail) throw new Error("pipeline busy"); },
    store: { load: () => store.text, save: (t) => { store.text = t; } },
  });
  agent.handle(`${P}/update/delta`, utf8Encode(`{"version":1,"state":{"flush_ms":2000}}`));
  const stored = store.text;
  fail = true;
  agent.handle(`${P}/update/delta`, utf8Encode(`{"version":2,"state":{"flush_ms":3000}}`));
  equal(store.text, stored);
  equal(agent.settings.flushIntervalMs, 2000);
  assert(String(agent.error).includes("pipeline busy"), String(agent.error));
});

test("shadow: a rejected report makes the next report whole", () => {
  const r = rig();
  r.send("get/accepted", { state: { desired: { flush_ms: 2000 } }, version: 1 });
  const token = last(r.sent).body.clientToken;
  r.send("update/rejected", { code: 400, message: "bad", clientToken: "someone-else" });
  r.send("update/delta", { version: 2, state: { batch_bytes: 1024 } });
  deepEqual(last(r.reports()), { batch_bytes: 1024, config_version: 2 }, "a patch while the shadow is known");
  r.send("update/rejected", { code: 400, message: "bad", clientToken: last(r.sent).body.clientToken });
  r.send("update/delta", { version: 3, state: { heartbeat_s: 20 } });
  deepEqual(last(r.reports()), { flush_ms: 2000, batch_bytes: 1024, heartbeat_s: 20, config_version: 3, config_error: null });
  assert(token !== last(r.sent).body.clientToken, "tokens differ");
});

// --- fuzz ---------------------------------------------------------------------------------------

const TOP_KEYS = ["channels", "alarms", "flush_ms", "heartbeat_s", "batch_bytes", "colour", "__proto__", "config_version", ""];
const CHANNEL_NAMES = ["sht3x.temperature", "sht3x.humidity", "bme280.pressure", "max31865.temperature", "adxl345.rms_x", "adxl345.peak", "nope.x", "sht3x", ""];
const CHANNEL_KEYS = ["interval_s", "stats", "deadband", "deadband_pct", "max_silent_s", "x"];
const LIMIT_KEYS = ["high", "clear_high", "low", "clear_low", "on_delay_s", "off_delay_s", "y"];
const HUGE = [0, -0, 1.5, -1, 2 ** 31, 2 ** 53, 2 ** 64, 1e308, -1e308, 4294967296, 1e-300];

function own(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function anyValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (r < 0.15) return Math.floor(rand() * 10_000) - 100;
  if (r < 0.25) return HUGE[Math.floor(rand() * HUGE.length)];
  if (r < 0.35) return ["", "5000", "min", "max", "x".repeat(50), "\u0000", "é"][Math.floor(rand() * 7)];
  if (r < 0.4) return rand() < 0.5;
  if (r < 0.5) return null;
  if (r < 0.6 && depth < 5) return Array.from({ length: Math.floor(rand() * 3) }, () => anyValue(rand, depth + 1));
  if (r < 0.75 && depth < 5) {
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 4); i > 0; i--) own(o, pick(rand, [...TOP_KEYS, ...CHANNEL_NAMES, ...CHANNEL_KEYS, ...LIMIT_KEYS]), anyValue(rand, depth + 1));
    return o;
  }
  return Math.floor(rand() * 100);
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)];
}

/** A change that is often valid: plausible values for real keys, sometimes wrong ones. */
function nearlyValid(rand: () => number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const wrong = () => rand() < 0.15;
  if (rand() < 0.4) own(o, "flush_ms", wrong() ? anyValue(rand, 3) : rand() < 0.1 ? null : 100 + Math.floor(rand() * 20_000));
  if (rand() < 0.3) own(o, "heartbeat_s", wrong() ? anyValue(rand, 3) : 10 + Math.floor(rand() * 600));
  if (rand() < 0.3) own(o, "batch_bytes", wrong() ? anyValue(rand, 3) : 512 + Math.floor(rand() * 4700));
  if (rand() < 0.3) {
    const channels: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 3); i >= 0; i--) {
      const c: Record<string, unknown> = {};
      if (rand() < 0.5) own(c, "interval_s", wrong() ? anyValue(rand, 4) : 1 + Math.floor(rand() * 60));
      if (rand() < 0.3) own(c, "stats", wrong() ? anyValue(rand, 4) : pick(rand, [[], ["min"], ["max"], ["min", "max"]]));
      if (rand() < 0.3) own(c, "deadband", wrong() ? anyValue(rand, 4) : rand() * 5);
      if (wrong()) own(c, pick(rand, CHANNEL_KEYS), anyValue(rand, 4));
      own(channels, pick(rand, CHANNEL_NAMES.slice(0, rand() < 0.9 ? 6 : 9)), rand() < 0.1 ? null : c);
    }
    own(o, "channels", rand() < 0.05 ? null : channels);
  }
  if (rand() < 0.3) {
    const alarms: Record<string, unknown> = {};
    if (rand() < 0.3) own(alarms, "fault_after_s", wrong() ? anyValue(rand, 3) : 1 + Math.floor(rand() * 600));
    const high = Math.floor(rand() * 200);
    const limits: Record<string, unknown> = { high, clear_high: high - 1 - Math.floor(rand() * 5) };
    if (wrong()) own(limits, pick(rand, LIMIT_KEYS), anyValue(rand, 4));
    own(alarms, pick(rand, ["max31865.temperature", "adxl345.rms_x", "sht3x.temperature", "nope.y"]), limits);
    own(o, "alarms", alarms);
  }
  if (rand() < 0.05) own(o, pick(rand, TOP_KEYS), anyValue(rand, 3));
  return o;
}

/** The merge the node must make (RFC 7396), written again here so the oracle does not use the agent's. */
function oracleMerge(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === "object" && target !== null && !Array.isArray(target) ? JSON.parse(JSON.stringify(target)) : {};
  for (const key of Object.keys(patch)) {
    const v = (patch as Record<string, unknown>)[key];
    if (v === null) delete out[key];
    else own(out, key, oracleMerge(Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined, v));
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function validDocument(doc: unknown): boolean {
  try {
    parseRuntimeSettings(doc, BASE);
    return utf8Encode(JSON.stringify(doc)).length <= MAX_DOCUMENT_BYTES;
  } catch {
    return false;
  }
}

function mangle(rand: () => number, text: string): string | Uint8Array {
  const r = rand();
  if (r < 0.08) return text.slice(0, Math.floor(rand() * text.length)); // truncated
  if (r < 0.12) return "[".repeat(1 + Math.floor(rand() * 3000)) + text; // deep
  if (r < 0.15) return `{"version":1,"state":${"{\"a\":".repeat(20 + Math.floor(rand() * 60))}1${"}".repeat(80)}}`;
  if (r < 0.18) return text + " ".repeat(MAX_SHADOW_MESSAGE_BYTES); // oversize
  if (r < 0.22) {
    const bytes = utf8Encode(text);
    if (bytes.length > 0) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    return bytes;
  }
  if (r < 0.25) return pick(rand, ["", "null", "1", "\"x\"", "[]", "true", "{}", "1e999"]);
  return text;
}

test("shadow fuzz: 4,000 generated documents never throw, and only a valid one changes the configuration", () => {
  const r = rig();
  const rand = random(0x5ad0);
  let version = 0;
  let applied = 0;
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    // Repeats, and gaps; after the version of a generated message jumped (2^31, say), from there.
    version = Math.max(version, r.agent.seenVersion) + (rand() < 0.1 ? 0 : 1 + Math.floor(rand() * 3));
    const asGet = rand() < 0.2;
    const change = rand() < 0.7 ? nearlyValid(rand) : anyValue(rand, 0);
    const body: Record<string, unknown> = rand() < 0.03 ? {} : { version: rand() < 0.03 ? anyValue(rand, 4) : version, timestamp: 1 };
    if (asGet) body.state = rand() < 0.05 ? change : { desired: change, reported: rand() < 0.3 ? anyValue(rand, 1) : {} };
    else body.state = change;
    const text = JSON.stringify(body);
    const payload = mangle(rand, text);
    const before = { settings: r.agent.settings, document: r.agent.document, version: r.agent.version, seen: r.agent.seenVersion, stored: r.store.text, calls: r.applied.length };
    // The oracle: what a correct agent applies, or that it applies nothing. The framing (size,
    // UTF-8, nesting) is bounded-json's; the merge and the version rules are written again here.
    let expected: unknown;
    const framed = parseBoundedJson(typeof payload === "string" ? utf8Encode(payload) : payload, { maxBytes: MAX_SHADOW_MESSAGE_BYTES, maxDepth: MAX_SHADOW_DEPTH });
    const got = framed.ok ? (framed.value as Record<string, unknown>) : undefined;
    if (got && isObject(got) && typeof got.version === "number" && Number.isSafeInteger(got.version) && got.version > before.seen) {
      const state = got.state;
      if (!asGet) expected = oracleMerge(before.document, state);
      else if (isObject(state) && state.desired !== undefined && state.desired !== null) expected = oracleMerge({}, state.desired);
      if (expected !== undefined && !validDocument(expected)) expected = undefined;
    }
    try {
      equal(r.send(asGet ? "get/accepted" : "update/delta", payload), true);
    } catch (error) {
      throw new Error(`document ${i} threw ${(error as Error).message}: ${text.slice(0, 300)}`);
    }
    if (r.applied.length > before.calls) {
      applied++;
      assert(expected !== undefined, `document ${i} was applied but is not valid: ${text.slice(0, 300)}`);
      deepEqual(r.agent.document, expected, `document ${i}`);
      equal(r.agent.version, got!.version, `document ${i}`);
      deepEqual(JSON.parse(r.store.text!), { version: got!.version, document: expected }, `document ${i} stored`);
    } else {
      if (expected === undefined) refused++;
      // Unchanged: same settings object, document, version and stored text.
      equal(r.agent.settings, before.settings, `document ${i}: settings changed without apply`);
      deepEqual(r.agent.document, before.document, `document ${i}`);
      equal(r.agent.version, before.version, `document ${i}`);
      equal(r.store.text, before.stored, `document ${i}`);
      // A valid document not applied can only be the one already in force.
      if (expected !== undefined) deepEqual(expected, before.document, `document ${i} was valid and new but not applied: ${text.slice(0, 300)}`);
    }
  }
  assert(applied > 150, `enough valid documents (${applied})`);
  assert(refused > 1500, `enough invalid documents (${refused})`);
  // Every report stays small and well-formed.
  for (const report of r.reports()) assert(report.config_error === undefined || report.config_error === null || report.config_error.length <= MAX_ERROR_CHARS, "bounded error");
});
