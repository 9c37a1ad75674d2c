// The IoT SQL functions the rules use. As AWS documents for every function: called with an
// argument of the wrong type or count, a function returns Undefined rather than failing.
// https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html

import type { Value } from "./ast.ts";

/** What the rules engine knows about the message besides its payload. */
export interface MessageContext {
  topic: string;
  /** The publisher's client id; MQTT 3.1.1 does not carry it to subscribers, so the local mirror may not know it. */
  clientId?: string;
  /** Milliseconds since the epoch at the rules engine: one value for the whole evaluation. */
  timestamp: number;
}

export type SqlFunction = (args: Value[], message: MessageContext) => Value;

/** Thrown for something valid in IoT SQL that this evaluator does not implement. */
export class IotSqlUnsupported extends Error {
  override name = "IotSqlUnsupported";
}

/** A number from a number or a numeric string, as IoT SQL converts arguments (iot-sql-data-types.html). */
export function toNumber(value: Value): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/**
 * Formats a time like Joda-Time's DateTimeFormat, for the pattern letters y M d H m s S and quoted
 * literals ('T'); other letters are not implemented. The zone is UTC, parse_time's default.
 */
export function formatTime(pattern: string, ms: number): string {
  const d = new Date(ms);
  const fields: Record<string, (count: number) => string> = {
    y: (n) => (n === 2 ? pad(d.getUTCFullYear() % 100, 2) : pad(d.getUTCFullYear(), n)),
    M: (n) => pad(d.getUTCMonth() + 1, n),
    d: (n) => pad(d.getUTCDate(), n),
    H: (n) => pad(d.getUTCHours(), n),
    m: (n) => pad(d.getUTCMinutes(), n),
    s: (n) => pad(d.getUTCSeconds(), n),
    S: (n) => pad(d.getUTCMilliseconds(), 3).slice(0, n).padEnd(n, "0"),
  };
  let out = "";
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i];
    if (c === "'") {
      const end = pattern.indexOf("'", i + 1);
      if (end < 0) throw new IotSqlUnsupported(`unterminated quote in time pattern ${pattern}`);
      out += end === i + 1 ? "'" : pattern.slice(i + 1, end);
      i = end + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let n = 1;
      while (pattern[i + n] === c) n++;
      const field = fields[c];
      if (!field) throw new IotSqlUnsupported(`time pattern letter ${c} is not implemented`);
      out += field(n);
      i += n;
    } else out += pattern[i++];
  }
  return out;
}

export const FUNCTIONS: Record<string, SqlFunction> = {
  // topic() is the whole topic, topic(n) its nth level counting from 1.
  topic: ([n], message) => {
    if (n === undefined) return message.topic;
    const level = toNumber(n);
    if (level === undefined || !Number.isInteger(level)) return undefined;
    return message.topic.split("/")[level - 1];
  },
  clientid: (_args, message) => message.clientId,
  timestamp: (_args, message) => message.timestamp,
  // get(array, index) or get(object, key); a string gives its character.
  get: ([container, key]) => {
    if (Array.isArray(container) || typeof container === "string") {
      const i = toNumber(key ?? null);
      return i !== undefined && Number.isInteger(i) && i >= 0 && i < container.length ? container[i] : undefined;
    }
    if (container && typeof container === "object" && typeof key === "string") return Object.hasOwn(container, key) ? container[key] : undefined;
    return undefined;
  },
  floor: ([x]) => {
    const n = toNumber(x);
    return n === undefined ? undefined : Math.floor(n);
  },
  isundefined: (args) => args.length === 1 && args[0] === undefined,
  // AWS: true for a JSON null only (Undefined is not null).
  isnull: (args) => args.length === 1 && args[0] === null,
  parse_time: ([pattern, time, zone]) => {
    const ms = toNumber(time);
    if (typeof pattern !== "string" || ms === undefined) return undefined;
    if (zone !== undefined && !(typeof zone === "string" && /^(UTC|Etc\/UTC|GMT)$/i.test(zone))) throw new IotSqlUnsupported(`parse_time: only UTC is implemented, got ${String(zone)}`);
    return formatTime(pattern, ms);
  },
};
