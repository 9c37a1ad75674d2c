// The local mirror end to end: the unchanged firmware publishes to Mosquitto (generated config,
// per-device ACL), the rules runner applies the rule definitions through the IoT SQL evaluator,
// and the sinks store into PostgreSQL (the real server and PGlite), JSON-lines archive files and
// a dead-letter file. Resends store nothing twice; failures become dead letters with the reason;
// messages published while the runner is down arrive when it comes back (persistent session).

import { compactReadings, expandReadings } from "../cloud/expand-readings.ts";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { traceSink } from "../host/moddable/runtime.ts";
import { openDatabase, type Database } from "../cloud/local/database.ts";
import { deadLetterFile, type DeadLetter } from "../cloud/local/dead-letters.ts";
import { startMosquitto, type MosquittoProcess } from "../cloud/local/mosquitto-process.ts";
import { RULES_RUNNER_IDENTITY, startRulesRunner, type RulesRunner } from "../cloud/local/rules-runner.ts";
import { archiveSink, databaseSinks, type Sinks } from "../cloud/local/sinks.ts";
import { PROCESS_TEMPERATURE_LIMIT_C, ruleDefinitions } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT } from "../cloud/topics.ts";
import { captureFirmwareMessages } from "./support/firmware-capture.ts";
import { freePort } from "./support/mosquitto.ts";
import { devPki, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const ROOT = `factory/chicago/building-a/line-3/${THING}/`;
const rules = ruleDefinitions();
const PG_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const firmwareLog: string[] = [];
let pki: Pki;

/** Why the real server cannot be used here, or undefined when it can. */
async function postgresUnavailable(): Promise<string | undefined> {
  try {
    const db = await openDatabase({ url: PG_URL, schema: "iiot_probe" });
    await db.query("DROP SCHEMA iiot_probe CASCADE");
    await db.close();
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${PG_URL}: ${(error as Error).message}`;
  }
}
// Not skipped when missing: .ci/run installs and starts PostgreSQL, and a user's run should say what is wrong.
const pgMissing = await postgresUnavailable();

beforeAll(() => {
  pki = devPki(THING, RULES_RUNNER_IDENTITY);
  traceSink.write = (text) => void firmwareLog.push(text);
});
afterAll(() => {
  traceSink.write = (text) => void process.stdout.write(text);
});

interface Mirror {
  broker: MosquittoProcess;
  db: Database;
  out: string;
  runner: RulesRunner;
  startRunner(): Promise<RulesRunner>;
  deadLetters(): DeadLetter[];
  archive(kind: string): { date: string; records: Record<string, unknown>[] }[];
  publishAs(thing: string, messages: { topic: string; payload: Buffer | string }[]): Promise<void>;
}

/** Mosquitto, a database, the rules runner; everything closed when `body` ends, passed or failed. */
async function withMirror(backend: "pglite" | "postgres", body: (m: Mirror) => Promise<void>, wrapSinks: (sinks: Sinks) => Sinks = (s) => s): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), "iiot-local-mirror-"));
  const schema = `iiot_test_${process.pid}_${Date.now()}`;
  const broker = await startMosquitto({
    port: await freePort(),
    certsDir: pki.dir,
    dataDir: join(out, "mosquitto"),
    layout: DEFAULT_LAYOUT,
    rules,
    rulesRunner: RULES_RUNNER_IDENTITY,
  });
  let db: Database | undefined;
  const runners: RulesRunner[] = [];
  try {
    const database = (db = await openDatabase(backend === "postgres" ? { url: PG_URL, schema } : {}));
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const startRunner = async () => {
      const runner = await startRulesRunner({
        url,
        tls: pki.tlsOptions(RULES_RUNNER_IDENTITY),
        rules,
        sinks: wrapSinks({ ...databaseSinks(database), "archive-stream": archiveSink(out) }),
        deadLetters: deadLetterFile(join(out, "dead-letters.jsonl")),
      });
      runners.push(runner);
      return runner;
    };
    const mirror: Mirror = {
      broker,
      db: database,
      out,
      runner: await startRunner(),
      startRunner,
      deadLetters: () => {
        const file = join(out, "dead-letters.jsonl");
        return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as DeadLetter) : [];
      },
      archive: (kind) => {
        const dir = join(out, "archive", `kind=${kind}`);
        if (!existsSync(dir)) return [];
        return readdirSync(dir).sort().map((d) => ({
          date: d.replace(/^event_date=/, ""),
          records: readFileSync(join(dir, d, "records.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>),
        }));
      },
      async publishAs(thing, messages) {
        const client = await mqtt.connectAsync(url, { ...pki.tlsOptions(thing), clientId: thing, servername: "localhost", reconnectPeriod: 0, connectTimeout: 5000 });
        try {
          for (const m of messages) await client.publishAsync(m.topic, m.payload, { qos: 1 });
        } finally {
          await client.endAsync();
        }
      },
    };
    await body(mirror);
  } finally {
    for (const r of runners) await r.close();
    if (db) {
      if (db.kind === "postgres") await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.close();
    }
    await broker.stop();
  }
}

type Reading = { seq: number; ts: number; max31865: { temperature?: number; quality?: string } };
type Batch = { device: string; readings: Reading[] };

/** A telemetry batch in payload schema 1, as src/telemetry/batch.ts writes it. */
function v1Batch(boot: number, readings: Reading[]) {
  const first = readings[0];
  const last = readings[readings.length - 1];
  return { schema: 1, device: THING, boot, first_seq: first.seq, last_seq: last.seq, count: readings.length, first_ts: first.ts, last_ts: last.ts, ...compactReadings(readings as never) };
}

for (const backend of ["pglite", "postgres"] as const) {
  describe(`${backend}`, () => {
    test(
      "the firmware's messages through Mosquitto and the rules: one row per reading, threshold alerts, status, the archive by event date; a resend stores nothing twice",
      { timeout: 60_000 },
      async () => {
        if (backend === "postgres" && pgMissing) throw new Error(`${pgMissing} (set DATABASE_URL, or start the server: .ci/run does)`);
        await withMirror(backend, async (m) => {
          const captured = await captureFirmwareMessages({ port: m.broker.port, pki, thing: THING, subscriber: RULES_RUNNER_IDENTITY, clientId: `${RULES_RUNNER_IDENTITY}-capture`, layout: DEFAULT_LAYOUT });
          await until(() => m.runner.stats.messages >= captured.messages.length, "the runner took every message", 10_000);
          await m.runner.idle();
          expect(m.db.kind).toBe(backend);
          expect(m.deadLetters(), "no dead letters").toStrictEqual([]);

          const batches = captured.messages.filter((x) => x.topic === `${ROOT}telemetry`).map((x) => JSON.parse(x.payload.toString()) as Batch);
          const sent = batches.flatMap((b) => expandReadings(b)) as unknown as Reading[];
          const rows = await m.db.query<{ seq: number; ts: Date; data: Reading }>("SELECT seq::float8 AS seq, ts, data FROM readings WHERE device = $1 ORDER BY seq", [THING]);
          // Alarm records share the log's sequence numbers with the readings.
          const alarmSeqs = new Set(captured.messages.filter((x) => x.topic === `${ROOT}alarm`).map((x) => (JSON.parse(x.payload.toString()) as { seq: number }).seq));
          const readingSeqs = Array.from({ length: captured.stats.sampled + alarmSeqs.size }, (_, i) => i).filter((q) => !alarmSeqs.has(q));
          expect(rows.map((r) => r.seq), `one row per reading\n${firmwareLog.join("")}`).toStrictEqual(readingSeqs);
          for (const row of rows) {
            const reading = sent.find((r) => r.seq === row.seq)!;
            expect(row.data).toStrictEqual(reading);
            expect(row.ts.getTime()).toBe(reading.ts);
          }

          const hot = sent.filter((r) => r.max31865.quality === undefined && r.max31865.temperature! > PROCESS_TEMPERATURE_LIMIT_C).map((r) => r.seq);
          expect(hot.length > 0).toBe(true);
          const alerts = await m.db.query<{ seq: number; temperature: number }>("SELECT seq::float8 AS seq, temperature FROM threshold_alerts WHERE device = $1 ORDER BY seq", [THING]);
          expect(alerts.map((a) => a.seq)).toStrictEqual(hot);

          const status = await m.db.query<{ state: string }>("SELECT state FROM device_status WHERE device = $1 ORDER BY received_at", [THING]);
          expect(status.map((s) => s.state)).toStrictEqual(["online", "offline"]);

          // The archive keeps every batch as sent, in the folder of its first reading's date.
          const archived = m.archive("telemetry");
          expect(archived.flatMap((p) => p.records).length).toBe(batches.length);
          for (const p of archived) for (const r of p.records) expect(new Date((r as unknown as Batch).readings[0].ts).toISOString().slice(0, 10)).toBe(p.date);
          expect(m.archive("status").flatMap((p) => p.records).map((r) => r.state)).toStrictEqual(["online", "offline"]);

          // The device sends every batch again, as after a restart: no reading is stored twice.
          const before = m.runner.stats.messages;
          await m.publishAs(THING, captured.messages.filter((x) => x.topic === `${ROOT}telemetry`));
          await until(() => m.runner.stats.messages >= before + batches.length, "the resent batches", 10_000);
          await m.runner.idle();
          const [{ n }] = await m.db.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings");
          expect(n).toBe(captured.stats.sampled);
          expect(m.deadLetters(), "a resend is no failure").toStrictEqual([]);
          const [{ a }] = await m.db.query<{ a: number }>("SELECT count(*)::float8 AS a FROM threshold_alerts");
          expect(a).toBe(hot.length);
        });
      },
    );
  });
}

describe("pglite", () => {
  test("what no sink can take becomes a dead letter with the rule, the reason and the original payload", { timeout: 30_000 }, async () => {
    await withMirror("pglite", async (m) => {
      const malformed = JSON.stringify({ device: THING, boot: 1, readings: "not a list" });
      await m.publishAs(THING, [
        { topic: `${ROOT}telemetry`, payload: malformed },
        { topic: `${ROOT}telemetry`, payload: "not json" },
      ]);
      await until(() => m.runner.stats.messages >= 2, "both messages", 10_000);
      await m.runner.idle();
      const letters = m.deadLetters();
      expect(letters.map((l) => [l.ruleName, l.failures[0].failedAction, Buffer.from(l.base64OriginalPayload, "base64").toString()])).toStrictEqual([
        ["store", "telemetry-table", malformed],
        ["archive_telemetry", "archive-stream", malformed],
        ["archive_telemetry", "archive-stream", "not json"],
      ]);
      expect(letters[0].failures[0].errorMessage).toMatch(/telemetry: (channels \(the legend\)|readings) is missing/);
      expect(letters[1].failures[0].errorMessage).toMatch(/no usable partition field event_date/);
      expect(letters.every((l) => l.topic === `${ROOT}telemetry`)).toBe(true);
      expect(m.runner.stats.deadLetters).toBe(3);
    });
  });

  test("messages published while the runner is down are processed when it comes back (persistent session, QoS 1)", { timeout: 30_000 }, async () => {
    await withMirror("pglite", async (m) => {
      await m.runner.close();
      const ts = Date.UTC(2026, 10, 20, 8, 0, 0);
      const batch = v1Batch(3, [{ seq: 500, ts, max31865: { temperature: 61.5 } }, { seq: 501, ts: ts + 1000, max31865: { temperature: 86.5 } }]);
      await m.publishAs(THING, [{ topic: `${ROOT}telemetry`, payload: JSON.stringify(batch) }]);
      const runner = await m.startRunner();
      await until(() => runner.stats.messages >= 1, "the queued message", 10_000);
      await runner.idle();
      const rows = await m.db.query<{ seq: number }>("SELECT seq::float8 AS seq FROM readings ORDER BY seq");
      expect(rows.map((r) => r.seq)).toStrictEqual([500, 501]);
      const alerts = await m.db.query<{ seq: number; temperature: number }>("SELECT seq::float8 AS seq, temperature FROM threshold_alerts");
      expect(alerts).toStrictEqual([{ seq: 501, temperature: 86.5 }]);
      expect(m.archive("telemetry").map((p) => p.date)).toStrictEqual(["2026-11-20"]);
    });
  });

  test("a runner that fell behind by more than Mosquitto's default queue (1,000 messages) still gets every message", { timeout: 60_000 }, async () => {
    await withMirror("pglite", async (m) => {
      await m.runner.close();
      const ts = Date.UTC(2026, 10, 23, 6, 0, 0);
      const count = 1500;
      await m.publishAs(THING, Array.from({ length: count }, (_, seq) => ({
        topic: `${ROOT}telemetry`,
        payload: JSON.stringify(v1Batch(5, [{ seq, ts: ts + seq * 1000, max31865: { temperature: 60 } }])),
      })));
      const runner = await m.startRunner();
      await until(() => runner.stats.messages >= count, `${count} queued messages (${runner.stats.messages} so far)\n${m.broker.log().split("\n").filter((l) => /drop/i.test(l)).join("\n")}`, 20_000);
      await runner.idle();
      const [{ n }] = await m.db.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings");
      expect(n).toBe(count);
    });
  });

  test("a runner that dies before its sinks finish gets the message again, and the store keeps it once", { timeout: 30_000 }, async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    let entered!: () => void;
    const inSink = new Promise<void>((r) => (entered = r));
    const slowStore = (sinks: Sinks): Sinks => ({
      ...sinks,
      "telemetry-table": async (output, context) => {
        if (calls++ === 0) {
          entered();
          await gate; // the first runner is killed while it waits here
        }
        await sinks["telemetry-table"](output, context);
      },
    });
    await withMirror("pglite", async (m) => {
      const batch = v1Batch(4, [{ seq: 900, ts: Date.UTC(2026, 10, 22), max31865: { temperature: 60 } }]);
      await m.publishAs(THING, [{ topic: `${ROOT}telemetry`, payload: JSON.stringify(batch) }]);
      await inSink;
      await m.runner.kill();
      release();
      const second = await m.startRunner();
      await until(() => second.stats.messages >= 1, "the unacknowledged message again", 10_000);
      await second.idle();
      expect(calls).toBe(2);
      const rows = await m.db.query<{ seq: number }>("SELECT seq::float8 AS seq FROM readings");
      expect(rows).toStrictEqual([{ seq: 900 }]);
    }, slowStore);
  });

  test("an alarm as the firmware sends it is stored once, keyed by device and seq", { timeout: 30_000 }, async () => {
    await withMirror("pglite", async (m) => {
      const alarm = { schema: 1, device: THING, boot: 2, seq: 77, ts: Date.UTC(2026, 10, 21, 9, 30), channel: "max31865.temperature", alarm: "high", state: "raised", value: 88.1, limit: 85 };
      await m.publishAs(THING, [1, 2].map(() => ({ topic: `${ROOT}alarm`, payload: JSON.stringify(alarm) })));
      await until(() => m.runner.stats.messages >= 2, "both copies", 10_000);
      await m.runner.idle();
      const rows = await m.db.query<Record<string, unknown>>("SELECT device, seq::float8 AS seq, channel, state, value, limit_value FROM alarms");
      expect(rows).toStrictEqual([{ device: THING, seq: 77, channel: "max31865.temperature", state: "raised", value: 88.1, limit_value: 85 }]);
      expect(m.archive("alarm").map((p) => [p.date, p.records.length])).toStrictEqual([["2026-11-21", 2]]);
    });
  });
});
