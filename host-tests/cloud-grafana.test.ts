// The Grafana dashboard (cloud/grafana/iiot-node.json) against the local mirror's schema: every SQL
// in it (panels and the device variable) names only tables and columns of cloud/local/schema.ts
// and only JSON keys the payloads have, and, with Grafana's macros expanded as Grafana expands them
// for PostgreSQL, parses and runs on PGlite with that schema, returning rows from data stored by
// the mirror's own sinks.

import { compactReadings } from "../cloud/expand-readings.ts";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openDatabase, type Database } from "../cloud/local/database.ts";
import { CHANNELS } from "../cloud/local/dashboard/api.ts";
import { SCHEMA_SQL } from "../cloud/local/schema.ts";
import { databaseSinks } from "../cloud/local/sinks.ts";
import { ruleDefinitions } from "../cloud/rules.ts";

const file = fileURLToPath(new URL("../cloud/grafana/iiot-node.json", import.meta.url));
const dashboard = JSON.parse(readFileSync(file, "utf8")) as {
  uid: string;
  title: string;
  __inputs: { name: string; pluginId: string }[];
  templating: { list: { name: string; query: string; datasource: { type: string; uid: string } }[] };
  panels: { id: number; type: string; title: string; datasource: { type: string; uid: string }; targets: { refId: string; rawSql: string; rawQuery: boolean; format: string; datasource: { type: string; uid: string } }[] }[];
};
const DATASOURCE = { type: "grafana-postgresql-datasource", uid: "${DS_IIOT_PG}" };
const THING = "press-7";

/** Tables and their columns, read from the schema's CREATE TABLE statements. */
function schemaTables(sql: string): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*?)\n\);/g)) {
    const columns = new Set<string>();
    for (const line of m[2].split("\n")) {
      const c = /^\s*(\w+)\s+(text|bigint|integer|timestamptz|jsonb|double precision)\b/.exec(line);
      if (c) columns.add(c[1]);
    }
    tables.set(m[1], columns);
  }
  return tables;
}
const TABLES = schemaTables(SCHEMA_SQL);

/** JSON keys a query may read from each table's `data`: the readings' channels, the status and alarm payloads' fields. */
const JSON_KEYS: Record<string, Set<string>> = {
  readings: new Set(CHANNELS.flatMap((c) => [c.sensor, c.quantity]).concat(["quality", "reason", "seq", "ts"])),
  device_status: new Set(["state", "device", "boot", "firmware", "reason", "uptime_s", "log_depth", "dropped", "reconnects", "last_error"]),
  alarms: new Set(["device", "seq", "ts", "channel", "state", "value", "limit"]),
};

/** Words a query may use besides the schema's names and its own aliases. */
const SQL_WORDS = new Set(
  ("select distinct on from where and or not as order by desc asc limit group having count max min avg sum coalesce float8 bigint text " +
    "null is in between with join left using timestamptz interval true false now").split(" "),
);

interface Query {
  where: string;
  sql: string;
  format?: string;
}
const queries: Query[] = [
  ...dashboard.templating.list.map((v) => ({ where: `variable ${v.name}`, sql: v.query })),
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel ${p.id} "${p.title}" ${t.refId}`, sql: t.rawSql, format: t.format }))),
];

const FROM = "2026-11-20T00:00:00Z";
const TO = "2026-11-21T00:00:00Z";
/** Grafana's PostgreSQL macros and the dashboard's variable, expanded as Grafana does. */
function expand(sql: string): string {
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, `$1 BETWEEN '${FROM}' AND '${TO}'`)
    .replace(/\$__timeFrom\(\)/g, `'${FROM}'`)
    .replace(/\$__timeTo\(\)/g, `'${TO}'`)
    .replaceAll("$device", THING);
}

/** Names the query uses that are neither the schema's, its own aliases, nor SQL; and JSON keys read from `data` that no payload has. */
function unknownNames(sql: string): { names: string[]; tables: string[]; jsonKeys: string[] } {
  const tables = [...sql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)/gi)].map((m) => m[1]).filter((t) => !/^select$/i.test(t));
  const used = tables.filter((t) => TABLES.has(t));
  const columns = new Set(used.flatMap((t) => [...TABLES.get(t)!]));
  const aliases = new Set([...sql.matchAll(/\bAS\s+(\w+)/gi)].map((m) => m[1].toLowerCase()));
  const jsonKeys = [...sql.matchAll(/->>?\s*'([^']*)'/g)].map((m) => m[1]).filter((k) => !used.some((t) => JSON_KEYS[t]?.has(k)));
  const bare = expand(sql)
    .replace(/'[^']*'/g, " ") // string literals (JSON keys, times, the device)
    .replace(/"[^"]*"/g, " ") // quoted aliases
    .replace(/::\s*\w+/g, " "); // casts
  const names = [...new Set([...bare.matchAll(/\b[A-Za-z_]\w*\b/g)].map((m) => m[0]))].filter((w) => {
    const lower = w.toLowerCase();
    return !SQL_WORDS.has(lower) && !columns.has(w) && !TABLES.has(w) && !aliases.has(lower);
  });
  return { names, tables: tables.filter((t) => !TABLES.has(t) && !aliases.has(t.toLowerCase())), jsonKeys };
}

describe("cloud/grafana/iiot-node.json", () => {
  test("is a Grafana dashboard on one PostgreSQL data source, with a device variable", () => {
    expect(dashboard.uid).toBe("iiot-node-mirror");
    expect(dashboard.__inputs.map((i) => [i.name, i.pluginId])).toStrictEqual([["DS_IIOT_PG", DATASOURCE.type]]);
    expect(dashboard.templating.list.map((v) => v.name)).toStrictEqual(["device"]);
    expect(dashboard.templating.list[0].datasource).toStrictEqual(DATASOURCE);
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const p of dashboard.panels) {
      expect(p.datasource, p.title).toStrictEqual(DATASOURCE);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.datasource, p.title).toStrictEqual(DATASOURCE);
        expect([t.rawQuery, ["time_series", "table"].includes(t.format)], p.title).toStrictEqual([true, true]);
        // Every panel but the device list filters by the chosen device.
        expect(t.rawSql, p.title).toContain("device = '$device'");
      }
    }
    // Every measurement of the reference device has a panel.
    const sqls = queries.map((q) => q.sql).join("\n");
    for (const c of CHANNELS) expect(sqls, c.key).toContain(`(data->'${c.sensor}'->>'${c.quantity}')::float8 AS "${c.key}"`);
  });

  test("every query names only the schema's tables and columns and the payloads' JSON keys", () => {
    expect([...TABLES.keys()].sort()).toStrictEqual(["alarms", "certificate_deactivations", "device_status", "readings", "threshold_alerts"]);
    expect(TABLES.get("readings")).toStrictEqual(new Set(["device", "seq", "ts", "published_boot", "data", "received_at"]));
    for (const q of queries) expect(unknownNames(q.sql), `${q.where}:\n${q.sql}`).toStrictEqual({ names: [], tables: [], jsonKeys: [] });
  });

  test("the name check finds a column, a table and a JSON key the schema does not have", () => {
    expect(unknownNames("SELECT ts, temp FROM readings WHERE device = '$device'").names).toStrictEqual(["temp"]);
    expect(unknownNames("SELECT ts FROM reading WHERE device = '$device'").tables).toStrictEqual(["reading"]);
    expect(unknownNames("SELECT (data->'sht31'->>'temperature')::float8 AS t FROM readings").jsonKeys).toStrictEqual(["sht31"]);
  });

  describe("on PGlite with the schema", () => {
    let db: Database;
    beforeAll(async () => {
      db = await openDatabase();
      // Rows as the mirror's sinks store them: a batch as the firmware sends it, heartbeats, alarms, a threshold alert.
      const sinks = databaseSinks(db);
      const rule = (name: string) => ruleDefinitions().find((r) => r.name === name)!;
      const topic = `factory/chicago/building-a/line-3/${THING}/telemetry`;
      const at = Date.parse("2026-11-20T08:00:00Z");
      const readings = [0, 1, 2].map((seq) => ({
        seq, ts: at + seq * 1000,
        sht3x: { temperature: 21.33 + seq, humidity: 46.19 }, bme280: { pressure: 101181.2 },
        max31865: { temperature: 84 + seq }, adxl345: { rms_x: 1.04, rms_y: 0.627, rms_z: 0.564, peak: 1.456 },
      }));
      await sinks["telemetry-table"]({ device: THING, boot: 1, first_seq: 0, ...compactReadings(readings) } as never, { rule: rule("store"), topic, receivedAt: at + 3000 });
      await sinks["alert-topic"]({ device: THING, channel: "max31865.temperature", limit_c: 85, over_limit: [{ seq: 2, ts: at + 2000, temperature: 86 }] }, { rule: rule("alert_threshold"), topic, receivedAt: at + 3000 });
      for (const [i, state] of ["online", "online", "offline"].entries()) {
        const status = state === "online"
          ? { state, device: THING, boot: 1, firmware: "0.3.0", uptime_s: i * 60, log_depth: 3 - i, dropped: 0, reconnects: 0 }
          : { state, device: THING, boot: 1, firmware: "0.3.0", reason: "stopped" };
        await sinks["status-table"](status, { rule: rule("status"), topic, receivedAt: at + i * 60_000 });
      }
      for (const [seq, state] of [[1, "raised"], [2, "cleared"], [3, "raised"]] as const) {
        await sinks["alert-topic"]({ device: THING, seq, ts: at + seq * 1000, channel: "max31865.temperature", state, value: 88, limit: 85 }, { rule: rule("alert"), topic, receivedAt: at + seq * 1000 });
      }
    });
    afterAll(async () => void (await db?.close()));

    test.each(queries.map((q) => [q.where, q] as const))("%s runs and returns rows", async (_, q) => {
      const rows = await db.query<Record<string, unknown>>(expand(q.sql));
      expect(rows.length, q.sql).toBeGreaterThan(0);
      if (q.format === "time_series") {
        // Grafana needs a time column; every value column holds numbers, not only NULLs (a wrong JSON key would).
        expect(rows[0].time, q.sql).toBeInstanceOf(Date);
        for (const column of Object.keys(rows[0]).filter((c) => c !== "time")) {
          expect(rows.some((r) => typeof r[column] === "number"), `${q.where}: column ${column}`).toBe(true);
        }
      } else {
        for (const column of Object.keys(rows[0])) expect(rows.some((r) => r[column] !== null), `${q.where}: column ${column}`).toBe(true);
      }
    });
  });
});
