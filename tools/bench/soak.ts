// npm run bench -- soak: the fleet simulator (tools/soak/fleet.ts, docs/soak.md) for a long span.
// Two runs: the reference device (press-7, the manifest's settings) for SOAK_DAYS simulated days
// (default 30), and SOAK_FLEET_DEVICES devices (default 100) for SOAK_FLEET_DAYS (default 0.25), a
// tenth of them power-cut.
// SOAK_RUNS=reference or fleet runs one of them (its own BENCHMARKS.md section); SOAK_REAL_MINUTES
// cuts a run's scenario short after that much real time (the figures say how many days it reached).

import { PRICES } from "../../cloud/pricing.ts";
import { ruleDefinitions } from "../../cloud/rules.ts";
import { topicMatches } from "../../cloud/topics.ts";
import { runSoak, type SoakResult } from "../soak/fleet.ts";
import type { Figure } from "./report.ts";

const MONTH_DAYS = 30;
const env = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${name} needs a positive number, got ${v}`);
  return n;
};

export function soakRuns(): ("reference" | "fleet")[] {
  const v = process.env.SOAK_RUNS;
  if (v === "reference" || v === "fleet") return [v];
  if (v !== undefined && v !== "") throw new Error(`SOAK_RUNS is reference or fleet, got ${v}`);
  return ["reference", "fleet"];
}

/** The BENCHMARKS.md section (one per run when only one is asked for), and the command with its SOAK_* settings. */
export function soakSection(): { key: string; command: string } {
  const runs = soakRuns();
  const settings = Object.entries(process.env).filter(([k, v]) => k.startsWith("SOAK_") && v).map(([k, v]) => `${k}=${v} `).sort().join("");
  return { key: runs.length === 1 ? `soak-${runs[0]}` : "soak", command: `${settings}npm run bench -- soak` };
}

/** Rules that trigger on one message of each topic kind (any device's topic). */
function rulesPerKind() {
  const rules = ruleDefinitions();
  const count = (kind: string) => rules.filter((r) => topicMatches(r.topicFilter, `factory/s/b/l/d/${kind}`)).length;
  return { telemetry: count("telemetry"), alarm: count("alarm"), status: count("status") };
}

export function soakFigures(r: SoakResult, prefix: string): Figure[] {
  const figures: Figure[] = [];
  const add = (name: string, value: number, unit: string, note: string) => figures.push({ name: `soak.${prefix}${name}`, value, unit, note });
  const sum = (k: keyof SoakResult["accounts"][number]) => r.accounts.reduce((n, a) => n + (a[k] as number), 0);
  const round = (x: number, d = 3) => Number(x.toFixed(d));
  const deviceDays = r.devices * r.simulatedDays;
  const b = r.billing;
  add("simulated_days", round(r.simulatedDays, 3), "days", `scenario span of firmware time reached (the drain until every log is empty comes on top); ${round(r.realSeconds, 0)} s real in all`);
  add("devices", r.devices, "devices", "each the unchanged firmware on the host target in a process of its own");
  add("readings_produced", sum("readingsProduced"), "records", "readings records the devices committed to flash (ledger tapped from the simulated NOR flash, sequence numbers)");
  add("readings_stored", sum("readingsStored"), "records", "rows in PostgreSQL's readings whose (device, seq) the devices produced");
  add("readings_lost", sum("lost"), "records", "produced (readings and alarms), never stored, and not in a range the full log dropped");
  add("duplicates_stored", sum("duplicatesStored"), "rows", "a (device, seq) stored twice, or the same reading (time and values) stored under two sequence numbers");
  add("mismatched_stored", sum("mismatched"), "rows", "stored rows whose values, qualities or time differ from the device's record under that sequence number");
  add("unexpected_stored", sum("unexpected"), "rows", "stored rows the devices never produced");
  add("dropped_by_design", r.droppedTotal, "records", `the firmware's own count of records a full log dropped (drop-oldest); its logged ranges name ${sum("droppedInRanges")}`);
  add("dropped_not_stored", sum("droppedNotStored"), "records", "produced, not stored, inside the ranges the full log dropped");
  add("dropped_but_stored", sum("droppedButStored"), "records", "inside the dropped ranges yet stored (in flight when the log dropped them)");
  add("alarms_raised", sum("alarmsRaised"), "alarms", "alarm records with state raised the devices produced");
  add("alarms_stored", sum("alarmsRaisedStored"), "alarms", `raised alarms in PostgreSQL's alarms (value-exact); raise and clear records: ${sum("alarmsStored")} stored of ${sum("alarmsProduced")}`);
  add("duplicates_delivered", r.duplicatesDelivered, "readings", "arrivals at the readings sink beyond the first per (device, seq): resends the store absorbed");
  add("rss_growth_mb", round(r.rssGrowthMb, 1), "MB", `largest growth of a device process's RSS from early in the run (10-20 %) to its last tenth; ${round(r.rssFirstMb, 0)} MB then, ${round(r.rssLastMb, 0)} MB at the end`);
  add("log_depth_max", r.maxLogDepth, "records", "most records waiting in one device's flash log, seen at step ends (the partition holds about 14 h of readings)");
  add("power_cuts", r.powerCuts, "cuts", "SIGKILL of a device process at a random point of a step; it boots again from its flash file and preferences");
  add("outages", r.outages, "outages", "network outages (the proxy refuses and cuts every connection)");
  add("broker_restarts", r.brokerRestarts, "restarts", "Mosquitto stopped (SIGTERM, persistence on) for 5 simulated minutes and started again");
  add("sensor_events", r.sensorEvents, "events", "overheats of the RTD past 85 C (10 min) and every chip faulted (2 min)");
  add("still_in_flash", r.stillInFlash, "records", "left unacknowledged in a device's log after its clean stop");
  add("dead_letters", r.deadLetters, "messages", "rule outputs a sink refused");
  add("messages", b.messages, "messages", `publishes and CONNECTs counted from the firmware's log (${b.telemetryMessages} telemetry, ${b.alarmMessages} alarm, ${b.statusMessages} status); the part of a killed boot after its last step is not counted`);
  add("billed_units_per_device_day", round(b.units / deviceDays, 1), "5 KB units", "AWS IoT messaging units: topic plus payload in 5 KB units, retained status twice, one per CONNECT");
  add("lower_bound_units_per_device_day", round(b.bytes / 5120 / deviceDays, 1), "5 KB units", "total published bytes / 5120 (workload.md's lower bound)");
  const readings = sum("readingsProduced");
  add("messages_per_reading", round(b.telemetryMessages / readings, 4), "ratio", `telemetry publishes (resends included) per reading produced; the naive baseline sends 8 (one per measurement), ${round(8 / (b.telemetryMessages / readings), 0)}x more`);
  add("published_bytes_per_reading", round(b.bytes / readings, 1), "bytes", "topic plus payload of everything published (status and alarms included) per reading produced; MQTT and TLS framing not counted");
  add("speedup", round((r.simulatedDays * 86_400) / r.realSeconds, 0), "x", "simulated seconds per real second over the whole run");
  // Cost per device-month from the measured units: messaging, rules triggered and their actions.
  const rules = rulesPerKind();
  const perDayUnits = b.units / deviceDays;
  const perDayRules = (b.telemetryUnits * rules.telemetry + b.alarmUnits * rules.alarm + b.statusUnits * rules.status) / deviceDays;
  const month = (x: number) => x * MONTH_DAYS;
  const usd = month(perDayUnits) * PRICES.iotMessage.usd + month(perDayRules) * (PRICES.iotRuleTriggered.usd + PRICES.iotActionExecuted.usd);
  add("usd_messaging_rules_per_device_month", round(usd, 4), "USD", `AWS IoT Core messaging + rules triggered + one action each (cloud/pricing.ts): ${Math.round(month(perDayUnits))} units and ${Math.round(month(perDayRules))} rules a month`);
  // The naive baseline: one message per measurement per sample (8 channels at 1 Hz), each triggering the telemetry rules.
  const naiveUnits = 8 * 86_400;
  const naive = month(naiveUnits) * PRICES.iotMessage.usd + month(naiveUnits * rules.telemetry) * (PRICES.iotRuleTriggered.usd + PRICES.iotActionExecuted.usd);
  add("usd_naive_per_device_month", round(naive, 2), "USD", `naive baseline (workload.md): ${Math.round(month(naiveUnits))} messages a month, each through the ${rules.telemetry} telemetry rules`);
  const lower = month(b.bytes / 5120 / deviceDays);
  add("usd_lower_bound_per_device_month", round(lower * PRICES.iotMessage.usd + (lower * rules.telemetry) * (PRICES.iotRuleTriggered.usd + PRICES.iotActionExecuted.usd), 4), "USD", "the same for the lower bound: the bytes in full 5 KB units, all through the telemetry rules");
  return figures;
}

export async function soakBenchFigures(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const realMinutes = process.env.SOAK_REAL_MINUTES ? env("SOAK_REAL_MINUTES", 0) : undefined;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const run of soakRuns()) {
    const deadline = realMinutes ? Date.now() + realMinutes * 60_000 : undefined;
    const result = run === "reference"
      ? await runSoak({ devices: 1, days: env("SOAK_DAYS", 30), realDeadline: deadline, log })
      : await runSoak({
        devices: env("SOAK_FLEET_DEVICES", 100), days: env("SOAK_FLEET_DAYS", 0.25), realDeadline: deadline, log,
        // A reboot is a Node process loading the firmware again (about 2 s of CPU): a tenth of the fleet is cut.
        powerCutDevices: Math.ceil(env("SOAK_FLEET_DEVICES", 100) / 10),
      });
    const problems = result.accounts.flatMap((a) => a.examples);
    for (const p of problems) log(`soak: ${p}`);
    figures.push(...soakFigures(result, run === "reference" ? "" : "fleet_"));
  }
  return figures;
}
