// The persisted update record: its encoding, and the two-sector store under power cuts.

import { test, equal, deepEqual, assert } from "./api";
import { decodeRecord, encodeRecord, FlashRecordStore, type OtaRecord } from "../../src/ota/ota-record";
import { PowerLoss, SimNorFlash } from "../../sim/nor-flash";
import { random } from "./api";

const sample: OtaRecord = {
  phase: "downloading",
  jobId: "job-42",
  version: "0.4.0",
  fromVersion: "0.3.0",
  size: 1_441_792,
  blockSize: 4096,
  nextBlock: 17,
  sha256: Uint8Array.from({ length: 32 }, (_, i) => i * 7),
  reason: "",
  attempts: 1,
};

test("ota record: encodes and decodes every field; damaged bytes are not a record", () => {
  const bytes = encodeRecord(sample);
  assert(bytes.length < 120, `${bytes.length} bytes`);
  deepEqual(decodeRecord(bytes), sample);
  const failed = { ...sample, phase: "failed" as const, reason: "signature does not verify" };
  deepEqual(decodeRecord(encodeRecord(failed)), failed);
  equal(decodeRecord(bytes.subarray(0, bytes.length - 1)), undefined);
  const wrongPhase = bytes.slice();
  wrongPhase[2] = 9;
  equal(decodeRecord(wrongPhase), undefined);
  equal(decodeRecord(new Uint8Array(10)), undefined);
});

test("ota record store: the last save survives a remount, across sector switches; clear forgets", () => {
  const flash = new SimNorFlash({ byteLength: 2 * 512, blockSize: 512 });
  let store = new FlashRecordStore(flash);
  equal(store.load(), undefined);
  for (let i = 0; i < 40; i++) {
    store.save(encodeRecord({ ...sample, nextBlock: i }));
    store = new FlashRecordStore(flash);
    equal(decodeRecord(store.load()!)?.nextBlock, i, `save ${i}`);
  }
  store.save(undefined);
  equal(new FlashRecordStore(flash).load(), undefined);
});

test("ota record store: a power cut at every step of 30 saves leaves the last completed save or the one being made", () => {
  let trials = 0;
  for (let cut = 1; cut <= 60; cut++) {
    const flash = new SimNorFlash({ byteLength: 2 * 512, blockSize: 512, random: random(cut) });
    let store = new FlashRecordStore(flash);
    flash.cutAfter(cut);
    let done = -1;
    try {
      for (let i = 0; i < 30; i++) {
        store.save(encodeRecord({ ...sample, nextBlock: i }));
        done = i;
      }
      continue;
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
    }
    trials++;
    flash.powerOn();
    store = new FlashRecordStore(flash);
    const got = store.load();
    const n = got ? decodeRecord(got)?.nextBlock : -1;
    assert(n === done || n === done + 1, `cut ${cut}: found ${n}, last completed save ${done}`);
    // and the store keeps working
    store.save(encodeRecord({ ...sample, nextBlock: 99 }));
    equal(decodeRecord(new FlashRecordStore(flash).load()!)?.nextBlock, 99, `cut ${cut}: saves after the cut`);
  }
  assert(trials > 30, `${trials} trials`);
});
