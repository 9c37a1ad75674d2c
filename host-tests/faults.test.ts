// The firmware against a real Mosquitto that fails (host-tests/support/fault-scenario.ts). After
// dropping duplicates by sequence number every reading must have arrived, in order, with duplicate
// batches within the in-flight window for each reconnect.

import { test, expect } from "vitest";
import { dedupe, runFaultScenario } from "./support/fault-scenario.ts";

test("faults: kill -9, cuts mid-packet, refusals and a duplicate client id lose no reading", async () => {
  const run = await runFaultScenario({ window: 4, seed: 99 });
  const { stats, cuts, log } = run;
  if (process.env.FAULTS_VERBOSE) process.stderr.write(`${log}\ncuts=${cuts} reconnects=${stats.reconnects} docs=${run.docs.length}\n`);
  expect(cuts >= 5, `the proxy cut or refused ${cuts} connections`).toBeTruthy();
  expect(stats.reconnects >= 4, `reconnects ${stats.reconnects}\n${log}`).toBeTruthy();
  expect(log, "the duplicate client id was noticed").toMatch(/another client with this id/);
  const seen = dedupe(run.docs, stats.sampled, run.freshLaneBatches);
  expect(seen.lost, `readings_lost = ${seen.lost}\n${log}`).toBe(0);
  expect(seen.received).toBe(stats.sampled);
  expect(seen.disordered, "in order after dropping duplicates (fresh-lane batches excepted)").toBe(0);
  expect(seen.duplicatesAfterDedupe, "no sample arrived twice under different sequence numbers").toBe(0);
  expect(seen.duplicateBatches <= run.window * stats.reconnects, `${seen.duplicateBatches} duplicate batches over ${stats.reconnects} reconnects, window ${run.window}`).toBeTruthy();
  expect(stats.pending).toBe(0);
  expect(stats.dropped + stats.notStored).toBe(0);
}, 120_000);
