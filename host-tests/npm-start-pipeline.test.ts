// npm start is the whole local pipeline: the firmware on the host target, the broker (embedded
// Aedes, or Mosquitto with the generated ACL through --broker), the rules runner and the database
// (PGlite, or PostgreSQL through DATABASE_URL). A --duration run waits for the runner to store what
// the broker acknowledged, says `stored=N` beside the acknowledged readings, and exits 0 only when
// they are equal; the rows are in the database when the process has gone.

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, onTestFinished, test } from "vitest";
import { openDatabase } from "../cloud/local/database.ts";
import { startMosquitto } from "../cloud/local/mosquitto-process.ts";
import { RULES_RUNNER_IDENTITY } from "../cloud/local/rules-runner.ts";
import { ruleDefinitions } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT } from "../cloud/topics.ts";
import { manifestConfig } from "../host/firmware.ts";
import { freePort } from "./support/mosquitto.ts";
import { devPki } from "./support/pki.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const THING = String(manifestConfig().thing);
const PG_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

interface Run {
  code: number | null;
  output: string;
  readings: { sampled: number; acknowledged: number; stored: number };
}

/** `npm start -- --duration N ...` as a child process; killed if it outlives the test. */
async function npmStart(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 40_000): Promise<Run> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./host/register.mjs", "host/run.ts", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DATABASE_URL: "", ...env },
  });
  onTestFinished(() => void child.kill("SIGKILL"));
  const chunks: string[] = [];
  child.stdout!.on("data", (d) => chunks.push(String(d)));
  child.stderr!.on("data", (d) => chunks.push(String(d)));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not exit within ${timeoutMs} ms:\n${chunks.join("")}`)), timeoutMs);
    child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
  });
  const output = chunks.join("");
  const line = /^readings sampled=(\d+) acknowledged=(\d+) stored=(\d+) /m.exec(output);
  if (!line) throw new Error(`no readings line with stored=N in the output (exit ${code}):\n${output}`);
  return { code, output, readings: { sampled: Number(line[1]), acknowledged: Number(line[2]), stored: Number(line[3]) } };
}

const tmp = (what: string) => mkdtempSync(join(tmpdir(), `iiot-start-${what}-`));

test("npm start -- --duration: embedded broker, rules runner and PGlite; stored equals acknowledged, the rows are in PGlite, exit 0", { timeout: 60_000 }, async () => {
  const cloud = tmp("cloud");
  const run = await npmStart(["--duration", "8", "--state", tmp("device"), "--cloud-state", cloud]);
  expect(run.output).toMatch(/embedded broker \(Aedes, mutual TLS\)/);
  expect(run.output).toMatch(/rules: 8 rules on factory\/\+\/\+\/\+\/\+\/telemetry, factory\/\+\/\+\/\+\/\+\/alarm, factory\/\+\/\+\/\+\/\+\/status, factory\/\+\/\+\/\+\/\+\/response/);
  expect(run.readings.acknowledged, run.output).toBeGreaterThan(0);
  expect(run.readings.stored, run.output).toBe(run.readings.acknowledged);
  expect(run.code, run.output).toBe(0);

  const db = await openDatabase({ pgliteDir: join(cloud, "pglite") });
  try {
    const rows = await db.query<{ seq: number }>("SELECT seq::float8 AS seq FROM readings WHERE device = $1 ORDER BY seq", [THING]);
    expect(rows.map((r) => r.seq)).toStrictEqual(Array.from({ length: run.readings.acknowledged }, (_, i) => i));
    const status = await db.query<{ state: string }>("SELECT state FROM device_status WHERE device = $1 ORDER BY received_at", [THING]);
    expect(status.map((s) => s.state)).toStrictEqual(["online", "offline"]);
  } finally {
    await db.close();
  }
});

test("npm start -- --broker (Mosquitto with the generated ACL) and DATABASE_URL: the runner connects as iiot-rules to that broker and stores into PostgreSQL", { timeout: 60_000 }, async () => {
  const pki = devPki(THING, RULES_RUNNER_IDENTITY);
  const broker = await startMosquitto({
    port: await freePort(),
    certsDir: pki.dir,
    dataDir: join(tmp("mosquitto"), "mosquitto"),
    layout: DEFAULT_LAYOUT,
    rules: ruleDefinitions(),
    rulesRunner: RULES_RUNNER_IDENTITY,
  });
  onTestFinished(() => broker.stop());
  // A schema of its own: the child's connection finds its tables through search_path.
  const schema = `iiot_start_${process.pid}_${Date.now()}`;
  const admin = await openDatabase({ url: PG_URL, schema });
  onTestFinished(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });
  const url = new URL(PG_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);

  const run = await npmStart(["--duration", "8", "--state", tmp("device"), "--cloud-state", tmp("cloud"), "--broker", `mqtts://localhost:${broker.port}`], { DATABASE_URL: url.toString() });
  expect(run.output).toMatch(/using broker mqtts:\/\/localhost/);
  expect(run.output).toMatch(/readings into PostgreSQL at DATABASE_URL/);
  expect(run.readings.acknowledged, run.output).toBeGreaterThan(0);
  expect(run.readings.stored, run.output).toBe(run.readings.acknowledged);
  expect(run.code, run.output).toBe(0);
  const [{ n }] = await admin.query<{ n: number }>("SELECT count(*)::float8 AS n FROM readings WHERE device = $1", [THING]);
  expect(n).toBe(run.readings.acknowledged);
  expect(broker.log()).toMatch(/New client connected from .* as iiot-rules/);
});
