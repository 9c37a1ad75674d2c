// The firmware against a real Mosquitto that fails (host-tests/support/fault-scenario.ts). After
// dropping duplicates by sequence number every reading must have arrived, in order, with duplicate
// batches within the in-flight window for each reconnect.

import { test } from "node:test";
import assert from "node:assert/strict";
import { dedupe, runFaultScenario } from "./support/fault-scenario.ts";

test("faults: kill -9, cuts mid-packet, refusals and a duplicate client id lose no reading", async () => {
  const run = await runFaultScenario({ window: 4, seed: 99 });
  const { stats, cuts, log } = run;
  if (process.env.FAULTS_VERBOSE) process.stderr.write(`${log}\ncuts=${cuts} reconnects=${stats.reconnects} docs=${run.docs.length}\n`);
  assert.ok(cuts >= 5, `the proxy cut or refused ${cuts} connections`);
  assert.ok(stats.reconnects >= 4, `reconnects ${stats.reconnects}\n${log}`);
  assert.match(log, /another client with this id/, "the duplicate client id was noticed");
  const seen = dedupe(run.docs, stats.sampled, run.freshLaneBatches);
  assert.equal(seen.lost, 0, `readings_lost = ${seen.lost}\n${log}`);
  assert.equal(seen.received, stats.sampled);
  assert.equal(seen.disordered, 0, "in order after dropping duplicates (fresh-lane batches excepted)");
  assert.equal(seen.duplicatesAfterDedupe, 0, "no sample arrived twice under different sequence numbers");
  assert.ok(seen.duplicateBatches <= run.window * stats.reconnects, `${seen.duplicateBatches} duplicate batches over ${stats.reconnects} reconnects, window ${run.window}`);
  assert.equal(stats.pending, 0);
  assert.equal(stats.dropped + stats.notStored, 0);
});
