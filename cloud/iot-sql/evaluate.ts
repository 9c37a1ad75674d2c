// Evaluates a parsed IoT SQL statement against one message, with Undefined and the operators as AWS
// documents them (https://docs.aws.amazon.com/iot/latest/developerguide/ iot-sql-data-types.html,
// iot-sql-operators.html, iot-sql-where.html, iot-sql-nested-queries.html):
// - a missing field is Undefined; SELECTing it omits the key from the output;
// - comparisons, arithmetic and AND/OR/NOT with an operand they cannot use give Undefined;
// - WHERE passes only when it is true: Undefined and false both stop the rule.

import type { BinaryOp, Expr, Query, Value } from "./ast.ts";
import { FUNCTIONS, toNumber, type MessageContext } from "./functions.ts";
import { parse } from "./parser.ts";

export type RuleOutcome = { matched: false } | { matched: true; output: Value };

interface Scope {
  /** The current document: the payload, or one element of the array a nested SELECT runs over. */
  doc: Value;
  message: MessageContext;
}

function isObject(v: Value): v is { [key: string]: Value } {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** AND, OR and NOT take booleans or the strings "true"/"false" (any case). */
function toBoolean(v: Value): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  return undefined;
}

function sameValue(a: Value, b: Value): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return a === b;
}

function isNumber(v: Value): v is number {
  return typeof v === "number";
}

/** `=` and `<>`: numbers, strings, arrays (in order), objects (any key order); mismatched types are unequal. */
function equality(op: "=" | "<>", a: Value, b: Value): Value {
  if (a === undefined || b === undefined) return undefined;
  const equal = sameValue(a, b);
  return op === "=" ? equal : !equal;
}

/** `<`, `<=`, `>`, `>=`: both sides converted to numbers (numeric strings too); anything else is Undefined. */
function ordering(op: "<" | "<=" | ">" | ">=", a: Value, b: Value): Value {
  const x = toNumber(a);
  const y = toNumber(b);
  if (x === undefined || y === undefined) return undefined;
  if (op === "<") return x < y;
  if (op === "<=") return x <= y;
  if (op === ">") return x > y;
  return x >= y;
}

/** As a string for `+` concatenation. */
function asText(v: Value): string {
  return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
}

function arithmetic(op: "+" | "-" | "*" | "/" | "%", a: Value, b: Value): Value {
  if (a === undefined || b === undefined) return undefined;
  // "+" with a string operand concatenates.
  if (op === "+" && (typeof a === "string" || typeof b === "string")) return asText(a) + asText(b);
  if (op === "+" && !(isNumber(a) && isNumber(b))) return undefined;
  const x = toNumber(a);
  const y = toNumber(b);
  if (x === undefined || y === undefined) return undefined;
  // Int op Int is an Int; with a Decimal (or a string) the result is a Decimal.
  const ints = isNumber(a) && isNumber(b) && Number.isInteger(x) && Number.isInteger(y);
  switch (op) {
    case "+":
      return x + y;
    case "-":
      return x - y;
    case "*":
      return x * y;
    case "/":
      if (y === 0) return undefined;
      return ints ? Math.trunc(x / y) : x / y;
    default:
      return y === 0 ? undefined : x % y;
  }
}

function evaluate(expr: Expr, scope: Scope): Value {
  switch (expr.type) {
    case "literal":
      return expr.value;
    case "array":
      // An Undefined element has no JSON form: it is left out, as in an output object.
      return expr.items.map((item) => evaluate(item, scope)).filter((v) => v !== undefined);
    case "object": {
      const out: { [key: string]: Value } = {};
      for (const [key, item] of expr.entries) {
        const v = evaluate(item, scope);
        if (v !== undefined) out[key] = v;
      }
      return out;
    }
    case "field":
      return isObject(scope.doc) && Object.hasOwn(scope.doc, expr.name) ? scope.doc[expr.name] : undefined;
    case "member": {
      const object = evaluate(expr.object, scope);
      return isObject(object) && Object.hasOwn(object, expr.key) ? object[expr.key] : undefined;
    }
    case "index": {
      const array = evaluate(expr.object, scope);
      const i = toNumber(evaluate(expr.index, scope) ?? null);
      return Array.isArray(array) && i !== undefined && Number.isInteger(i) && i >= 0 && i < array.length ? array[i] : undefined;
    }
    case "call":
      return FUNCTIONS[expr.name](
        expr.args.map((a) => evaluate(a, scope)),
        scope.message,
      );
    case "not": {
      const b = toBoolean(evaluate(expr.operand, scope));
      return b === undefined ? undefined : !b;
    }
    case "negate": {
      const n = toNumber(evaluate(expr.operand, scope));
      return n === undefined ? undefined : -n;
    }
    case "subquery":
      return nested(expr.query, scope);
    case "binary": {
      const left = evaluate(expr.left, scope);
      const right = evaluate(expr.right, scope);
      if (expr.op === "AND" || expr.op === "OR") {
        const a = toBoolean(left);
        const b = toBoolean(right);
        if (a === undefined || b === undefined) return undefined;
        return expr.op === "AND" ? a && b : a || b;
      }
      if (expr.op === "=" || expr.op === "<>") return equality(expr.op, left, right);
      if (expr.op === "<" || expr.op === "<=" || expr.op === ">" || expr.op === ">=") return ordering(expr.op, left, right);
      return arithmetic(expr.op, left, right);
    }
  }
}

/** The SELECT list applied to one document: an object without the Undefined keys, or SELECT VALUE's value. */
function project(query: Query, scope: Scope): Value {
  if (query.value) {
    const item = query.items[0];
    return item.type === "expr" ? evaluate(item.expr, scope) : undefined;
  }
  const out: { [key: string]: Value } = {};
  for (const item of query.items) {
    if (item.type === "star") {
      if (isObject(scope.doc)) Object.assign(out, scope.doc);
      continue;
    }
    const v = evaluate(item.expr, scope);
    if (v !== undefined) out[item.name] = v;
  }
  return out;
}

/** A nested SELECT: runs over the elements of an array in the current document, giving an array. */
function nested(query: Query, outer: Scope): Value {
  if (query.from.type !== "expr") throw new Error("a nested SELECT reads from an expression");
  const source = evaluate(query.from.expr, outer);
  const elements = Array.isArray(source) ? source : source === undefined ? [] : [source];
  const results: Value[] = [];
  for (const doc of elements) {
    const scope = { doc, message: outer.message };
    if (query.where && evaluate(query.where, scope) !== true) continue;
    const v = project(query, scope);
    if (v !== undefined) results.push(v);
  }
  return results;
}

export interface CompiledRule {
  readonly sql: string;
  readonly topicFilter: string;
  /** Runs the statement on a message; the payload is the parsed JSON (Undefined when it is not JSON). */
  run(payload: Value, message: MessageContext): RuleOutcome;
}

export function compile(sql: string): CompiledRule {
  const query = parse(sql);
  if (query.from.type !== "topic") throw new Error("a rule's FROM is a topic filter");
  return {
    sql,
    topicFilter: query.from.filter,
    run(payload, message) {
      const scope = { doc: payload, message };
      // WHERE is evaluated first, and only a true result carries on to SELECT.
      if (query.where && evaluate(query.where, scope) !== true) return { matched: false };
      return { matched: true, output: project(query, scope) };
    },
  };
}

/** Parses a payload as the rules engine does: JSON, or Undefined when it is not JSON. */
export function parsePayload(bytes: Uint8Array | string): Value {
  try {
    return JSON.parse(typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8")) as Value;
  } catch {
    return undefined;
  }
}
