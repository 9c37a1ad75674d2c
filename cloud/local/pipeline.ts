// The cloud half wired up once, for `npm start` and `npm run cloud:local`: the rules runner on a
// broker (the dev PKI's rules-runner identity, like any client), its sinks into PostgreSQL
// (DATABASE_URL) or PGlite, the archive and dead letters in a folder, the dashboard over the same
// database, and a count of the readings this run's messages brought into the database, so a caller
// can wait for the runner to catch up and compare with what the device had acknowledged.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TELEMETRY } from "../payload-shapes.ts";
import { ruleDefinitions, type RuleDefinition } from "../rules.ts";
import { DEFAULT_LAYOUT } from "../topics.ts";
import { openDatabase, type Database } from "./database.ts";
import { deadLetterFile } from "./dead-letters.ts";
import { RULES_RUNNER_IDENTITY, startRulesRunner, type RulesRunner } from "./rules-runner.ts";
import { archiveSink, databaseSinks, readPath, type Sinks } from "./sinks.ts";
import { startDashboard, type Dashboard } from "./dashboard/server.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

export interface PipelineOptions {
  /** mqtts://HOST:PORT of the broker the devices publish to. */
  brokerUrl: string;
  /** TLS server name the broker's certificate must carry (default: the URL's host when it is a name, else localhost). */
  servername?: string;
  /** certs/generate.sh's output folder (ca.pem, devices/iiot-rules/). */
  certsDir?: string;
  /** Archive, dead letters and (without databaseUrl) PGlite's data. */
  out: string;
  /** postgres://... ; PGlite in <out>/pglite without it. */
  databaseUrl?: string;
  /** PGlite in memory instead of <out>/pglite (tests). */
  pgliteInMemory?: boolean;
  rules?: readonly RuleDefinition[];
  /** The dashboard's port on 127.0.0.1 (taken: any free one); 0 for any free port, false for no dashboard. */
  dashboardPort?: number | false;
  log?: (line: string) => void;
}

export interface Pipeline {
  readonly db: Database;
  readonly runner: RulesRunner;
  /** Where the database is, for people: "PGlite in ..." or "PostgreSQL at DATABASE_URL". */
  readonly where: string;
  /** The dashboard, unless dashboardPort was false. */
  readonly dashboard?: Dashboard;
  /** Calls back after every rule output a sink stored; returns an unsubscribe function. */
  onStored(listener: () => void): () => void;
  /**
   * Distinct readings of `device` that this run's telemetry messages carried and that are in the
   * readings table now (stored by this run, or already there from an earlier delivery).
   */
  storedReadings(device: string): Promise<number>;
  /** Waits until `storedReadings(device)` reaches `count` or `timeoutMs` passes; the last count. */
  waitForReadings(device: string, count: number, timeoutMs: number): Promise<number>;
  /** Waits for the message in hand, then disconnects the runner and closes the database. */
  close(): Promise<void>;
}

/** The rules runner's certificate from the dev CA, made on first use (--no-stage leaves the firmware's resources alone). */
export function ensureRulesRunnerIdentity(certsDir = join(root, "certs/out")): { ca: Buffer; cert: Buffer; key: Buffer } {
  const dir = join(certsDir, "devices", RULES_RUNNER_IDENTITY);
  try {
    execFileSync(join(root, "certs/generate.sh"), ["--out", certsDir, "--no-stage", RULES_RUNNER_IDENTITY], { stdio: "ignore" });
  } catch {
    throw new Error("could not generate the rules runner's certificate (certs/generate.sh; is openssl installed?)");
  }
  return { ca: readFileSync(join(certsDir, "ca.pem")), cert: readFileSync(join(dir, "device.pem")), key: readFileSync(join(dir, "device.key")) };
}

/** The host of mqtts://HOST:PORT as a TLS server name: a name as it is, an address as localhost (the dev broker's certificate names both). */
function serverName(url: string): string {
  const host = new URL(url).hostname;
  return /^[\d.]+$/.test(host) || host.includes(":") ? "localhost" : host;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const log = options.log ?? (() => {});
  const rules = options.rules ?? ruleDefinitions(DEFAULT_LAYOUT);
  const tls = { ...ensureRulesRunnerIdentity(options.certsDir), servername: options.servername ?? serverName(options.brokerUrl) };
  const pgliteDir = options.pgliteInMemory ? undefined : join(options.out, "pglite");
  mkdirSync(options.out, { recursive: true });
  const db = await openDatabase(options.databaseUrl ? { url: options.databaseUrl } : { pgliteDir });
  const where = db.kind === "postgres" ? "PostgreSQL at DATABASE_URL" : pgliteDir ? `PGlite in ${pgliteDir}` : "PGlite in memory";

  // Readings per device that a telemetry sink call has put in the table (its insert succeeded, so
  // every reading of the batch is there, inserted now or before).
  const seen = new Map<string, Set<number>>();
  const sinks: Sinks = { ...databaseSinks(db), "archive-stream": archiveSink(options.out) };
  const listeners = new Set<() => void>();
  const onStored = (listener: () => void) => (listeners.add(listener), () => void listeners.delete(listener));
  for (const kind of Object.keys(sinks) as (keyof Sinks)[]) {
    const sink = sinks[kind];
    sinks[kind] = async (output, context) => {
      await sink(output, context);
      for (const listener of listeners) listener();
    };
  }
  const store = sinks["telemetry-table"];
  sinks["telemetry-table"] = async (output, context) => {
    await store(output, context);
    const batch = output as { device: string; readings: unknown[] };
    let set = seen.get(batch.device);
    if (!set) seen.set(batch.device, (set = new Set()));
    for (const r of batch.readings) set.add(readPath(r as never, TELEMETRY.reading.seq) as number);
  };

  let runner: RulesRunner;
  try {
    runner = await startRulesRunner({
      url: options.brokerUrl,
      tls,
      rules,
      sinks,
      deadLetters: deadLetterFile(join(options.out, "dead-letters.jsonl")),
      log,
    });
  } catch (error) {
    await db.close();
    throw new Error(`the rules runner could not start on ${options.brokerUrl}: ${(error as Error).message}`);
  }

  let dashboard: Dashboard | undefined;
  if (options.dashboardPort !== false) {
    const start = (port: number) => startDashboard({ db, port, onStored, log });
    try {
      dashboard = await start(options.dashboardPort ?? 0).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EADDRINUSE") throw error;
        log(`dashboard: port ${options.dashboardPort} is taken; taking a free one`);
        return start(0);
      });
    } catch (error) {
      await runner.close();
      await db.close();
      throw error;
    }
  }

  const storedReadings = async (device: string) => {
    const seqs = [...(seen.get(device) ?? [])];
    if (seqs.length === 0) return 0;
    // Counted in the table, not in memory: what the summary reports is what a query finds.
    const [{ n }] = await db.query<{ n: number }>(
      "SELECT count(*)::float8 AS n FROM readings WHERE device = $1 AND seq IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
      [device, JSON.stringify(seqs)],
    );
    return n;
  };

  return {
    db,
    runner,
    where,
    dashboard,
    onStored,
    storedReadings,
    async waitForReadings(device, count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while ((seen.get(device)?.size ?? 0) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await runner.idle();
      return storedReadings(device);
    },
    async close() {
      await dashboard?.close();
      await runner.close();
      await db.close();
    },
  };
}
