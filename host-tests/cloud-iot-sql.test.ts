// The IoT SQL evaluator (cloud/iot-sql/) against the examples of the AWS IoT SQL reference, each
// with the page it comes from (https://docs.aws.amazon.com/iot/latest/developerguide/<page>), and
// the Undefined semantics those pages describe.

import { describe, expect, test } from "vitest";
import type { Value } from "../cloud/iot-sql/ast.ts";
import { compile } from "../cloud/iot-sql/evaluate.ts";
import { IotSqlUnsupported } from "../cloud/iot-sql/functions.ts";
import { IotSqlSyntaxError } from "../cloud/iot-sql/lexer.ts";

const NOW = 1481825251155; // timestamp() example, iot-sql-functions.html#iot-function-timestamp

function run(sql: string, payload: Value, topic = "topic/subtopic") {
  return compile(sql).run(payload, { topic, clientId: "123456789012", timestamp: NOW });
}
function output(sql: string, payload: Value, topic?: string): Value {
  const outcome = run(sql, payload, topic);
  expect(outcome.matched, sql).toBe(true);
  return outcome.matched ? outcome.output : undefined;
}

describe("SELECT clause (iot-sql-select.html)", () => {
  const payload = { color: "red", temperature: 50 };
  test("SELECT * passes the payload on", () => expect(output("SELECT * FROM 'topic/subtopic'", payload)).toStrictEqual(payload));
  test("a key", () => expect(output("SELECT color FROM 'topic/subtopic'", payload)).toStrictEqual({ color: "red" }));
  test("AS renames", () => expect(output("SELECT color AS my_color FROM 'topic/subtopic'", payload)).toStrictEqual({ my_color: "red" }));
  test("several items, `as` in lower case", () =>
    expect(output("SELECT color as my_color, temperature as fahrenheit FROM 'topic/subtopic'", payload)).toStrictEqual({ my_color: "red", fahrenheit: 50 }));
  test("* with added items", () => expect(output("SELECT *, 15 as speed FROM 'topic/subtopic'", payload)).toStrictEqual({ color: "red", temperature: 50, speed: 15 }));
});

describe("WHERE clause (iot-sql-where.html, iot-sql-reference.html)", () => {
  test("a false WHERE triggers no action", () => {
    expect(run("SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'", { color: "red", temperature: 40 })).toStrictEqual({ matched: false });
  });
  test("a true WHERE selects", () => {
    expect(output("SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50", { color: "red", temperature: 100 })).toStrictEqual({ rgb: "red" });
  });
  test("an Undefined WHERE is not true: a missing field stops the rule, whichever way it is compared", () => {
    for (const where of ["pressure > 50", "pressure <= 50", "pressure = 50", "pressure <> 50", "NOT pressure > 50", "pressure > 50 OR temperature > 10"]) {
      expect(run(`SELECT * FROM 'topic/subtopic' WHERE ${where}`, { temperature: 100 }), where).toStrictEqual({ matched: false });
    }
  });
});

describe("Nested object queries (iot-sql-nested-queries.html)", () => {
  const payload = {
    e: [
      { n: "temperature", u: "Cel", t: 1234, v: 22.5 },
      { n: "light", u: "lm", t: 1235, v: 135 },
      { n: "acidity", u: "pH", t: 1235, v: 7 },
    ],
  };
  test("SELECT VALUE over an array", () => expect(output("SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'", payload, "my/topic")).toStrictEqual({ sensors: ["temperature", "light", "acidity"] }));
  test("a nested WHERE", () => expect(output("SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'", payload, "my/topic")).toStrictEqual({ temperature: [{ v: 22.5 }] }));
  test("flattened with get", () => expect(output("SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'", payload, "topic")).toStrictEqual({ temperature: 22.5 }));
  test("nothing matching gives an empty array, and get of it is Undefined", () => {
    expect(output("SELECT (SELECT v FROM e WHERE n = 'pressure') AS p, get((SELECT v FROM e WHERE n = 'pressure'), 0) AS first FROM 't'", payload, "t")).toStrictEqual({ p: [] });
  });
});

describe("Functions (iot-sql-functions.html)", () => {
  const topic = "things/myThings/thingOne";
  test("topic() and topic(n), 1-based", () => {
    expect(output("SELECT topic() AS t, topic(1) AS first, topic(3) AS third, topic(4) AS none FROM 'things/+/+'", {}, topic)).toStrictEqual({ t: topic, first: "things", third: "thingOne" });
  });
  test("clientid() and timestamp()", () => expect(output("SELECT clientid() AS c, timestamp() AS ts FROM 't'", {}, "t")).toStrictEqual({ c: "123456789012", ts: NOW }));
  test("get on an array, an object and a string (0-based, as the page's table says)", () => {
    expect(output(`SELECT get(["a", "b", "c"], 1) AS a, get({"a":"b"}, "a") AS o, get("abc", 1) AS s, get(list, 5) AS out FROM 't'`, { x: { a: "b" }, list: [1] }, "t")).toStrictEqual({ a: "b", o: "b", s: "b" });
  });
  test("get for keys that dot notation cannot reach (iot-sql-json.html)", () => {
    const payload = { mydata: { item2: { "0": { "my-key": "myValue" } } } };
    expect(run(`SELECT * from 'iot/rules' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue"`, payload, "iot/rules").matched).toBe(true);
  });
  test("floor", () => expect(output("SELECT floor(1.2) AS a, floor(-1.2) AS b, floor('3.7') AS c, floor(x) AS d FROM 't'", { x: [1] }, "t")).toStrictEqual({ a: 1, b: -2, c: 3 }));
  test("isUndefined", () => {
    expect(output("SELECT isUndefined(5) AS five, isUndefined(floor([1,2,3])) AS floored, isUndefined(missing) AS missing, isUndefined(n) AS n FROM 't'", { n: null }, "t")).toStrictEqual({
      five: false,
      floored: true,
      missing: true,
      n: false,
    });
  });
  test("parse_time in UTC: the page's example instant (100000000 ms, 21:46:40 CST) is 03:46:40 the next day in UTC", () => {
    expect(output(`SELECT parse_time("yyyy.MM.dd 'at' HH:mm:ss", 100000000) AS ts, parse_time('yyyy-MM-dd', timestamp(), 'UTC') AS day FROM 'A/B'`, {}, "A/B")).toStrictEqual({
      ts: "1970.01.02 at 03:46:40",
      day: "2016-12-15",
    });
  });
  test("what this evaluator does not implement is an error, not a wrong answer", () => {
    expect(() => run(`SELECT parse_time("yyyy.MM.dd G 'at' HH:mm:ss z", 100000000, 'America/Belize') AS ts FROM 'A/B'`, {}, "A/B")).toThrow(IotSqlUnsupported);
    expect(() => run(`SELECT parse_time("yyyy G", 100000000) AS ts FROM 'A/B'`, {}, "A/B")).toThrow(IotSqlUnsupported);
    expect(() => compile("SELECT md5(deviceid) AS hashed_id FROM 'topic/#'")).toThrow(/md5\(\) is not supported/);
    expect(() => compile("SELECT CASE x WHEN 1 THEN 2 END AS y FROM 't'")).toThrow(IotSqlSyntaxError);
  });
});

describe("Operators and Undefined (iot-sql-operators.html, iot-sql-data-types.html)", () => {
  test("a SELECT of an Undefined field omits its key; Null is a value", () => {
    expect(output("SELECT foo, bar FROM 't'", { foo: null }, "t")).toStrictEqual({ foo: null });
  });
  test("comparisons convert numeric strings to numbers; others are Undefined", () => {
    expect(output("SELECT 5 > '4' AS a, '10' > '9' AS b, 'b' > 'a' AS c, true > 1 AS d, 2 >= 2 AS e, 1 < 2 AS f, 2 <= 1 AS g FROM 't'", {}, "t")).toStrictEqual({ a: true, b: true, e: true, f: true, g: false });
  });
  test("= and <>: mismatched types are unequal, Undefined stays Undefined, objects ignore key order", () => {
    expect(output(`SELECT 1 = '1' AS a, 1 <> '1' AS b, x = y AS c, 1 = 1.0 AS d, 'a' = 'a' AS e, [1,2] = z AS f, missing = 1 AS g, missing <> 1 AS h FROM 't'`, { x: { a: 1, b: 2 }, y: { b: 2, a: 1 }, z: [1, 2] }, "t")).toStrictEqual({
      a: false,
      b: true,
      c: true,
      d: true,
      e: true,
      f: true,
    });
  });
  test("AND, OR, NOT take booleans or 'true'/'false' strings; anything else is Undefined", () => {
    expect(output("SELECT true AND 'TRUE' AS a, false OR 'false' AS b, NOT 'true' AS c, NOT 1 AS d, missing AND true AS e, 1 OR true AS f FROM 't'", {}, "t")).toStrictEqual({ a: true, b: false, c: false });
  });
  test("arithmetic: Int op Int is an Int, a string operand of + concatenates", () => {
    expect(output("SELECT 7 / 2 AS a, 7.0 / 2.5 AS b, '7' / 2 AS c, 2 + 3 AS d, 'a' + 1 AS e, 1 + 'a' AS f, 5 - '2' AS g, 7 % 4 AS h, 1 / 0 AS i, -x AS j, missing + 1 AS k FROM 't'", { x: 4 }, "t")).toStrictEqual({
      a: 3,
      b: 2.8,
      c: 3.5,
      d: 5,
      e: "a1",
      f: "1a",
      g: 3,
      h: 3,
      j: -4,
    });
  });
  test("paths: a.b.c and a[0] reach into objects and arrays; a miss anywhere is Undefined", () => {
    expect(output("SELECT a.b.c AS deep, list[1] AS second, list[9] AS none, a.x.y AS miss, a.b AS b FROM 't'", { a: { b: { c: 3 } }, list: ["p", "q"] }, "t")).toStrictEqual({ deep: 3, second: "q", b: { c: 3 } });
  });
  test("SELECT VALUE gives the value itself", () => expect(output("SELECT VALUE readings FROM 't'", { readings: [1, 2] }, "t")).toStrictEqual([1, 2]));
});

describe("Syntax", () => {
  test("keywords in any case, both quote styles, backslash escapes", () => {
    expect(output(`select "it\\"s" as q, 'x' AS y from 't' where 1 = 1`, {}, "t")).toStrictEqual({ q: 'it"s', y: "x" });
  });
  test("errors say where", () => {
    expect(() => compile("SELECT FROM 't'")).toThrow(/expected a name at 7/);
    expect(() => compile("SELECT a FROM t")).toThrow(/quoted topic filter/);
    expect(() => compile("SELECT a FROM 't' WHERE")).toThrow(IotSqlSyntaxError);
    expect(() => compile("SELECT a + 1 FROM 't'")).toThrow(/name this expression with AS/);
    expect(() => compile("SELECT a FROM 't' extra")).toThrow(/unexpected text/);
    expect(() => compile("SELECT 'open FROM 't'")).toThrow(/unterminated string/);
  });
  test("the topic filter of FROM is the compiled rule's filter", () => expect(compile("SELECT * FROM 'factory/+/+/+/+/telemetry'").topicFilter).toBe("factory/+/+/+/+/telemetry"));
});
