// Whole updates on the simulated dual-slot device: success, each way an update must fail (and
// leave the old firmware running with the job FAILED and a reason), resume after failed fetches,
// and a power cut at every flash step of download, verification and activation.

import { test, equal, assert, deepEqual } from "./api";
import { OtaRig, goodDocument, OLD_VERSION, NEW_IMAGE, OTHER_SIGNATURE } from "./ota-rig";
import { buildSimImage } from "../../sim/ota/dual-slot";

const lastDetails = (rig: OtaRig) => rig.service.details;

test("ota update: a good image is downloaded, verified, activated, self-tested and confirmed; the job SUCCEEDS", () => {
  const rig = new OtaRig();
  rig.run();
  equal(rig.service.status, "SUCCEEDED", JSON.stringify(rig.service.history));
  equal(rig.running?.version, NEW_IMAGE.version);
  equal(rig.running?.state, "valid");
  equal(rig.running?.slot, 1);
  deepEqual(rig.boots.map((b) => `${b.version}/${b.state}`), ["0.3.0/valid", "0.4.0/pending"]);
  // one report in flight at a time: a step reported while another is unanswered may be replaced
  const steps = rig.service.history.map((h) => h.details.step ?? h.status);
  deepEqual([...new Set(steps)], ["download", "reboot", "SUCCEEDED"]);
  assert(rig.logs.some((l) => /0.4.0 verified and activated/.test(l)), "verified");
  equal(lastDetails(rig).version, "0.4.0");
  equal(rig.blocksServed, 5);
  // a later power cycle still boots the confirmed image
  rig.device.powerOn();
  deepEqual({ ...rig.running! }, { slot: 1, version: "0.4.0", state: "valid", rolledBack: false });
});

test("ota update: a corrupted image fails verification; the old firmware keeps running and the job FAILS with the reason", () => {
  const served = buildSimImage(NEW_IMAGE.version, NEW_IMAGE.length, NEW_IMAGE.seed);
  served[12345] ^= 0x10;
  const rig = new OtaRig({ served });
  rig.run();
  equal(rig.service.status, "FAILED");
  assert(/sha256 mismatch/.test(lastDetails(rig).reason), lastDetails(rig).reason);
  equal(lastDetails(rig).step, "verify");
  equal(rig.running?.version, OLD_VERSION);
  equal(rig.boots.length, 1, "never rebooted");
  rig.device.powerOn();
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: a wrong signature fails verification; the old firmware keeps running and the job FAILS with the reason", () => {
  const rig = new OtaRig({ document: goodDocument({ signature: OTHER_SIGNATURE }) });
  rig.run();
  equal(rig.service.status, "FAILED");
  assert(/signature does not verify/.test(lastDetails(rig).reason), lastDetails(rig).reason);
  equal(rig.running?.version, OLD_VERSION);
  rig.device.powerOn();
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: an image shorter than the job says fails the download with the reason", () => {
  const rig = new OtaRig({ served: buildSimImage(NEW_IMAGE.version, 15000, NEW_IMAGE.seed) });
  rig.run(2000);
  equal(rig.service.status, "FAILED");
  assert(/download failed 10 times: short read/.test(lastDetails(rig).reason), lastDetails(rig).reason);
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: a failing self-test rolls back to the old firmware and the job FAILS with the reason", () => {
  const rig = new OtaRig({ selfTestFailsOn: NEW_IMAGE.version });
  rig.run();
  equal(rig.service.status, "FAILED");
  assert(/self-test failed: sensors: sht3x did not start/.test(lastDetails(rig).reason), lastDetails(rig).reason);
  deepEqual(rig.boots.map((b) => `${b.version}/${b.state}${b.rolledBack ? "/rolled back" : ""}`), ["0.3.0/valid", "0.4.0/pending", "0.3.0/valid/rolled back"]);
  equal(rig.running?.version, OLD_VERSION);
  rig.device.powerOn();
  equal(rig.running?.version, OLD_VERSION, "stays on the old image");
});

test("ota update: a new image that never reaches the broker is rolled back at the self-test deadline; the job FAILS", () => {
  const rig = new OtaRig({ brokerUnreachableOn: NEW_IMAGE.version });
  rig.run();
  equal(rig.service.status, "FAILED");
  equal(lastDetails(rig).reason, "self-test failed: broker not ready in 60 s");
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: a new image that resets before confirming is activated once more, then the job FAILS on the old firmware", () => {
  const rig = new OtaRig({ resetsOn: NEW_IMAGE.version });
  rig.run();
  equal(rig.service.status, "FAILED");
  equal(lastDetails(rig).reason, "0.4.0 was rolled back 2 times before its self-test passed; 0.3.0 is running");
  deepEqual(rig.boots.map((b) => b.version), ["0.3.0", "0.4.0", "0.3.0", "0.4.0", "0.3.0"]);
  equal(rig.blocksServed, 5, "the image was not downloaded again");
});

test("ota update: a block that does not read back as written (a worn cell) fails the download; nothing is activated", () => {
  const rig = new OtaRig({ stuckCellAt: 9000 });
  rig.run(2000);
  equal(rig.service.status, "FAILED");
  equal(lastDetails(rig).reason, "download failed 10 times: flash: block 2 did not read back as written");
  equal(rig.running?.version, OLD_VERSION);
  rig.device.powerOn();
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: a slot that throws (a flash error, ESP-IDF refusing the image) fails the job with the reason; the old image runs on", () => {
  const reasons: Record<string, RegExp> = {
    begin: /^flash: esp_ota_set_boot_partition/,
    write: /^flash: block 0: /,
    read: /^flash: block 0: /,
    activate: /^the image was not made bootable: esp_ota_set_boot_partition: ESP_ERR_OTA_VALIDATE_FAILED/,
  };
  for (const call of ["begin", "write", "read", "activate"] as const) {
    const rig = new OtaRig({ slotThrows: call });
    rig.run();
    equal(rig.service.status, "FAILED", call);
    assert(reasons[call].test(lastDetails(rig).reason ?? ""), `${call}: ${JSON.stringify(lastDetails(rig))}`);
    equal(rig.running?.version, OLD_VERSION, call);
    deepEqual(rig.boots.map((b) => b.version), [OLD_VERSION], `${call}: no restart`);
  }
});

test("ota update: failed fetches are retried with the download resumed, not restarted", () => {
  const rig = new OtaRig({ failBlocks: [2, 3] });
  rig.run();
  equal(rig.service.status, "SUCCEEDED");
  equal(rig.blocksServed, 5, "each block fetched once successfully");
  assert(rig.logs.some((l) => /block 2: connection reset; again in 1000 ms/.test(l)), "retry logged");
});

test("ota update: an unknown job type is REJECTED with the reason and nothing is written", () => {
  const rig = new OtaRig({ document: { operation: "factory-reset" } });
  const before = rig.flashSteps;
  rig.run();
  equal(rig.service.status, "REJECTED");
  equal(lastDetails(rig).reason, "unknown job type: factory-reset");
  equal(rig.flashSteps, before);
  equal(rig.running?.version, OLD_VERSION);
});

test("ota update: a job for the version already running SUCCEEDS at once; a downgrade is REJECTED", () => {
  const same = new OtaRig({ document: { ...goodDocument(), version: OLD_VERSION } });
  same.run();
  equal(same.service.status, "SUCCEEDED");
  equal(same.service.details.note, "already running this version");
  const down = new OtaRig({ document: { ...goodDocument(), version: "0.2.9" } });
  down.run();
  equal(down.service.status, "REJECTED");
  assert(/downgrade from 0.3.0 to 0.2.9 refused/.test(down.service.details.reason), down.service.details.reason);
});

/**
 * Runs the scenario once without a cut to count its flash steps, then once per step with the power
 * cut there; every trial must boot at every power-on, end with the job terminal, and run the image
 * the job's outcome says.
 */
function powerCutSweep(options: { selfTestFailsOn?: string; served?: Uint8Array }, expectClean: "SUCCEEDED" | "FAILED"): { trials: number; outcomes: Record<string, number> } {
  const clean = new OtaRig(options);
  const before = clean.flashSteps;
  clean.run();
  equal(clean.service.status, expectClean);
  const steps = clean.flashSteps - before;
  const outcomes: Record<string, number> = {};
  for (let cut = 1; cut <= steps; cut++) {
    const rig = new OtaRig({ ...options, seed: cut });
    rig.flash.cutAfter(cut);
    try {
      rig.run();
    } catch (error) {
      throw new Error(`cut at step ${cut} of ${steps}: ${error instanceof Error ? error.message : error}`);
    }
    equal(rig.powerCuts, 1, `cut ${cut}: one power cut`);
    // resumed from the last persisted block (every 2 blocks), never from the start
    assert(rig.blocksServed <= clean.blocksServed + 2, `cut ${cut}: ${rig.blocksServed} blocks fetched, ${clean.blocksServed} without a cut`);
    const status = rig.service.status;
    const version = rig.running?.version;
    if (status === "SUCCEEDED") equal(version, NEW_IMAGE.version, `cut ${cut}: SUCCEEDED runs the new image`);
    else {
      equal(status, "FAILED", `cut ${cut}: terminal`);
      equal(version, OLD_VERSION, `cut ${cut}: FAILED runs the old image`);
      assert((rig.service.details.reason ?? "").length > 0, `cut ${cut}: FAILED has a reason`);
    }
    // and the image keeps booting
    rig.device.powerOn();
    equal(rig.running?.version, version, `cut ${cut}: the same image boots again`);
    const key = `${status}${status === "FAILED" ? ` (${rig.service.details.reason})` : ""}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  return { trials: steps, outcomes };
}

test("ota update: a power cut at every flash step of a good update leaves a bootable device and the update completes", () => {
  const { trials, outcomes } = powerCutSweep({}, "SUCCEEDED");
  assert(trials > 20, `${trials} trials`);
  // every cut is survived by resuming; none may end the job any other way
  deepEqual(outcomes, { SUCCEEDED: trials });
});

test("ota update: a power cut at every flash step of a corrupted update leaves the old firmware and the job FAILED", () => {
  const served = buildSimImage(NEW_IMAGE.version, NEW_IMAGE.length, NEW_IMAGE.seed);
  served[100] ^= 1;
  const { trials, outcomes } = powerCutSweep({ served }, "FAILED");
  assert(trials > 10, `${trials} trials`);
  equal(Object.keys(outcomes).length, 1, JSON.stringify(outcomes));
  assert(/sha256 mismatch/.test(Object.keys(outcomes)[0]), JSON.stringify(outcomes));
});

test("ota update: a power cut at every flash step of an update whose self-test fails ends on the old firmware", () => {
  const { outcomes } = powerCutSweep({ selfTestFailsOn: NEW_IMAGE.version }, "FAILED");
  for (const key of Object.keys(outcomes)) assert(key.startsWith("FAILED"), JSON.stringify(outcomes));
});
