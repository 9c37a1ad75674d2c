// Runs esp32/ota/boot-control.ts and .c on the Moddable simulator over fake-idf.c, so the XS in C
// glue (host chunks, arguments, buffers, errors) and the slot's erase/resume rules run for real
// somewhere, since no board is at hand. Prints TAP-like lines and "done COUNT FAILURES".

import { Esp32BootControl, Esp32UpdateSlot } from "esp32/ota/boot-control";

const reset: (state: number, stateError: number, rollbackResult: number) => void = native("xs_fake_idf_reset");
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

reset(PENDING, 0, 0);
throws("rollback: on a device it never returns", () => boot.rollback(), /esp_ota_mark_app_invalid_rollback_and_reboot: ESP_FAIL/);
check("rollback asked ESP-IDF to roll back and restart", counters()[ROLLBACKS] === 1 && counters()[RESTARTS] === 1, `${counters()}`);

reset(PENDING, 0, ROLLBACK_FAILED);
try {
  boot.rollback();
} catch {
  // the fake's esp_restart returns; a device's does not
}
check("first update after a cable flash: ESP-IDF cannot roll back, the pending image restarts", counters()[ROLLBACKS] === 1 && counters()[RESTARTS] === 1, `${counters()}`);

reset(VALID, 0, ROLLBACK_FAILED);
throws("a valid image with nothing to roll back to throws, and does not restart", () => boot.rollback(), /^Error: esp_ota_mark_app_invalid_rollback_and_reboot: ESP_ERR_OTA_ROLLBACK_FAILED/);
check("no restart", counters()[RESTARTS] === 0, `${counters()}`);

reset(VALID, 0, 0);
boot.reboot();
check("reboot restarts", counters()[RESTARTS] === 1, `${counters()}`);

trace(`done ${count} ${failures}\n`);
