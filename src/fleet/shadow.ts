// The node's side of the AWS IoT named shadow "config": the runtime settings (runtime-settings.ts) an
// operator writes into state.desired reach the node as a whole document (get/accepted, at every
// connect) or as a change (update/delta). The new document (what is applied, merged with the change)
// is validated as a whole before anything changes; a valid one is stored, then applied, then reported
// (state.reported: the document, config_version, config_error null); an invalid one changes nothing
// and is reported as config_error. Pure (no platform imports): runs on XS unchanged.
//
// Power cuts: the store's save is one write of the whole {version, document} text (one NVS
// preference on the ESP32, which NVS commits atomically; a temporary file renamed over the old one on
// the simulator and the host), made before apply: a cut before it leaves the old configuration, a cut
// after it the new one, which the next boot loads and applies.

import { isPlainObject, nestingDepth, parseBoundedJson } from "./bounded-json";
import { parseRuntimeSettings, RuntimeSettingsError, type RuntimeBase, type RuntimeSettings } from "./runtime-settings";
import { utf8Length } from "../util/utf8";

export const SHADOW_NAME = "config";
/** Largest shadow message read (get/accepted holds desired, reported, delta and their metadata). */
export const MAX_SHADOW_MESSAGE_BYTES = 12_288;
/** Deepest nesting in a shadow message: metadata.desired.channels.<channel>.stats[{timestamp}] is 7. */
export const MAX_SHADOW_DEPTH = 8;
/** Largest configuration document (JSON): stored with its version in one preference (NVS strings: 4000 bytes). */
export const MAX_DOCUMENT_BYTES = 3072;
/** Longest config_error reported. */
export const MAX_ERROR_CHARS = 300;

export type ShadowDocument = Record<string, unknown>;

/** Where the applied {version, document} survives a restart: one preference (see the file's header). */
export interface ShadowStore {
  load(): string | undefined;
  save(text: string): void;
}

export interface ShadowOptions {
  thing: string;
  /** What the node was built with: every key the document leaves out takes its value from here. */
  base: RuntimeBase;
  /** Puts the new settings in force, all at once; called only with validated settings. */
  apply(settings: RuntimeSettings, document: ShadowDocument): void;
  store: ShadowStore;
  /** Sends a message (the update at QoS 1; the get may be QoS 0 or 1). */
  publish(topic: string, payload: string): void;
  log?(line: string): void;
  maxMessageBytes?: number;
}

type Outcome = "applied" | "unchanged" | "invalid" | "stale" | "ignored";

export class ShadowAgent {
  /** The topic prefix: $aws/things/<thing>/shadow/name/config. */
  readonly prefix: string;
  /** Subscribe to these (one SUBSCRIBE) on every connect, then call subscribed(). */
  readonly subscriptions: readonly string[];
  readonly #o: ShadowOptions;
  #settings: RuntimeSettings;
  #document: ShadowDocument = {};
  /** The shadow version the document was applied at (0: the built-in configuration). */
  #version = 0;
  /** The highest version looked at: anything at or below it is stale. */
  #seen = 0;
  #error: string | null = null;
  /** What the shadow's state.reported holds, as far as the node knows (undefined: not known). */
  #reported: ShadowDocument | undefined;
  #token = 0;
  #reportToken: string | undefined;
  /** Why the stored configuration was not used at start, if it was not. */
  readonly loadProblem: string | undefined;

  constructor(options: ShadowOptions) {
    this.#o = options;
    if (!/^[A-Za-z0-9_:-]{1,128}$/.test(options.thing)) throw new Error(`shadow: bad thing name "${options.thing}"`);
    this.prefix = `$aws/things/${options.thing}/shadow/name/${SHADOW_NAME}`;
    const p = this.prefix;
    this.subscriptions = Object.freeze([`${p}/get/accepted`, `${p}/get/rejected`, `${p}/update/accepted`, `${p}/update/rejected`, `${p}/update/delta`]);
    // The built-in configuration: a bad build is a programming error, and throws here.
    this.#settings = parseRuntimeSettings({}, options.base);
    this.loadProblem = this.#load();
  }

  get settings(): RuntimeSettings {
    return this.#settings;
  }

  /** A copy of the applied document ({} while the built-in configuration is in force). */
  get document(): ShadowDocument {
    return copy(this.#document);
  }

  get version(): number {
    return this.#version;
  }

  /** The highest shadow version looked at, applied or not: a message at or below it is stale. */
  get seenVersion(): number {
    return this.#seen;
  }

  get error(): string | null {
    return this.#error;
  }

  /** The broker granted the subscriptions: ask for the whole shadow (a delta sent while offline is in it). */
  subscribed(): void {
    this.#send(`${this.prefix}/get`, JSON.stringify({ clientToken: this.#nextToken() }));
  }

  /**
   * A message from the broker: false when the topic is not this shadow's (try the next handler).
   * Never throws; nothing changes unless the new document is valid.
   */
  handle(topic: string, payload: Uint8Array): boolean {
    if (topic.length <= this.prefix.length || !topic.startsWith(this.prefix) || topic.charCodeAt(this.prefix.length) !== 0x2f) return false;
    const stub = topic.slice(this.prefix.length + 1);
    if (!this.subscriptions.includes(topic)) return false;
    try {
      const outcome = this.#handle(stub, payload);
      this.#log(`shadow ${stub}: ${outcome}`);
    } catch (error) {
      // Unreachable by design; a last guard so a broker message cannot stop the node.
      this.#log(`shadow ${stub}: internal error ${message(error)}`);
    }
    return true;
  }

  #handle(stub: string, payload: Uint8Array): string {
    const parsed = parseBoundedJson(payload, { maxBytes: this.#o.maxMessageBytes ?? MAX_SHADOW_MESSAGE_BYTES, maxDepth: MAX_SHADOW_DEPTH });
    if (!parsed.ok) {
      if (stub === "update/delta" || stub === "get/accepted") this.#refuse(`${stub}: ${parsed.problem} (${parsed.message})`);
      return `refused: ${parsed.problem}`;
    }
    const body = parsed.value;
    if (!isPlainObject(body)) {
      if (stub === "update/delta" || stub === "get/accepted") this.#refuse(`${stub}: not a JSON object`);
      return "refused: not an object";
    }
    switch (stub) {
      case "get/accepted":
        return this.#whole(body);
      case "update/delta":
        return this.#delta(body);
      case "get/rejected":
        // 404: no shadow yet. Reporting creates it, with what is in force.
        if (body.code === 404) {
          this.#reported = undefined;
          this.#report();
        }
        return `rejected (${short(body.code)} ${short(body.message)})`;
      case "update/accepted":
      case "update/rejected":
        // Anyone's update is answered here; only the answer to our last report matters.
        if (this.#reportToken === undefined || body.clientToken !== this.#reportToken) return "ignored (not our last report)";
        this.#reportToken = undefined;
        if (stub === "update/rejected") {
          // What the shadow holds is unknown until the next get: the next report sends everything.
          this.#reported = undefined;
          return `our report was rejected (${short(body.code)} ${short(body.message)})`;
        }
        return "our report was accepted";
    }
    return "ignored";
  }

  /** get/accepted: state.desired is the wanted document (absent: nothing wanted, keep what is in force). */
  #whole(body: Record<string, unknown>): Outcome {
    const version = body.version;
    if (!isVersion(version)) return this.#refuse("get/accepted: no valid version");
    if (version <= this.#seen) return "stale";
    const state = body.state;
    if (state !== undefined && !isPlainObject(state)) return this.#refuse("get/accepted: state must be an object");
    const reported = state?.reported;
    this.#reported = isPlainObject(reported) ? reported : {};
    const desired = state?.desired;
    if (desired === undefined || desired === null) {
      this.#seen = version;
      this.#report();
      return "ignored";
    }
    if (!isPlainObject(desired)) return this.#consider(undefined, version, ["state.desired must be an object"]);
    return this.#consider(mergePatch({}, desired), version);
  }

  /** update/delta: state holds what changed; null removes a key (its built-in value returns). */
  #delta(body: Record<string, unknown>): Outcome {
    const version = body.version;
    if (!isVersion(version)) return this.#refuse("update/delta: no valid version");
    if (version <= this.#seen) return "stale";
    if (!isPlainObject(body.state)) return this.#consider(undefined, version, ["the delta's state must be an object"]);
    return this.#consider(mergePatch(copy(this.#document), body.state), version);
  }

  #consider(candidate: ShadowDocument | undefined, version: number, problems: string[] = []): Outcome {
    this.#seen = version;
    let text = "";
    if (candidate) {
      text = JSON.stringify(candidate);
      const bytes = utf8Length(text);
      if (bytes > MAX_DOCUMENT_BYTES) problems.push(`too large: the configuration is ${bytes} bytes, at most ${MAX_DOCUMENT_BYTES}`);
    }
    if (problems.length === 0 && candidate && sameJson(candidate, this.#document)) {
      this.#error = null;
      this.#report();
      return "unchanged";
    }
    let settings: RuntimeSettings | undefined;
    if (problems.length === 0 && candidate) {
      try {
        settings = parseRuntimeSettings(candidate, this.#o.base);
      } catch (error) {
        if (error instanceof RuntimeSettingsError) problems.push(...error.problems);
        else problems.push(message(error));
      }
    }
    // No version in the error: AWS answers every report that leaves desired and reported apart with a
    // delta at a new version, and a report that changed each time would never end.
    if (!settings || !candidate) return this.#refuse(problems.join("; "));
    // Stored first: a power cut after this boots into the new configuration, before it into the old.
    const previous = this.#stored(this.#version, this.#document);
    try {
      this.#o.store.save(`{"version":${version},"document":${text}}`);
    } catch (error) {
      return this.#refuse(`not applied, cannot store it (${message(error)})`);
    }
    try {
      this.#o.apply(settings, copy(candidate));
    } catch (error) {
      // apply() must not fail on validated settings; if it did, the old document is stored again.
      try {
        if (previous === undefined) this.#o.store.save(`{"version":0,"document":{}}`);
        else this.#o.store.save(previous);
      } catch {
        // Then the next boot applies the new document, which is valid.
      }
      return this.#refuse(`not applied (${message(error)})`);
    }
    this.#settings = settings;
    this.#document = candidate;
    this.#version = version;
    this.#error = null;
    this.#report();
    return "applied";
  }

  #stored(version: number, document: ShadowDocument): string | undefined {
    return version === 0 ? undefined : `{"version":${version},"document":${JSON.stringify(document)}}`;
  }

  /** Nothing changes; the error is reported beside the document in force. */
  #refuse(error: string): Outcome {
    this.#error = error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS - 3)}...` : error;
    this.#report();
    return "invalid";
  }

  /** Reports what is in force: only what differs from what the shadow holds, null for keys gone. */
  #report(): void {
    const target: ShadowDocument = copy(this.#document);
    target.config_version = this.#version;
    target.config_error = this.#error;
    const known = this.#reported;
    const patch = known ? diff(known, target) : target;
    if (!patch) return;
    this.#reported = target;
    this.#reportToken = this.#nextToken();
    this.#send(`${this.prefix}/update`, JSON.stringify({ state: { reported: patch }, clientToken: this.#reportToken }));
  }

  #load(): string | undefined {
    let text: string | undefined;
    try {
      text = this.#o.store.load();
    } catch (error) {
      return this.#loadFailed(`cannot read it (${message(error)})`);
    }
    if (text === undefined) return undefined;
    if (typeof text !== "string") return this.#loadFailed("not text");
    if (text.length > MAX_DOCUMENT_BYTES + 64) return this.#loadFailed(`${text.length} characters, too long`);
    if (nestingDepth(text, MAX_SHADOW_DEPTH) > MAX_SHADOW_DEPTH) return this.#loadFailed("nested too deep");
    let stored: unknown;
    try {
      stored = JSON.parse(text);
    } catch {
      return this.#loadFailed("not JSON (corrupt)");
    }
    if (!isPlainObject(stored) || !isVersion(stored.version) || !isPlainObject(stored.document)) return this.#loadFailed("not {version, document}");
    if (stored.version === 0) return undefined; // the built-in configuration, stored back after a failed apply
    let settings: RuntimeSettings;
    try {
      settings = parseRuntimeSettings(stored.document, this.#o.base);
    } catch (error) {
      return this.#loadFailed(`invalid (${message(error)})`);
    }
    try {
      this.#o.apply(settings, copy(stored.document));
    } catch (error) {
      return this.#loadFailed(`not applied (${message(error)})`);
    }
    this.#settings = settings;
    this.#document = stored.document;
    this.#version = this.#seen = stored.version;
    this.#log(`shadow: configuration version ${stored.version} from the store`);
    return undefined;
  }

  #loadFailed(reason: string): string {
    const problem = `stored configuration ignored: ${reason}; the built-in configuration stays`;
    this.#log(`shadow: ${problem}`);
    return problem;
  }

  #nextToken(): string {
    this.#token = (this.#token + 1) % 1_000_000;
    return `${this.#o.thing}-${this.#token}`;
  }

  #send(topic: string, payload: string): void {
    try {
      this.#o.publish(topic, payload);
    } catch (error) {
      this.#log(`shadow: cannot publish on ${topic}: ${message(error)}`);
    }
  }

  #log(line: string): void {
    try {
      this.#o.log?.(line);
    } catch {
      // A logger that fails changes nothing here.
    }
  }
}

function isVersion(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function short(v: unknown): string {
  const text = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** JSON values only (parsed JSON, or documents built from it), so a JSON round trip copies them. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * JSON merge patch (RFC 7396) of patch into target, which it changes and returns: objects merge, null
 * removes a key, anything else replaces. Recursion is as deep as the patch (at most MAX_SHADOW_DEPTH).
 */
export function mergePatch(target: ShadowDocument, patch: Record<string, unknown>): ShadowDocument {
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete target[key];
    else if (isPlainObject(value)) {
      // An own property only: target["__proto__"] would be Object.prototype, and merging into it pollutes every object.
      const inner = Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined;
      const merged = mergePatch(isPlainObject(inner) ? inner : {}, value);
      define(target, key, merged);
    } else define(target, key, value);
  }
  return target;
}

/** A key such as "__proto__" from JSON.parse is an own property, and stays one. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The merge patch that turns from into to (undefined: nothing to change). */
export function diff(from: Record<string, unknown>, to: Record<string, unknown>): ShadowDocument | undefined {
  const patch: ShadowDocument = {};
  let any = false;
  for (const key of Object.keys(from)) {
    if (!Object.prototype.hasOwnProperty.call(to, key) || to[key] === undefined) {
      if (from[key] !== null) {
        define(patch, key, null);
        any = true;
      }
    }
  }
  for (const key of Object.keys(to)) {
    const a = Object.prototype.hasOwnProperty.call(from, key) ? from[key] : undefined;
    const b = to[key];
    if (isPlainObject(a) && isPlainObject(b)) {
      const inner = diff(a, b);
      if (inner) {
        define(patch, key, inner);
        any = true;
      }
    } else if (b === null && (a === undefined || a === null)) {
      // In a shadow, null is absence: a report of null removes the key, so there is nothing to remove.
    } else if (a === undefined || !sameJson(a, b)) {
      define(patch, key, b);
      any = true;
    }
  }
  return any ? patch : undefined;
}

/** The same JSON value (key order aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
