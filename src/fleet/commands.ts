// Commands to one device: requests on `<topic_root>command/<name>` (or `<topic_root>command` with the
// name in the payload), each with a request id, and one response per request on
// `<topic_root>response`. The whole request is checked (size, encoding, nesting, JSON, types, ranges,
// unknown keys) before a handler runs; a request that fails any check gets an error response and
// changes nothing. Pure: the handlers are the device's, passed in; runs on XS unchanged.

import { isPlainObject, parseBoundedJson, type JsonProblem } from "./bounded-json";

/** Commands are small; anything near a batch in size is not a command. */
export const MAX_COMMAND_BYTES = 1024;
/** A command is a flat object; one level more leaves room for nothing but mistakes. */
export const MAX_COMMAND_DEPTH = 2;
export const MAX_ID_LENGTH = 64;
/** Request ids remembered to drop redeliveries (QoS 1 resends a command after a reconnect). */
export const REMEMBERED_IDS = 16;

export type CommandName = "flush" | "resend" | "reboot" | "identify" | "ack-alarm" | "diagnostics" | "rotate";
export const COMMAND_NAMES: readonly CommandName[] = ["flush", "resend", "reboot", "identify", "ack-alarm", "diagnostics", "rotate"];

export type Command =
  | { name: "flush" }
  | { name: "resend"; from: number }
  | { name: "reboot"; delayS: number }
  | { name: "identify"; seconds: number }
  | { name: "ack-alarm"; channel: string; kind?: "high" | "low" | "sensor-fault" }
  | { name: "diagnostics" }
  | { name: "rotate" };

export type ErrorCode = JsonProblem | "bad-request" | "unknown-command" | "bad-argument" | "duplicate" | "expired" | "refused" | "failed";

/** Thrown by a handler that cannot do what was asked (e.g. a sequence number the log no longer holds). */
export class CommandRefused extends Error {
  override name = "CommandRefused";
  constructor(message: string) {
    super(message);
  }
}

export type ResultValue = string | number | boolean | null;
export type CommandResult = Record<string, ResultValue>;

/** What the device does for each command; a handler throws CommandRefused to say no. */
export interface CommandHandlers {
  flush(): CommandResult | void;
  resend(from: number): CommandResult | void;
  /** Schedules the restart after delayS (the response goes out first). */
  reboot(delayS: number): CommandResult | void;
  identify(seconds: number): CommandResult | void;
  acknowledgeAlarm(channel: string, kind: "high" | "low" | "sensor-fault" | undefined): CommandResult | void;
  diagnostics(): CommandResult | void;
  /** Starts a certificate rotation (src/fleet/provisioning.ts, rotate mode); its outcome is reported later. */
  rotate(): CommandResult | void;
}

/** Request ids already handled, kept across restarts where the platform has somewhere to keep them. */
export interface IdMemory {
  load(): string | undefined;
  save(ids: string): void;
}

export interface CommandDispatcherOptions {
  topicRoot: string;
  handlers: CommandHandlers;
  /** Milliseconds since the epoch, for `expires_at`. */
  now(): number;
  /** False while the clock is unset: an expiry cannot be checked then, so such requests are refused. */
  clockValid(): boolean;
  memory?: IdMemory;
}

export interface CommandResponse {
  topic: string;
  payload: string;
  /** What was done, for the device's log: the command name or the error code. */
  summary: string;
  acted: boolean;
}

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const NAME = /^[a-z-]{1,16}$/;
const CHANNEL = /^[a-z0-9_]{1,16}\.[a-z0-9_]{1,16}$/;
const MAX_SEQ = 2 ** 53 - 1;

type Parsed = { ok: true; id: string; command: Command } | { ok: false; id: string | null; code: ErrorCode; message: string; name?: string };

/** Keys every request may carry besides the command's own arguments. */
const COMMON_KEYS = ["id", "command", "expires_at"];
const ARGUMENT_KEYS: Record<CommandName, readonly string[]> = {
  flush: [], resend: ["from"], reboot: ["delay_s"], identify: ["seconds"], "ack-alarm": ["channel", "kind"], diagnostics: [], rotate: [],
};

function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

function integerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/** Checks a request completely; says what is wrong with the first problem found. */
export function parseCommand(topicName: string | undefined, payload: Uint8Array, now: number, clockValid: boolean): Parsed {
  const parsed = parseBoundedJson(payload, { maxBytes: MAX_COMMAND_BYTES, maxDepth: MAX_COMMAND_DEPTH });
  if (!parsed.ok) return { ok: false, id: null, code: parsed.problem, message: parsed.message };
  const request = parsed.value;
  if (!isPlainObject(request)) return { ok: false, id: null, code: "bad-request", message: "a request is a JSON object" };
  const rawId = request.id;
  const id = typeof rawId === "string" && ID.test(rawId) ? rawId : null;
  let name: string | undefined;
  const refuse = (code: ErrorCode, message: string): Parsed => ({ ok: false, id, code, message, ...(name !== undefined && { name }) });
  if (id === null) return refuse("bad-request", `id must be 1..${MAX_ID_LENGTH} of A-Z a-z 0-9 _ . : -`);
  const inPayload = request.command;
  if (inPayload !== undefined && (typeof inPayload !== "string" || !NAME.test(inPayload))) return refuse("bad-request", "command must be a command name");
  if (topicName !== undefined && inPayload !== undefined && inPayload !== topicName) return refuse("bad-request", `the topic names ${topicName}, the payload ${inPayload}`);
  name = topicName ?? (inPayload as string | undefined);
  if (name === undefined) return refuse("bad-request", "no command named (topic command/<name> or field command)");
  if (!isCommandName(name)) return refuse("unknown-command", `unknown command ${JSON.stringify(name.slice(0, 16))}`);
  const allowed = ARGUMENT_KEYS[name];
  for (const key of Object.keys(request)) {
    if (!COMMON_KEYS.includes(key) && !allowed.includes(key)) return refuse("bad-argument", `unknown key ${JSON.stringify(key.slice(0, 32))}`);
  }
  const expires = request.expires_at;
  if (expires !== undefined) {
    if (!integerIn(expires, 0, MAX_SEQ)) return refuse("bad-argument", "expires_at must be milliseconds since 1970");
    if (!clockValid) return refuse("expired", "the clock is not set, so expires_at cannot be checked");
    if (now > expires) return refuse("expired", `expired ${now - expires} ms ago`);
  }
  switch (name) {
    case "flush":
    case "diagnostics":
    case "rotate":
      return { ok: true, id, command: { name } };
    case "resend": {
      const from = request.from;
      if (!integerIn(from, 0, MAX_SEQ)) return refuse("bad-argument", "from must be a sequence number (an integer >= 0)");
      return { ok: true, id, command: { name, from } };
    }
    case "reboot": {
      // Absent means the default; null is a wrong type, not absent.
      const delay = request.delay_s === undefined ? 0 : request.delay_s;
      if (!integerIn(delay, 0, 3600)) return refuse("bad-argument", "delay_s must be an integer 0..3600");
      return { ok: true, id, command: { name, delayS: delay } };
    }
    case "identify": {
      const seconds = request.seconds === undefined ? 10 : request.seconds;
      if (!integerIn(seconds, 1, 600)) return refuse("bad-argument", "seconds must be an integer 1..600");
      return { ok: true, id, command: { name, seconds } };
    }
    case "ack-alarm": {
      const channel = request.channel;
      if (typeof channel !== "string" || !CHANNEL.test(channel)) return refuse("bad-argument", "channel must be <sensor>.<quantity>, e.g. max31865.temperature");
      const kind = request.kind;
      if (kind !== undefined && kind !== "high" && kind !== "low" && kind !== "sensor-fault") return refuse("bad-argument", "kind must be high, low or sensor-fault");
      return { ok: true, id, command: { name, channel, ...(kind !== undefined && { kind }) } };
    }
  }
}

/** Only strings, finite numbers, booleans and null go out in a result; the rest is left out. */
function cleanResult(result: CommandResult | void): CommandResult {
  const clean: CommandResult = {};
  if (!isPlainObject(result)) return clean;
  for (const key of Object.keys(result)) {
    const v = result[key];
    if (typeof v === "string" || typeof v === "boolean" || v === null || (typeof v === "number" && Number.isFinite(v))) clean[key] = v;
  }
  return clean;
}

export class CommandDispatcher {
  readonly #o: CommandDispatcherOptions;
  readonly #root: string;
  #recent: string[] = [];

  constructor(options: CommandDispatcherOptions) {
    this.#o = options;
    this.#root = `${options.topicRoot}command`;
    try {
      const saved = options.memory?.load();
      if (typeof saved === "string") this.#recent = saved.split(" ").filter((id) => ID.test(id)).slice(-REMEMBERED_IDS);
    } catch {
      // nothing remembered: a redelivered request may act twice, which idempotent handlers tolerate
    }
  }

  /** The filter to subscribe to (the IoT policy grants exactly this one). */
  get subscription(): string {
    return `${this.#root}/#`;
  }

  get responseTopic(): string {
    return `${this.#o.topicRoot}response`;
  }

  /** The command name a topic carries, null for the bare command topic, undefined for other topics. */
  #nameFromTopic(topic: string): string | null | undefined {
    if (topic === this.#root) return null;
    if (topic.startsWith(`${this.#root}/`)) return topic.slice(this.#root.length + 1);
    return undefined;
  }

  /**
   * Handles one incoming publish. Undefined when the topic is not a command topic; otherwise the
   * response to publish. Never throws.
   */
  handle(topic: string, payload: Uint8Array): CommandResponse | undefined {
    const fromTopic = this.#nameFromTopic(topic);
    if (fromTopic === undefined) return undefined;
    let parsed: Parsed;
    try {
      if (fromTopic !== null && !NAME.test(fromTopic)) parsed = { ok: false, id: null, code: "unknown-command", message: "the topic names no known command" };
      else parsed = parseCommand(fromTopic ?? undefined, payload, this.#now(), this.#clockValid());
    } catch (error) {
      parsed = { ok: false, id: null, code: "failed", message: error instanceof Error ? error.message : "parse failed" };
    }
    if (!parsed.ok) return this.#respond(parsed.id, parsed.name, false, { code: parsed.code, message: parsed.message }, parsed.code);
    const { id, command } = parsed;
    if (this.#recent.includes(id)) return this.#respond(id, command.name, false, { code: "duplicate", message: "this request id was handled already" }, "duplicate");
    this.#remember(id);
    let result: CommandResult | void;
    try {
      result = this.#run(command);
    } catch (error) {
      const refused = error instanceof CommandRefused;
      const message = error instanceof Error ? error.message : String(error);
      return this.#respond(id, command.name, false, { code: refused ? "refused" : "failed", message }, refused ? "refused" : "failed");
    }
    return this.#respond(id, command.name, true, cleanResult(result), command.name, true);
  }

  #now(): number {
    try {
      return this.#o.now();
    } catch {
      return 0;
    }
  }

  #clockValid(): boolean {
    try {
      return this.#o.clockValid() === true;
    } catch {
      return false;
    }
  }

  #run(command: Command): CommandResult | void {
    const h = this.#o.handlers;
    switch (command.name) {
      case "flush": return h.flush();
      case "resend": return h.resend(command.from);
      case "reboot": return h.reboot(command.delayS);
      case "identify": return h.identify(command.seconds);
      case "ack-alarm": return h.acknowledgeAlarm(command.channel, command.kind);
      case "diagnostics": return h.diagnostics();
      case "rotate": return h.rotate();
    }
  }

  /** Remembered before the handler runs: a reboot must not come back as a redelivery and run again. */
  #remember(id: string): void {
    this.#recent.push(id);
    if (this.#recent.length > REMEMBERED_IDS) this.#recent.shift();
    try {
      this.#o.memory?.save(this.#recent.join(" "));
    } catch {
      // kept in RAM at least
    }
  }

  #respond(id: string | null, name: string | undefined, ok: boolean, body: CommandResult, summary: string, acted = false): CommandResponse {
    const message: Record<string, unknown> = { id, ...(name !== undefined && { command: name }), ok };
    if (ok) message.result = body;
    else message.error = { code: body.code, message: String(body.message).slice(0, 200) };
    let payload = JSON.stringify(message);
    if (payload.length > MAX_COMMAND_BYTES) payload = JSON.stringify({ id, ok, error: { code: "failed", message: "result too large" } });
    return { topic: this.responseTopic, payload, summary, acted };
  }
}
