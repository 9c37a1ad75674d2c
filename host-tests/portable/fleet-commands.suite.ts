// Commands: every command with its arguments, the error response for each kind of bad request, and
// a fuzz of generated documents that must never throw out of the dispatcher nor reach a handler
// unless the request is valid.

import { test, equal, deepEqual, assert, random } from "./api";
import { CommandDispatcher, CommandRefused, MAX_COMMAND_BYTES, parseCommand, type CommandHandlers } from "../../src/fleet/commands";
import { nestingDepth, parseBoundedJson } from "../../src/fleet/bounded-json";
import { utf8Decode, utf8Encode } from "../../src/util/utf8";

const ROOT = "factory/chicago/building-a/line-3/press-7/";
const NOW = 1_800_000_000_000;

type Call = [string, ...unknown[]];

function rig(options: { memory?: { value?: string }; throwing?: boolean } = {}) {
  const calls: Call[] = [];
  const act = (call: Call, result?: Record<string, unknown>) => {
    calls.push(call);
    if (options.throwing) throw new Error("handler exploded");
    return result as never;
  };
  const handlers: CommandHandlers = {
    flush: () => act(["flush"], { batches: 1 }),
    resend: (from) => {
      if (from < 100) {
        // The handler looked and said no: nothing changed, so nothing is recorded as done.
        throw new CommandRefused(`record ${from} is no longer in the log (oldest 100)`);
      }
      return act(["resend", from], { from, records: 5 });
    },
    reboot: (delay) => act(["reboot", delay], { in_s: delay }),
    identify: (seconds) => act(["identify", seconds]),
    acknowledgeAlarm: (channel, kind) => act(["ack-alarm", channel, kind], { acknowledged: 1 }),
    diagnostics: () => act(["diagnostics"], { uptime_s: 12, heap_free: 30000, nested: { no: 1 } as never, nan: NaN, fn: (() => 1) as never }),
    rotate: () => act(["rotate"], { started: true }),
  };
  const memory = options.memory;
  const dispatcher = new CommandDispatcher({
    topicRoot: ROOT, handlers, now: () => NOW, clockValid: () => true,
    ...(memory && { memory: { load: () => memory.value, save: (ids: string) => { memory.value = ids; } } }),
  });
  const send = (topic: string, payload: string | Uint8Array) => {
    const r = dispatcher.handle(topic, typeof payload === "string" ? utf8Encode(payload) : payload);
    return r && { ...r, body: JSON.parse(r.payload) as Record<string, any> };
  };
  return { calls, dispatcher, send };
}

test("commands: the subscription and response topics are the device's own", () => {
  const { dispatcher } = rig();
  equal(dispatcher.subscription, `${ROOT}command/#`);
  equal(dispatcher.responseTopic, `${ROOT}response`);
});

test("commands: each command runs its handler once and answers with the request id", () => {
  const { calls, send } = rig();
  deepEqual(send(`${ROOT}command/flush`, `{"id":"r1"}`)!.body, { id: "r1", command: "flush", ok: true, result: { batches: 1 } });
  deepEqual(send(`${ROOT}command/resend`, `{"id":"r2","from":120}`)!.body, { id: "r2", command: "resend", ok: true, result: { from: 120, records: 5 } });
  deepEqual(send(`${ROOT}command/reboot`, `{"id":"r3","delay_s":5}`)!.body.result, { in_s: 5 });
  deepEqual(send(`${ROOT}command/identify`, `{"id":"r4"}`)!.body.result, {});
  deepEqual(send(`${ROOT}command/ack-alarm`, `{"id":"r5","channel":"max31865.temperature","kind":"high"}`)!.body.result, { acknowledged: 1 });
  // Only plain values leave the device: nested objects, NaN and functions are dropped.
  deepEqual(send(`${ROOT}command/diagnostics`, `{"id":"r6"}`)!.body.result, { uptime_s: 12, heap_free: 30000 });
  // The name may also come in the payload on the bare command topic.
  deepEqual(send(`${ROOT}command`, `{"id":"r7","command":"identify","seconds":30}`)!.body.ok, true);
  deepEqual(calls, [["flush"], ["resend", 120], ["reboot", 5], ["identify", 10], ["ack-alarm", "max31865.temperature", "high"], ["diagnostics"], ["identify", 30]]);
});

test("commands: other topics are not the dispatcher's", () => {
  const { calls, send } = rig();
  equal(send(`${ROOT}commands/flush`, `{"id":"a"}`), undefined);
  equal(send(`${ROOT}status`, `{"id":"a"}`), undefined);
  equal(send(`factory/x/y/z/other/command/flush`, `{"id":"a"}`), undefined);
  equal(calls.length, 0);
});

test("commands: every kind of bad request gets an error response and changes nothing", () => {
  const { calls, send } = rig();
  const cases: [string, string | Uint8Array, string, string | null][] = [
    [`${ROOT}command/flush`, "", "malformed", null],
    [`${ROOT}command/flush`, `{"id":"a"`, "malformed", null],
    [`${ROOT}command/flush`, `{"id":"a",}`, "malformed", null],
    [`${ROOT}command/flush`, Uint8Array.of(0x7b, 0xff, 0x7d), "not-utf8", null],
    [`${ROOT}command/flush`, `{"id":"a","x":"${"y".repeat(MAX_COMMAND_BYTES)}"}`, "too-large", null],
    [`${ROOT}command/flush`, `{"id":"a","x":{"y":{}}}`, "too-deep", null],
    [`${ROOT}command/flush`, "[".repeat(500) + "]".repeat(500), "too-deep", null],
    [`${ROOT}command/flush`, `[]`, "bad-request", null],
    [`${ROOT}command/flush`, `"flush"`, "bad-request", null],
    [`${ROOT}command/flush`, `null`, "bad-request", null],
    [`${ROOT}command/flush`, `{}`, "bad-request", null],
    [`${ROOT}command/flush`, `{"id":7}`, "bad-request", null],
    [`${ROOT}command/flush`, `{"id":"has space"}`, "bad-request", null],
    [`${ROOT}command/flush`, `{"id":"${"a".repeat(65)}"}`, "bad-request", null],
    [`${ROOT}command`, `{"id":"b"}`, "bad-request", "b"],
    [`${ROOT}command/flush`, `{"id":"b","command":"reboot"}`, "bad-request", "b"],
    [`${ROOT}command/selfdestruct`, `{"id":"c"}`, "unknown-command", "c"],
    [`${ROOT}command/flush/now`, `{"id":"c"}`, "unknown-command", null],
    [`${ROOT}command/FLUSH`, `{"id":"c"}`, "unknown-command", null],
    [`${ROOT}command/flush`, `{"id":"d","force":true}`, "bad-argument", "d"],
    [`${ROOT}command/flush`, `{"id":"d","__proto__":{"x":1}}`, "bad-argument", "d"],
    [`${ROOT}command/resend`, `{"id":"e"}`, "bad-argument", "e"],
    [`${ROOT}command/resend`, `{"id":"e","from":"5"}`, "bad-argument", "e"],
    [`${ROOT}command/resend`, `{"id":"e","from":-1}`, "bad-argument", "e"],
    [`${ROOT}command/resend`, `{"id":"e","from":1.5}`, "bad-argument", "e"],
    [`${ROOT}command/resend`, `{"id":"e","from":1e300}`, "bad-argument", "e"],
    [`${ROOT}command/reboot`, `{"id":"f","delay_s":3601}`, "bad-argument", "f"],
    [`${ROOT}command/reboot`, `{"id":"f","delay_s":null}`, "bad-argument", "f"],
    [`${ROOT}command/identify`, `{"id":"g","seconds":0}`, "bad-argument", "g"],
    [`${ROOT}command/ack-alarm`, `{"id":"h"}`, "bad-argument", "h"],
    [`${ROOT}command/ack-alarm`, `{"id":"h","channel":"max31865"}`, "bad-argument", "h"],
    [`${ROOT}command/ack-alarm`, `{"id":"h","channel":"max31865.temperature","kind":"medium"}`, "bad-argument", "h"],
    [`${ROOT}command/flush`, `{"id":"i","expires_at":${NOW - 1}}`, "expired", "i"],
    [`${ROOT}command/flush`, `{"id":"i","expires_at":"tomorrow"}`, "bad-argument", "i"],
  ];
  for (const [topic, payload, code, id] of cases) {
    const label = `${topic.slice(ROOT.length)} ${typeof payload === "string" ? payload.slice(0, 60) : "bytes"}`;
    const response = send(topic, payload);
    assert(response !== undefined, `${label}: no response`);
    equal(response.body.ok, false, label);
    equal(response.body.error.code, code, label);
    equal(response.body.id, id, label);
    equal(response.acted, false, label);
    assert(typeof response.body.error.message === "string" && response.body.error.message.length > 0, `${label}: no message`);
  }
  deepEqual(calls, []);
  // Still works afterwards, and an expiry in the future is accepted.
  equal(send(`${ROOT}command/flush`, `{"id":"ok","expires_at":${NOW + 1000}}`)!.body.ok, true);
});

test("commands: a redelivered request id is not acted on twice, also after a restart", () => {
  const memory: { value?: string } = {};
  const first = rig({ memory });
  equal(first.send(`${ROOT}command/reboot`, `{"id":"boot-1"}`)!.body.ok, true);
  const again = first.send(`${ROOT}command/reboot`, `{"id":"boot-1"}`)!;
  equal(again.body.error.code, "duplicate");
  deepEqual(first.calls, [["reboot", 0]]);
  // After the restart the broker redelivers the unacknowledged reboot: it must not loop.
  const afterRestart = rig({ memory });
  equal(afterRestart.send(`${ROOT}command/reboot`, `{"id":"boot-1"}`)!.body.error.code, "duplicate");
  deepEqual(afterRestart.calls, []);
  // Only the last 16 ids are kept.
  for (let i = 0; i < 16; i++) afterRestart.send(`${ROOT}command/identify`, `{"id":"n${i}"}`);
  equal(afterRestart.send(`${ROOT}command/reboot`, `{"id":"boot-1"}`)!.body.ok, true);
  const corrupt = rig({ memory: { value: "\u0000 ## " } });
  equal(corrupt.send(`${ROOT}command/flush`, `{"id":"x"}`)!.body.ok, true, "garbage in the memory is ignored");
});

test("commands: a handler that refuses or throws gives an error response, never an exception", () => {
  const { send } = rig();
  const refused = send(`${ROOT}command/resend`, `{"id":"old","from":3}`)!;
  deepEqual(refused.body.error, { code: "refused", message: "record 3 is no longer in the log (oldest 100)" });
  const throwing = rig({ throwing: true });
  const failed = throwing.send(`${ROOT}command/flush`, `{"id":"f"}`)!;
  deepEqual(failed.body.error, { code: "failed", message: "handler exploded" });
});

test("commands: expires_at is refused while the clock is unset", () => {
  const r = parseCommand("flush", utf8Encode(`{"id":"a","expires_at":${NOW + 5000}}`), 1000, false);
  equal(r.ok, false);
  equal(r.ok ? "" : r.code, "expired");
  equal(parseCommand("flush", utf8Encode(`{"id":"a"}`), 1000, false).ok, true, "without expires_at the clock does not matter");
});

test("bounded json: nesting is measured outside strings and stops early", () => {
  equal(nestingDepth(`{"a":"[[[[{{{{"}`, 10), 1);
  equal(nestingDepth(`{"a":"\\"[[["}`, 10), 1);
  equal(nestingDepth(`[[],[[]]]`, 10), 3);
  equal(nestingDepth("[".repeat(100000), 4), 5);
  const r = parseBoundedJson(utf8Encode(`{"a":[1,{"b":2}]}`), { maxBytes: 100, maxDepth: 3 });
  deepEqual(r, { ok: true, value: { a: [1, { b: 2 }] } });
});

// --- fuzz ---------------------------------------------------------------------------------------

const NAMES = ["flush", "resend", "reboot", "identify", "ack-alarm", "diagnostics", "", "Flush", "nope", "flush/x", "+", "#"];
const KEYS = ["id", "command", "from", "delay_s", "seconds", "channel", "kind", "expires_at", "x", "__proto__", "constructor", ""];

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (r < 0.12) return Math.floor(rand() * 1000) - 100;
  if (r < 0.18) return [0, -0, 1.5, -1, 2 ** 53, 2 ** 64, 1e308, -1e308, 4294967296][Math.floor(rand() * 9)];
  if (r < 0.3) return ["", "a", "r-1", "max31865.temperature", "high", "x".repeat(70), "\u0000", "\ud800", "é", "flush"][Math.floor(rand() * 10)];
  if (r < 0.36) return rand() < 0.5;
  if (r < 0.4) return null;
  if (r < 0.5 && depth < 6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  if (r < 0.65 && depth < 6) return randomObject(rand, depth + 1);
  return Math.floor(rand() * 2 ** 40);
}

function randomObject(rand: () => number, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(rand() * 5);
  // defineProperty: a key like "constructor" or "__proto__" becomes an own property, as JSON.parse makes it.
  for (let i = 0; i < n; i++) Object.defineProperty(o, KEYS[Math.floor(rand() * KEYS.length)], { value: randomValue(rand, depth), enumerable: true, writable: true, configurable: true });
  return o;
}

/** A document that is often nearly valid: a real command with some fields wrong. */
const OWN_ARGS: Record<string, string[]> = { resend: ["from"], reboot: ["delay_s"], identify: ["seconds"], "ack-alarm": ["channel", "kind"] };

function nearlyValid(rand: () => number, name: string): Record<string, unknown> {
  const o: Record<string, unknown> = { id: rand() < 0.9 ? `f${Math.floor(rand() * 1e6)}` : randomValue(rand, 3) };
  const args: Record<string, () => unknown> = {
    from: () => (rand() < 0.8 ? Math.floor(rand() * 500) : randomValue(rand, 3)),
    delay_s: () => (rand() < 0.5 ? Math.floor(rand() * 4000) : randomValue(rand, 3)),
    seconds: () => (rand() < 0.5 ? Math.floor(rand() * 700) : randomValue(rand, 3)),
    channel: () => (rand() < 0.5 ? "max31865.temperature" : randomValue(rand, 3)),
    kind: () => (rand() < 0.5 ? "low" : randomValue(rand, 3)),
    expires_at: () => (rand() < 0.5 ? NOW + Math.floor((rand() - 0.5) * 10000) : randomValue(rand, 3)),
  };
  // Mostly the command's own arguments, sometimes any of them.
  const keys = rand() < 0.75 ? (OWN_ARGS[name] ?? []) : Object.keys(args);
  for (const key of keys) if (rand() < (keys.length > 2 ? 0.2 : 0.85)) o[key] = args[key]();
  if (rand() < 0.2) o.command = NAMES[Math.floor(rand() * NAMES.length)];
  if (rand() < 0.1) Object.defineProperty(o, KEYS[Math.floor(rand() * KEYS.length)], { value: randomValue(rand, 2), enumerable: true, writable: true, configurable: true });
  return o;
}

function mangle(rand: () => number, text: string): string | Uint8Array {
  const r = rand();
  if (r < 0.15) return text.slice(0, Math.floor(rand() * text.length)); // truncated
  if (r < 0.2) return "[".repeat(1 + Math.floor(rand() * 3000)) + text;
  if (r < 0.25) return text + " ".repeat(MAX_COMMAND_BYTES);
  if (r < 0.3) {
    const bytes = utf8Encode(text);
    if (bytes.length > 0) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    return bytes;
  }
  if (r < 0.33) return `{"id":"z","a":${"{\"a\":".repeat(50)}1${"}".repeat(50)}}`;
  return text;
}

/** The dispatcher's verdict must agree with an independent statement of what is valid. */
function depthOf(v: unknown): number {
  if (typeof v !== "object" || v === null) return 0;
  const inner = Array.isArray(v) ? v : Object.values(v);
  return 1 + inner.reduce((m: number, x) => Math.max(m, depthOf(x)), 0);
}

function expectedValid(topicName: string | undefined, raw: string | Uint8Array): boolean {
  if (typeof raw !== "string") {
    if (raw.length > MAX_COMMAND_BYTES) return false;
    try {
      raw = utf8Decode(raw);
    } catch {
      return false;
    }
  }
  if (utf8Encode(raw).length > MAX_COMMAND_BYTES) return false;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return false;
  }
  if (depthOf(doc) > 2) return false;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return false;
  const o = doc as Record<string, unknown>;
  const isInt = (v: unknown, lo: number, hi: number) => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
  if (typeof o.id !== "string" || !/^[A-Za-z0-9_.:-]{1,64}$/.test(o.id)) return false;
  if (o.command !== undefined && (typeof o.command !== "string" || (topicName !== undefined && o.command !== topicName))) return false;
  const name = topicName ?? o.command;
  const allowed: Record<string, string[]> = { flush: [], diagnostics: [], resend: ["from"], reboot: ["delay_s"], identify: ["seconds"], "ack-alarm": ["channel", "kind"] };
  if (typeof name !== "string" || !(name in allowed)) return false;
  for (const k of Object.keys(o)) if (!["id", "command", "expires_at", ...allowed[name]].includes(k)) return false;
  if (o.expires_at !== undefined && !(isInt(o.expires_at, NOW, 2 ** 53 - 1))) return false;
  if (name === "resend") return isInt(o.from, 0, 2 ** 53 - 1);
  if (name === "reboot") return o.delay_s === undefined || isInt(o.delay_s, 0, 3600);
  if (name === "identify") return o.seconds === undefined || isInt(o.seconds, 1, 600);
  if (name === "ack-alarm") return typeof o.channel === "string" && /^[a-z0-9_]{1,16}\.[a-z0-9_]{1,16}$/.test(o.channel) && (o.kind === undefined || ["high", "low", "sensor-fault"].includes(o.kind as string));
  return true;
}

test("commands fuzz: 4,000 generated requests never throw and act only when valid", () => {
  const rand = random(0xc0ffee);
  const { calls, dispatcher } = rig();
  let acted = 0;
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    const useTopicName = rand() < 0.8;
    const name = NAMES[Math.floor(rand() * (rand() < 0.7 ? 6 : NAMES.length))];
    const topic = useTopicName ? `${ROOT}command/${name}` : `${ROOT}command`;
    const doc = rand() < 0.7 ? nearlyValid(rand, name) : rand() < 0.5 ? randomObject(rand, 0) : randomValue(rand, 0);
    const text = JSON.stringify(doc) ?? "undefined";
    const raw = mangle(rand, text);
    const before = calls.length;
    let response;
    try {
      response = dispatcher.handle(topic, typeof raw === "string" ? utf8Encode(raw) : raw);
    } catch (error) {
      throw new Error(`case ${i} threw: ${error} for ${topic} ${typeof raw === "string" ? raw.slice(0, 80) : "bytes"}`);
    }
    assert(response !== undefined, `case ${i}: no response`);
    const body = JSON.parse(response.payload);
    const didAct = calls.length > before;
    equal(didAct, response.acted, `case ${i}: acted flag`);
    if (body.ok) acted++;
    else refused++;
    if (didAct) {
      // Valid by the independent rules (resend below 100 is refused by the handler but was valid).
      const topicName = useTopicName ? name : undefined;
      assert(expectedValid(topicName, raw), `case ${i}: acted on an invalid request ${topic} ${String(raw).slice(0, 120)}`);
    } else if (body.ok) {
      throw new Error(`case ${i}: ok without acting`);
    }
    if (!useTopicName || NAMES.slice(0, 6).includes(name)) {
      // A valid, unmangled request must act (unless its id was seen before).
      const topicName = useTopicName ? name : undefined;
      if (typeof raw === "string" && expectedValid(topicName, raw) && body.error?.code !== "duplicate") {
        assert(didAct || body.error?.code === "refused", `case ${i}: refused a valid request ${raw}: ${response.payload}`);
      }
    }
    assert(response.payload.length <= MAX_COMMAND_BYTES, `case ${i}: response too large`);
  }
  assert(acted > 200 && refused > 2000, `a mix of valid and invalid cases (acted ${acted}, refused ${refused})`);
});
