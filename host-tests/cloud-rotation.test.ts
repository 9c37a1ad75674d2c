// The cloud's half of a certificate rotation: the device's confirmation on its response topic (as
// src/main.ts sends it) passes the rotation_confirmed rule, which names the certificate to deactivate;
// anything short of a confirmed, different certificate passes nothing. The local mirror records it.

import { test, expect, afterAll } from "vitest";
import { compile } from "../cloud/iot-sql/evaluate.ts";
import { ruleDefinitions } from "../cloud/rules.ts";
import { databaseSinks } from "../cloud/local/sinks.ts";
import { openDatabase, type Database } from "../cloud/local/database.ts";

const rule = ruleDefinitions().find((r) => r.name === "rotation_confirmed")!;
const compiled = compile(rule.sql);
const TOPIC = "factory/chicago/building-a/line-3/press-7/response";
const NEW = "a".repeat(64);
const OLD = "b".repeat(64);
const confirmation = { id: null, command: "rotate", ok: true, result: { event: "identity-rotated", certificate: NEW, replaced: OLD } };
const run = (payload: unknown, topic = TOPIC) => compiled.run(payload as never, { topic, timestamp: 1_795_000_000_000 });
let db: Database | undefined;
afterAll(async () => db?.close());

test("rotation_confirmed: the device's confirmation names the replaced certificate, the device taken from the topic", () => {
  expect(run(confirmation)).toStrictEqual({ matched: true, output: { device: "press-7", certificate: NEW, replaced: OLD, topic: TOPIC, received_at: 1_795_000_000_000 } });
});

test("rotation_confirmed: a failed rotation, another command, a missing or identical certificate pass nothing", () => {
  for (const payload of [
    { ...confirmation, ok: false },
    { ...confirmation, command: "flush" },
    { ...confirmation, result: { ...confirmation.result, event: "started" } },
    { ...confirmation, result: { ...confirmation.result, replaced: null } },
    { ...confirmation, result: { event: "identity-rotated", certificate: NEW } },
    { ...confirmation, result: { ...confirmation.result, replaced: NEW } },
    { id: "r1", command: "rotate", ok: true, result: { started: true } }, // the command's first answer
  ]) expect(run(payload).matched, JSON.stringify(payload)).toBe(false);
});

test("the local mirror records what AWS would deactivate, once, and refuses ids that are not certificate ids", async () => {
  db = await openDatabase();
  const sinks = databaseSinks(db);
  const { output } = run(confirmation) as unknown as { output: never };
  for (let i = 0; i < 2; i++) await sinks["certificate-deactivation"](output, { rule, topic: TOPIC, receivedAt: 1_795_000_000_000 });
  const rows = await db.query<{ device: string; certificate_id: string; replaced_by: string }>("SELECT device, certificate_id, replaced_by FROM certificate_deactivations");
  expect(rows).toStrictEqual([{ device: "press-7", certificate_id: OLD, replaced_by: NEW }]);
  await expect(sinks["certificate-deactivation"]({ device: "press-7", certificate: "x", replaced: OLD } as never, { rule, topic: TOPIC, receivedAt: 0 })).rejects.toThrow(/64 hex digits/);
});
