// Runs esp32/ota/boot-control.ts and .c on the Moddable simulator over fake-idf.c, so the XS in C
// glue (host chunks, arguments, buffers, errors) and the slot's erase/resume rules run for real
// somewhere, since no board is at hand; then the OTA agent (src/ota/agent.ts) through them, an
// update that succeeds and one whose self-test fails. Prints TAP-like lines and "done COUNT FAILURES".

import { Esp32BootControl, Esp32UpdateSlot } from "esp32/ota/boot-control";
import { OtaAgent } from "src/ota/agent";
import { UPDATE_OPERATION } from "src/ota/job-document";
import { FlashRecordStore } from "src/ota/ota-record";
import { parsePublicKey } from "src/ota/p256";
import { fromHex } from "src/ota/sha256";
import type { BlockSource } from "src/ota/slot";
import type { FlashDevice } from "src/log/flash-log";
import { buildSimImage } from "sim/ota/dual-slot";

const reset: (state: number, stateError: number, rollbackResult: number, magic?: number) => void = native("xs_fake_idf_reset");
const restart: (state: number, stateError: number, rollbackResult: number) => void = native("xs_fake_idf_restart");
const counters: () => number[] = native("xs_fake_idf_counters");
const cell: (slot: number, offset: number) => number = native("xs_fake_idf_cell");

const NEW = 0, PENDING = 1, VALID = 2;
const NOT_FOUND = 0x105, NOT_SUPPORTED = 0x106, INVALID_SIZE = 0x104, ROLLBACK_FAILED = 0x1505;
const ERASES = 0, ERASED_BYTES = 1, WRITES = 2, WRITTEN_BYTES = 3, BOOT_SET = 5, MARKED_VALID = 6, ROLLBACKS = 7, RESTARTS = 8, NOR_VIOLATIONS = 9;

let count = 0;
let failures = 0;

function check(name: string, ok: boolean, detail = ""): void {
  count++;
  if (!ok) failures++;
  trace(`${ok ? "ok" : "not ok"} ${count} - ${name}${ok ? "" : `: ${detail}`}\n`);
}

function throws(name: string, fn: () => void, pattern: RegExp): void {
  try {
    fn();
    check(name, false, "did not throw");
  } catch (error) {
    const text = `${(error as Error).name}: ${(error as Error).message}`;
    check(name, pattern.test(text), text);
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const SIZE = 10000;
const image = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i++) image[i] = (i * 7 + 3) & 0xff;
image[0] = 0xe9;

// ---- the update slot

reset(VALID, 0, 0);
const slot = new Esp32UpdateSlot();
check("capacity is the partition's size", slot.capacity === 65536, `${slot.capacity}`);
check("sectorSize is the erase size", slot.sectorSize === 4096, `${slot.sectorSize}`);
check("the slot is the one not running", slot.label === "ota_1", slot.label);
throws("write before begin", () => slot.write(0, new Uint8Array(16)), /^Error: update slot: write before begin/);
throws("activate before begin", () => slot.activate(), /^Error: update slot: activate before begin/);
throws("begin with 0 bytes", () => slot.begin(0, false), /^RangeError: byteLength out of range/);
throws("begin larger than the slot", () => slot.begin(65537, false), /^RangeError: byteLength out of range/);
throws("begin with a fraction", () => slot.begin(100.5, false), /^RangeError: byteLength out of range/);
check("refused begins erased nothing", counters()[ERASES] === 0, `${counters()}`);

slot.begin(SIZE, false);
let c = counters();
check("a fresh begin erases the first sector, nothing else", c[ERASES] === 1 && c[ERASED_BYTES] === 4096, `${c}`);

slot.write(0, image.subarray(0, 4096));
c = counters();
check("write erases the sector it covers and programs it", c[ERASES] === 2 && c[ERASED_BYTES] === 8192 && c[WRITES] === 1 && c[WRITTEN_BYTES] === 4096, `${c}`);
const back = new Uint8Array(4096);
slot.read(0, back);
check("read returns what write wrote", same(back, image.subarray(0, 4096)));

slot.write(4096, image.subarray(4096, 8192)); // a view with a byteOffset
slot.read(4096, back);
check("write and read honour a view's byteOffset", same(back, image.subarray(4096, 8192)));

// a reboot: a new slot object resumes without erasing
const resumed = new Esp32UpdateSlot();
resumed.begin(SIZE, true);
c = counters();
check("a resumed begin erases nothing", c[ERASES] === 3, `${c}`);
check("what was written before the reboot is kept", cell(1, 4096) === image[4096] && cell(1, 8191) === image[8191] && cell(1, 0) === 0xe9);

const last = new Uint8Array(4096);
last.set(image.subarray(8192));
resumed.write(8192, last, SIZE - 8192);
c = counters();
check("the last, short block erases one sector and programs its length", c[ERASES] === 4 && c[WRITTEN_BYTES] === SIZE, `${c}`);
const tail = new Uint8Array(SIZE - 8192);
resumed.read(8192, tail);
check("the short block reads back", same(tail, image.subarray(8192)));
check("no program needed a 0 -> 1 change (every write was erased first)", counters()[NOR_VIOLATIONS] === 0, `${counters()}`);

const whole = new Uint8Array(SIZE);
resumed.read(0, whole, SIZE);
check("the whole image reads back", same(whole, image));

throws("write off a sector boundary", () => resumed.write(100, new Uint8Array(16)), /^RangeError: offset not on a sector boundary/);
throws("write past the image", () => resumed.write(12288, new Uint8Array(16)), /^RangeError: offset out of range/);
throws("write running past the image", () => resumed.write(8192, new Uint8Array(4096)), /^RangeError: write of 4096 bytes at 8192 outside the 10000-byte image/);
throws("write longer than its buffer", () => resumed.write(0, new Uint8Array(16), 17), /^RangeError: length beyond the buffer/);
throws("read past the slot", () => resumed.read(65000, new Uint8Array(1000)), /^RangeError: read of 1000 bytes at 65000 outside the slot/);
throws("read at a negative offset", () => resumed.read(-1, new Uint8Array(4)), /^RangeError: offset out of range/);

resumed.activate();
check("activate hands the slot to esp_ota_set_boot_partition", counters()[BOOT_SET] === 1, `${counters()}`);
throws("activate ends the writing", () => resumed.write(0, new Uint8Array(16)), /^Error: update slot: write before begin/);

reset(VALID, 0, 0);
const bad = new Esp32UpdateSlot();
bad.begin(4096, false);
bad.write(0, new Uint8Array(4096));
throws("an image ESP-IDF refuses is not activated, and the error names the call", () => bad.activate(), /^Error: esp_ota_set_boot_partition: ESP_ERR_OTA_VALIDATE_FAILED \(0x1503\)/);
check("nothing was activated", counters()[BOOT_SET] === -1, `${counters()}`);
bad.abort();
throws("abort ends the writing", () => bad.write(0, new Uint8Array(16)), /write before begin/);

reset(PENDING, 0, 0);
const whilePending = new Esp32UpdateSlot();
throws("no begin while the running image is pending", () => whilePending.begin(100, false), /pending confirmation/);
check("and nothing was erased", counters()[ERASES] === 0, `${counters()}`);

throws("a method on an object that is not a slot", () => Esp32UpdateSlot.prototype.begin.call({}, 1, false), /./);
for (let i = 0; i < 200; i++) new Esp32UpdateSlot(); // garbage with the destructor

// ---- boot control

const boot = new Esp32BootControl();
reset(PENDING, 0, 0);
check("pending-verify is pending", boot.runningState() === "pending" && boot.imageState === "pending-verify", boot.imageState);
check("the running partition", boot.runningPartition === "ota_0", boot.runningPartition);
boot.markValid();
check("markValid confirms a pending image", counters()[MARKED_VALID] === 1 && boot.runningState() === "valid", `${counters()}`);
boot.markValid();
check("markValid on a valid image does nothing", counters()[MARKED_VALID] === 1, `${counters()}`);

reset(VALID, 0, 0);
check("valid is valid", boot.runningState() === "valid" && boot.imageState === "valid");
reset(NEW, 0, 0);
check("new (a bootloader without rollback) counts as valid", boot.runningState() === "valid" && boot.imageState === "new");
reset(VALID, NOT_FOUND, 0);
check("no otadata entry (a cable flash) is valid", boot.runningState() === "valid" && boot.imageState === "none", boot.imageState);
reset(VALID, NOT_SUPPORTED, 0);
check("a factory partition is valid", boot.runningState() === "valid" && boot.imageState === "factory", boot.imageState);
reset(VALID, INVALID_SIZE, 0);
throws("another esp_ota_get_state_partition error throws, named", () => boot.runningState(), /^Error: esp_ota_get_state_partition: ESP_ERR_INVALID_SIZE \(0x104\)/);

// ESP-IDF 6 (what the SDK expects, and what the fake says it is): rollback marks and returns, the caller restarts
reset(PENDING, 0, 0);
boot.rollback();
check("rollback marks the running image invalid and returns for the caller's restart", counters()[ROLLBACKS] === 1 && counters()[RESTARTS] === 0 && boot.imageState === "invalid", `${counters()} ${boot.imageState}`);

reset(PENDING, 0, ROLLBACK_FAILED);
boot.rollback();
check("first update after a cable flash: ESP-IDF cannot roll back; the pending image returns for the restart that is the rollback", counters()[ROLLBACKS] === 1 && counters()[RESTARTS] === 0, `${counters()}`);

reset(VALID, 0, ROLLBACK_FAILED);
throws("a valid image with nothing to roll back to throws, named", () => boot.rollback(), /^Error: esp_ota_mark_app_invalid_rollback: ESP_ERR_OTA_ROLLBACK_FAILED \(0x1505\)/);
check("no restart", counters()[RESTARTS] === 0, `${counters()}`);

reset(VALID, 0, 0);
boot.reboot();
check("reboot restarts", counters()[RESTARTS] === 1, `${counters()}`);


// ---- the OTA agent through the ESP32 slot and boot control

// host-tests/portable/ota-rig.ts's test key, and the SHA-256 and signature of buildSimImage("0.4.0", 20000, 7)
const TEST_KEY_SPKI = "3059301306072a8648ce3d020106082a8648ce3d03010703420004b92a049fc195cd76f3672aef82eecbde0f227ef79907c0f77b1ac0c2e67b5bc3002f005d594d6e9dca2cb8853f4bae106e733552596ad3606b490d1452d4c0af";
const NEW_SHA256 = "092abd67655282cc2223de176551274eb50579964f292f2228a2f579bddff305";
const NEW_SIGNATURE = "MEYCIQCdBKXOM/bYryrma+RLkvzxigO9T84hITOeDZjcfys7TwIhAO3JA2G3/hSQkHqU1R6/zmu+qFrXjIiCLsHh15VfufeS";
const SIM_IMAGE_MAGIC = 0x53; // "S" of sim/ota/dual-slot.ts's "SIMG": what the fake esp_ota_set_boot_partition accepts here

/** Two sectors of RAM with NOR rules, for the update record (iiotota on a board). */
class RamFlash implements FlashDevice {
  readonly byteLength = 2 * 4096;
  readonly blockSize = 4096;
  readonly #cells = new Uint8Array(this.byteLength).fill(0xff);
  read(offset: number, length: number): Uint8Array {
    return this.#cells.slice(offset, offset + length);
  }
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.#cells[offset + i] &= data[i];
  }
  erase(sector: number): void {
    this.#cells.fill(0xff, sector * 4096, (sector + 1) * 4096);
  }
}

const served = buildSimImage("0.4.0", 20000, 7);
const document = { operation: UPDATE_OPERATION, version: "0.4.0", image: { url: "https://images.example/fw-0.4.0.bin", size: 20000, sha256: NEW_SHA256, signature: NEW_SIGNATURE } };
const job = { jobId: "ota-job-1", document, status: "IN_PROGRESS", statusDetails: {} };

function node(version: string, recordFlash: RamFlash, reports: { status: string; details: Record<string, unknown> }[]): { agent: OtaAgent; setNow(t: number): void } {
  let now = 1_000_000;
  const source: BlockSource = {
    fetch(offset, length, buffer, done) {
      buffer.set(served.subarray(offset, offset + length));
      done();
    },
    cancel() {},
  };
  const agent = new OtaAgent({
    runningVersion: version,
    slot: new Esp32UpdateSlot(),
    boot: new Esp32BootControl(),
    store: new FlashRecordStore(recordFlash),
    publicKey: parsePublicKey(fromHex(TEST_KEY_SPKI)!),
    source: () => source,
    now: () => now,
    log: () => {},
  });
  agent.attach({ report: (status, details) => void reports.push({ status, details: details ?? {} }) });
  return { agent, setNow: (t) => void (now = t) };
}

function lastReport(reports: { status: string; details: Record<string, unknown> }[]): string {
  const r = reports[reports.length - 1];
  return r ? `${r.status} ${JSON.stringify(r.details)}` : "none";
}

{
  // a board flashed by cable: otadata blank, the old image in ota_0
  reset(VALID, NOT_FOUND, ROLLBACK_FAILED, SIM_IMAGE_MAGIC);
  const recordFlash = new RamFlash();
  const reports: { status: string; details: Record<string, unknown> }[] = [];
  const old = node("0.3.0", recordFlash, reports);
  old.agent.boot();
  const refused = old.agent.onJob(job);
  c = counters();
  check("agent: the job is taken", refused === undefined, `${refused}`);
  check("agent: the image went into ota_1 block by block, erased first, and was activated", c[WRITES] === 5 && c[WRITTEN_BYTES] === 20000 && c[NOR_VIOLATIONS] === 0 && c[BOOT_SET] === 1, `${c}; ${lastReport(reports)}`);
  old.setNow(1_000_000 + 5000);
  old.agent.tick();
  check("agent: then it reboots", counters()[RESTARTS] === 1, `${counters()}`);

  // the new image's first boot: pending
  restart(PENDING, 0, ROLLBACK_FAILED);
  const fresh = node("0.4.0", recordFlash, reports);
  fresh.agent.boot();
  fresh.agent.onJob(job);
  fresh.agent.selfTestPassed("sensors");
  fresh.agent.selfTestPassed("log");
  check("agent: not confirmed before the whole self-test passed", counters()[MARKED_VALID] === 0, `${counters()}`);
  fresh.agent.selfTestPassed("broker");
  check("agent: the self-test passed, the image confirmed itself", counters()[MARKED_VALID] === 1, `${counters()}`);
  check("agent: the job SUCCEEDED", reports[reports.length - 1]?.status === "SUCCEEDED", lastReport(reports));
}

{
  reset(VALID, NOT_FOUND, ROLLBACK_FAILED, SIM_IMAGE_MAGIC);
  const recordFlash = new RamFlash();
  const reports: { status: string; details: Record<string, unknown> }[] = [];
  const old = node("0.3.0", recordFlash, reports);
  old.agent.boot();
  old.agent.onJob(job);
  restart(PENDING, 0, ROLLBACK_FAILED);
  const fresh = node("0.4.0", recordFlash, reports);
  fresh.agent.boot();
  fresh.agent.onJob(job);
  fresh.agent.selfTestFailed("sensors", "sht3x did not start");
  c = counters();
  check("agent: a failed self-test rolls back (first update after a cable flash: the restart that follows is the rollback)", c[ROLLBACKS] === 1 && c[RESTARTS] === 0 && c[MARKED_VALID] === 0, `${c}`);
  // the bootloader aborted the pending image and booted ota_0: the old image, no otadata entry
  restart(VALID, NOT_FOUND, ROLLBACK_FAILED);
  const back = node("0.3.0", recordFlash, reports);
  back.agent.boot();
  back.agent.onJob(job);
  const last = reports[reports.length - 1];
  check("agent: back on the old image, the job FAILED with the reason", last?.status === "FAILED" && /self-test failed: sensors: sht3x did not start/.test(String(last.details.reason)), lastReport(reports));
}

{
  // an image that ESP-IDF's own check refuses (here: the wrong first byte) is never activated
  reset(VALID, NOT_FOUND, ROLLBACK_FAILED, 0xe9);
  const reports: { status: string; details: Record<string, unknown> }[] = [];
  const old = node("0.3.0", new RamFlash(), reports);
  old.agent.boot();
  let thrown = "";
  try {
    old.agent.onJob(job);
  } catch (error) {
    thrown = (error as Error).message;
  }
  const last = reports[reports.length - 1];
  check("agent: activation refused by ESP-IDF fails the job with the named error, nothing thrown, nothing boots next",
    thrown === "" && last?.status === "FAILED" && /esp_ota_set_boot_partition: ESP_ERR_OTA_VALIDATE_FAILED/.test(String(last.details.reason)) && counters()[BOOT_SET] === -1,
    `${thrown}; ${lastReport(reports)}; ${counters()}`);
}

trace(`done ${count} ${failures}\n`);
