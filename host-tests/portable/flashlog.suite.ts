// The flash log: semantics, restart, ring and full policies, bad partitions, and power cuts at every
// flash step of random operation sequences.

import { test, equal, deepEqual, throws, assert, random } from "./api";
import { FlashLog, LogFullError, RECORD_OVERHEAD, SECTOR_HEADER_BYTES } from "../../src/log/flash-log";
import { crc32 } from "../../src/log/crc32";
import { SimNorFlash } from "../../sim/nor-flash";
import { check, forgetDropped, newModel, newTotals, runPowerCutTrials } from "./powercut-model";

const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const str = (b: Uint8Array) => String.fromCharCode(...b);

function flash(sectors = 8, sectorSize = 512) {
  return new SimNorFlash({ byteLength: sectors * sectorSize, blockSize: sectorSize, random: random(1) });
}

test("crc32: the standard check value", () => {
  equal(crc32(text("123456789")), 0xcbf43926);
});

test("nor flash: programming only clears bits, erase sets 0xFF", () => {
  const f = flash(2, 256);
  f.write(0, Uint8Array.of(0xf0));
  f.write(0, Uint8Array.of(0x3c));
  equal(f.read(0, 1)[0], 0x30);
  f.erase(0);
  equal(f.read(0, 1)[0], 0xff);
  f.cutAfter(1);
  throws(() => f.write(1, Uint8Array.of(0)), Error, /power lost/);
  throws(() => f.read(0, 1), Error, /powered off/);
  f.powerOn();
  equal(f.read(0, 1)[0], 0xff);
});

test("flash log: append, read in order, acknowledge", () => {
  const log = new FlashLog(flash());
  equal(log.append(text("a")), 0);
  equal(log.append(text("bb")), 1);
  equal(log.append(text("ccc")), 2);
  deepEqual(log.read(0, 10).map((r) => str(r.payload)), ["a", "bb", "ccc"]);
  log.acknowledge(1);
  equal(log.tailSeq, 2);
  deepEqual(log.read(0, 10).map((r) => r.seq), [2], "acknowledged records are not read again");
  deepEqual(log.read(0, 10, 0).map((r) => r.seq), [2], "at least one record even past maxBytes");
  throws(() => log.acknowledge(3), RangeError, /past the newest/);
  throws(() => log.append(new Uint8Array(0)), RangeError);
  throws(() => log.append(new Uint8Array(512)), RangeError);
});

test("flash log: a restart resumes exactly where the log was", () => {
  const f = flash();
  const log = new FlashLog(f);
  for (let i = 0; i < 30; i++) log.append(text(`reading ${i}`));
  log.acknowledge(11);
  const again = new FlashLog(f);
  equal(again.nextSeq, 30);
  equal(again.tailSeq, 12);
  deepEqual(again.read(0, 100).map((r) => str(r.payload)), Array.from({ length: 18 }, (_, i) => `reading ${i + 12}`));
  equal(again.append(text("after restart")), 30, "sequence numbers continue across restarts");
});

test("flash log: sequence numbers keep rising after everything is acknowledged and erased", () => {
  const f = flash(4, 256);
  let log = new FlashLog(f);
  for (let i = 0; i < 100; i++) {
    log.append(text(`r${i}`));
    log.acknowledge(log.nextSeq - 1);
  }
  log = new FlashLog(f);
  equal(log.nextSeq, 100);
  equal(log.pendingRecords, 0);
});

test("flash log: when full, the oldest records are dropped and the count survives a restart", () => {
  const f = flash(4, 256);
  const events: string[] = [];
  const log = new FlashLog(f, { onEvent: (m) => events.push(m) });
  const perRecord = RECORD_OVERHEAD + 20;
  const perSector = Math.floor((256 - SECTOR_HEADER_BYTES) / perRecord);
  for (let i = 0; i < perSector * 10; i++) log.append(new Uint8Array(20).fill(i & 0xff));
  assert(log.dropped > 0, "drops happened");
  assert(events.some((e) => /dropped/.test(e)), events.join("; "));
  const records = log.read(0, 1000);
  equal(records[records.length - 1].seq, perSector * 10 - 1, "the newest is kept");
  equal(records.length + log.dropped, perSector * 10, "every record is either kept or counted as dropped");
  const again = new FlashLog(f);
  equal(again.dropped, log.dropped);
  deepEqual(again.read(0, 1000).map((r) => r.seq), records.map((r) => r.seq));
});

test("flash log: the refuse policy keeps old records and refuses new ones until acknowledged", () => {
  const log = new FlashLog(flash(4, 256), { whenFull: "refuse" });
  let accepted = 0;
  let refused = false;
  for (let i = 0; i < 100 && !refused; i++) {
    try {
      log.append(new Uint8Array(20).fill(1));
      accepted++;
    } catch (error) {
      assert(error instanceof LogFullError, String(error));
      refused = true;
    }
  }
  assert(refused, "a full log refuses");
  equal(log.dropped, 0);
  equal(log.read(0, 1000).length, accepted);
  log.acknowledge(log.nextSeq - 1);
  equal(log.append(new Uint8Array(20)), accepted, "room again after acknowledging");
});

test("flash log: garbage, zeros and an unknown format version are recovered with an event", () => {
  for (const [name, fill] of [["garbage", -1], ["zeros", 0x00]] as const) {
    const f = flash(6, 512);
    const rand = random(5);
    const image = new Uint8Array(6 * 512).map(() => (fill < 0 ? Math.floor(rand() * 256) : fill));
    const dirty = new SimNorFlash({ byteLength: image.length, blockSize: 512, image });
    const events: string[] = [];
    const log = new FlashLog(dirty, { onEvent: (m) => events.push(m) });
    equal(log.pendingRecords, 0, name);
    assert(events.length > 0, `${name}: an event says what happened`);
    equal(log.append(text("fresh")), 0, name);
    deepEqual(new FlashLog(dirty).read(0, 10).map((r) => str(r.payload)), ["fresh"], name);
    void f;
  }
  const f = flash(6, 512);
  const log = new FlashLog(f);
  log.append(text("v1 data"));
  const header = f.read(0, SECTOR_HEADER_BYTES);
  header[4] = 9; // a future format version, with a header CRC that matches
  const crc = crc32(Uint8Array.from(header.subarray(0, SECTOR_HEADER_BYTES - 4), (b, i) => (i === 5 ? 0xff : b)));
  header.set([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24], SECTOR_HEADER_BYTES - 4);
  f.erase(0);
  f.write(0, header);
  const events: string[] = [];
  const reformatted = new FlashLog(f, { onEvent: (m) => events.push(m) });
  assert(events.some((e) => /format version 9/.test(e)), events.join("; "));
  equal(reformatted.pendingRecords, 0);
});

test("flash log: a flipped bit in a stored record is never returned", () => {
  const f = flash(6, 512);
  const log = new FlashLog(f);
  log.append(text("first"));
  log.append(text("second"));
  f.write(SECTOR_HEADER_BYTES + 8, Uint8Array.of(0x00)); // inside the first record's payload
  const records = new FlashLog(f).read(0, 10);
  assert(!records.some((r) => str(r.payload) !== "first" && str(r.payload) !== "second"), "nothing altered is returned");
  assert(!records.some((r) => r.seq === 0), "the damaged record is withheld");
});

test("flash log: a write that does not read back costs a sector, not a record, and acknowledgements stay exact", () => {
  for (const policy of ["refuse", "drop-oldest"] as const) {
    const sim = flash(3, 256);
    let flipAt = -1;
    // A flash that once programs a byte wrong (a marginal cell): the read-back check must catch it.
    const device = {
      byteLength: sim.byteLength, blockSize: sim.blockSize,
      read: (o: number, l: number) => sim.read(o, l),
      erase: (sector: number) => sim.erase(sector),
      write: (o: number, d: Uint8Array) => {
        sim.write(o, d);
        if (o <= flipAt && flipAt < o + d.length) {
          sim.write(flipAt, Uint8Array.of(0x00));
          flipAt = -1;
        }
      },
    };
    const log = new FlashLog(device, { whenFull: policy, onEvent: () => {} });
    const p = () => new Uint8Array(30).fill(0x5a);
    for (let i = 0; i < 5; i++) log.append(p());
    log.acknowledge(4);
    flipAt = 256 + SECTOR_HEADER_BYTES + 10; // inside record 5, the first in sector 1
    for (let i = 0; i < 10; i++) log.append(p()); // 5..14, record 5 rewritten elsewhere
    // Before anything more is acknowledged, every record written reads back: none silently lost.
    const written = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    deepEqual(log.read(0, 100).map((r) => r.seq), written, `${policy}: every record written is there`);
    deepEqual(new FlashLog(sim, { whenFull: policy }).read(0, 100).map((r) => r.seq), written, `${policy}: and after a restart`);
    log.acknowledge(9);
    log.append(p()); // 15 opens a new sector: the sector holding 10..14 reused since the abandoned one
    log.acknowledge(11);
    deepEqual(log.read(0, 100).map((r) => r.seq), [12, 13, 14, 15], `${policy}: in RAM`);
    const again = new FlashLog(sim, { whenFull: policy });
    equal(again.tailSeq, 12, `${policy}: tail after a restart`);
    deepEqual(again.read(0, 100).map((r) => r.seq), [12, 13, 14, 15], `${policy}: after a restart nothing is lost or back`);
  }
});

test("flash log: power cut at every step of random sequences (refuse policy)", () => {
  const totals = runPowerCutTrials({ sequences: 6, opsPerSequence: 40, seed: 11, policy: "refuse" });
  assert(totals.trials > 200, `${totals.trials} trials`);
  deepEqual([totals.lost, totals.corrupt, totals.resurrected, totals.disordered], [0, 0, 0, 0], totals.failures.join("\n"));
});

test("flash log: power cut at every step of random sequences (drop-oldest policy)", () => {
  const totals = runPowerCutTrials({ sequences: 6, opsPerSequence: 40, seed: 23, policy: "drop-oldest", sectors: 4, sectorSize: 256 });
  assert(totals.trials > 200, `${totals.trials} trials`);
  deepEqual([totals.lost, totals.corrupt, totals.resurrected, totals.disordered], [0, 0, 0, 0], totals.failures.join("\n"));
});

test("flash log: reads resume where recent reads were, and never from a sector since reused", () => {
  const payload = (seq: number, size: number) => Uint8Array.from({ length: size }, (_, i) => (seq * 7 + i) & 0xff);
  const size = (seq: number) => (seq < 20 ? 5 : 13);
  const expect = (log: FlashLog, from: number, count: number) => {
    const got = log.read(from, count);
    equal(got.length, count, `records from ${from}`);
    got.forEach((r, i) => {
      equal(r.seq, from + i);
      deepEqual(Array.from(r.payload), Array.from(payload(from + i, size(from + i))));
    });
  };
  /** Small records read here and there (leaving hints), all delivered, then larger records that reuse those sectors. */
  const history = () => {
    const log = new FlashLog(flash(4, 256));
    for (let seq = 0; seq < 20; seq++) log.append(payload(seq, size(seq)));
    expect(log, 3, 4);
    expect(log, 7, 6);
    expect(log, 4, 2); // behind the last read's end, ahead of its start
    expect(log, 2, 3);
    log.acknowledge(19);
    for (let seq = 20; seq < 50; seq++) log.append(payload(seq, size(seq)));
    return log;
  };
  const end = history().nextSeq;
  // The first read after the reuse, from every record: an old hint's offset is no boundary there.
  for (let from = history().tailSeq; from < end; from++) expect(history(), from, Math.min(3, end - from));
});

test("power-cut model: a record lost behind earlier legitimate drops is still a loss", () => {
  const f = flash(4, 256);
  const log = new FlashLog(f, { whenFull: "drop-oldest", onEvent: () => {} });
  const model = newModel();
  const totals = newTotals();
  for (let i = 0; i < 40; i++) {
    const payload = new Uint8Array(20).fill(i);
    model.durable.set(log.append(payload), payload);
    forgetDropped(log, model, totals, "filling");
  }
  assert(log.dropped > 0 && model.droppedSeen === log.dropped, `drops so far: ${log.dropped}, all accounted`);
  check(log, model, "consistent", totals);
  deepEqual([totals.lost, totals.failures], [0, []], "a consistent log passes");
  // The model still holds a record the log no longer has and never counted as dropped.
  model.durable.set(log.tailSeq - 1, new Uint8Array(20));
  check(log, model, "one lost", totals);
  equal(totals.lost, 1, totals.failures.join("; "));
});

test("flash log: limits, arguments and statistics at their edges", () => {
  throws(() => new FlashLog(flash(2, 512)), RangeError, /at least 3 sectors/);
  new FlashLog(flash(3, 512));
  throws(() => new FlashLog(flash(4, 512), { whenFull: "keep" as never }), RangeError, /unknown full policy keep/);
  const events: string[] = [];
  const f = flash(4, 256);
  const log = new FlashLog(f, { onEvent: (e) => events.push(e) });
  equal(log.maxPayloadBytes, 256 - SECTOR_HEADER_BYTES - RECORD_OVERHEAD);
  equal(log.sectorCount, 4);
  throws(() => log.append(new Uint8Array(0)), RangeError, /record payload of 0 bytes; 1\.\.\d+ allowed/);
  throws(() => log.append(new Uint8Array(log.maxPayloadBytes + 1)), RangeError);
  equal(log.append(new Uint8Array(log.maxPayloadBytes).fill(7)), 0, "a record as large as a sector allows");
  for (let i = 1; i <= 5; i++) log.append(new Uint8Array(10 * i).fill(i));
  deepEqual({ appended: log.stats.appended, recordBytes: log.stats.recordBytes },
    { appended: 6, recordBytes: 6 * RECORD_OVERHEAD + log.maxPayloadBytes + 150 });
  // read: maxRecords and maxBytes (at least one record even when it alone is over maxBytes)
  deepEqual(log.read(1, 2).map((r) => r.seq), [1, 2]);
  deepEqual(log.read(1, 10, 30).map((r) => r.seq), [1, 2], "10 + 20 bytes; 30 more would pass 30");
  deepEqual(log.read(1, 10, 29).map((r) => r.seq), [1]);
  deepEqual(log.read(0, 10, 1).map((r) => r.seq), [0], "one oversized record still comes");
  deepEqual(log.read(3, 10).map((r) => [r.seq, r.payload.length]), [[3, 30], [4, 40], [5, 50]]);
  // acknowledge: integers up to the newest record; below the tail is a no-op
  throws(() => log.acknowledge(1.5), RangeError, /acknowledge\(1\.5\)/);
  throws(() => log.acknowledge(6), RangeError, /acknowledge\(6\) is past the newest record 5/);
  log.acknowledge(2);
  equal(log.tailSeq, 3);
  log.acknowledge(1);
  equal(log.tailSeq, 3, "acknowledging less changes nothing");
  deepEqual(new FlashLog(f).read(0, 10).map((r) => r.seq), [3, 4, 5]);
  log.acknowledge(5);
  equal(log.pendingRecords, 0);
  // Drop-oldest counts what it drops; refuse counts what it refuses.
  for (let i = 0; i < 40; i++) log.append(new Uint8Array(60).fill(i));
  assert(log.stats.dropped > 0 && log.stats.dropped === log.dropped, `dropped ${log.stats.dropped} / ${log.dropped}`);
  assert(events.some((e) => new RegExp(`full; dropped \\d+ unacknowledged records \\(\\d+\\.\\.\\d+\\)`).test(e)), events.join("; "));
  assert(log.stats.erases > 0, "sectors were erased ahead");
  const strict = new FlashLog(flash(4, 256), { whenFull: "refuse" });
  let refused = 0;
  for (let i = 0; i < 40; i++) {
    try {
      strict.append(new Uint8Array(60));
    } catch (error) {
      assert(error instanceof LogFullError && error.message === "flash log is full of unacknowledged records" && error.name === "LogFullError", String(error));
      refused++;
    }
  }
  assert(refused > 0, "the refuse policy refused");
  equal(strict.stats.refused, refused);
});

test("flash log: a partition holding other data is formatted, and says so; a repair is counted", () => {
  const f = flash(4, 256);
  f.write(256, Uint8Array.of(0x12, 0x34)); // another program's bytes at the start of sector 1
  const events: string[] = [];
  const log = new FlashLog(f, { onEvent: (e) => events.push(e) });
  assert(events.some((e) => /no log found \(1 sectors hold other data\)/.test(e)), events.join("; "));
  assert(log.stats.repairs >= 1, `repairs ${log.stats.repairs}`);
  log.append(text("a"));
  deepEqual(new FlashLog(f).read(0, 10).map((r) => str(r.payload)), ["a"]);
});

test("flash log: at mount a torn last record is discarded and stray bits close the sector, each with an event", () => {
  for (const damage of ["torn", "stray"] as const) {
    const f = flash(4, 256);
    const log = new FlashLog(f);
    log.append(text("a"));
    log.append(text("b"));
    const recordB = SECTOR_HEADER_BYTES + RECORD_OVERHEAD + 1;
    if (damage === "torn") f.write(recordB + 7, Uint8Array.of(0x00)); // inside b's payload
    else f.write(recordB + RECORD_OVERHEAD + 1 + 20, Uint8Array.of(0x00)); // in the erased space after b
    const events: string[] = [];
    const mounted = new FlashLog(f, { onEvent: (e) => events.push(e) });
    const expected = damage === "torn" ? /discarded a torn or corrupt record in sector 0 at offset/ : /sector 0 has stray bits after its last record/;
    assert(events.some((e) => expected.test(e)), `${damage}: ${events.join("; ")}`);
    deepEqual(mounted.read(0, 10).map((r) => str(r.payload)), damage === "torn" ? ["a"] : ["a", "b"], damage);
    const c = mounted.append(text("c"));
    assert(c >= (damage === "torn" ? 1 : 2), `${damage}: c got seq ${c}`);
    deepEqual(new FlashLog(f).read(0, 10).map((r) => str(r.payload)), damage === "torn" ? ["a", "c"] : ["a", "b", "c"], `${damage}: after another restart`);
  }
});

test("flash log: read and acknowledge agree with a simple model at every position, across sectors and restarts", () => {
  const payload = (seq: number) => new Uint8Array(5 + (seq % 7)).fill(seq & 0xff);
  const n = 40; // about four 256-byte sectors' worth: nothing is dropped
  const f = flash(8, 256);
  const log = new FlashLog(f);
  for (let seq = 0; seq < n; seq++) equal(log.append(payload(seq)), seq);
  for (let from = 0; from <= n + 1; from++)
    for (const max of [1, 2, 5, 100]) {
      const expected = Array.from({ length: Math.max(0, Math.min(max, n - from)) }, (_, i) => from + i);
      const got = log.read(from, max);
      deepEqual(got.map((r) => r.seq), expected, `read(${from}, ${max})`);
      for (const r of got) deepEqual(r.payload, payload(r.seq), `payload of ${r.seq}`);
    }
  // Acknowledge in uneven steps; after each, the log and a remounted log agree with the model.
  let tail = 0;
  for (const step of [1, 3, 1, 7, 2, 9, 5, 4]) {
    const upTo = Math.min(n - 1, tail + step - 1);
    log.acknowledge(upTo);
    tail = upTo + 1;
    const expected = Array.from({ length: n - tail }, (_, i) => tail + i);
    equal(log.tailSeq, tail, `tail after acknowledge(${upTo})`);
    deepEqual(log.read(0, 100).map((r) => r.seq), expected, `after acknowledge(${upTo})`);
    const again = new FlashLog(f);
    equal(again.tailSeq, tail, `tail after acknowledge(${upTo}) and a restart`);
    equal(again.nextSeq, n);
    deepEqual(again.read(0, 100).map((r) => r.seq), expected, `after acknowledge(${upTo}) and a restart`);
  }
  // Appending after the restarts continues the sequence; everything acknowledged stays gone.
  const reopened = new FlashLog(f);
  for (let seq = n; seq < n + 30; seq++) equal(reopened.append(payload(seq)), seq);
  reopened.acknowledge(n + 9);
  deepEqual(new FlashLog(f).read(0, 100).map((r) => r.seq), Array.from({ length: 20 }, (_, i) => n + 10 + i));
});

// ---- mount-time repair and scan edge cases, checked by their exact events, records and counters ----

/** Writes a valid sector header (any version) with a CRC that matches, as a firmware would. */
function putHeader(f: SimNorFlash, sector: number, h: { version?: number; epoch: number; firstSeq: number; floor: number; dropped: number }) {
  const header = new Uint8Array(SECTOR_HEADER_BYTES).fill(0xff);
  header.set([0x49, 0x4c, 0x4f, 0x47, h.version ?? 1], 0);
  const put = (at: number, v: number) => header.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24], at);
  put(8, h.epoch);
  put(12, h.firstSeq);
  put(16, h.floor);
  put(20, h.dropped);
  put(SECTOR_HEADER_BYTES - 4, crc32(header.subarray(0, SECTOR_HEADER_BYTES - 4)));
  f.erase(sector);
  f.write(sector * f.blockSize, header);
}

/** A committed record's bytes (flags through CRC), as the format specifies. */
function recordBytes(seq: number, payload: Uint8Array, length = payload.length): Uint8Array {
  const r = new Uint8Array(RECORD_OVERHEAD + payload.length);
  r[0] = 0xfe;
  r[1] = length & 0xff;
  r[2] = length >> 8;
  r.set([seq & 0xff, (seq >>> 8) & 0xff, (seq >>> 16) & 0xff, seq >>> 24], 3);
  r.set(payload, 7);
  const crc = crc32(r.subarray(1, 7 + payload.length));
  r.set([crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24], 7 + payload.length);
  return r;
}

test("flash log: another format version is reformatted with an exact event; drops and records from before are gone", () => {
  const f = flash(4, 256);
  const log = new FlashLog(f, { onEvent: () => {} });
  for (let i = 0; i < 40; i++) log.append(new Uint8Array(60).fill(i)); // drops: headers carry a drop count
  assert(log.dropped > 0, "drops recorded");
  const before = new FlashLog(f);
  equal(before.dropped, log.dropped, "the drop count is read back from the headers");
  putHeader(f, 3, { version: 2, epoch: 99, firstSeq: 0, floor: 0, dropped: 0 });
  const events: string[] = [];
  const again = new FlashLog(f, { onEvent: (e) => events.push(e) });
  deepEqual(events, ["flash log: partition holds format version 2, this firmware writes 1; reformatting"]);
  deepEqual([again.dropped, again.nextSeq, again.tailSeq, again.pendingRecords], [0, 0, 0, 0]);
  deepEqual(again.read(0, 100), []);
  equal(again.stats.repairs, 3, "every sector that held something (all but the blank spare) was erased");
  equal(again.stats.erases, 3);
  equal(again.append(text("new")), 0);
  const third = new FlashLog(f);
  deepEqual([third.dropped, third.read(0, 10).map((r) => str(r.payload))], [0, ["new"]]);
});

test("flash log: a blank partition is formatted without erasing or events; stray header bytes are named and counted", () => {
  const events: string[] = [];
  const blank = new FlashLog(flash(4, 256), { onEvent: (e) => events.push(e) });
  deepEqual([events, blank.stats.erases, blank.stats.repairs], [[], 0, 0]);
  const f = flash(5, 256);
  f.write(0, Uint8Array.of(0x49, 0x4c, 0x4f, 0x47, 0x01)); // a header torn after its first bytes
  f.write(2 * 256 + 27, Uint8Array.of(0x00)); // one stray byte at the end of a header
  const dirty = new FlashLog(f, { onEvent: (e) => events.push(e) });
  deepEqual(events, ["flash log: no log found (2 sectors hold other data); starting a new log"]);
  deepEqual([dirty.stats.erases, dirty.stats.repairs], [1, 1], "sector 0 erased to become the head; sector 2 stays until reached");
  dirty.append(text("x"));
  deepEqual(new FlashLog(f).read(0, 10).map((r) => str(r.payload)), ["x"]);
});

test("flash log: at mount each kind of damage after the last record gives its own exact event", () => {
  const cases: [string, number, number[], string][] = [
    ["a sequence number with nothing before it", 3, [0x12], "discarded a torn or corrupt record in sector 0 at offset 40"],
    ["a length with nothing before it", 1, [0x05], "discarded a torn or corrupt record in sector 0 at offset 40"],
    ["a commit bit alone", 0, [0xfe], "discarded a torn or corrupt record in sector 0 at offset 40"],
    ["an uncommitted flags byte", 0, [0xfd], "discarded a torn or corrupt record in sector 0 at offset 40"],
    ["a byte further on", 30, [0x00], "sector 0 has stray bits after its last record; continuing in a new sector"],
    ["the sector's last byte", 256 - 40 - 1, [0x7f], "sector 0 has stray bits after its last record; continuing in a new sector"],
  ];
  for (const [name, at, bytes, event] of cases) {
    const f = flash(4, 256);
    const log = new FlashLog(f);
    log.append(text("a")); // offset 28, 12 bytes: the next record would start at 40
    f.write(40 + at, Uint8Array.from(bytes));
    const events: string[] = [];
    const mounted = new FlashLog(f, { onEvent: (e) => events.push(e) });
    deepEqual(events, [`flash log: ${event}`], name);
    deepEqual(mounted.read(0, 10).map((r) => r.seq), [0], name);
    equal(mounted.append(text("b")), 1, name);
    equal(events.length, 1, `${name}: the damaged head was closed at mount, so b did not try it first`);
    const again = new FlashLog(f);
    deepEqual(again.read(0, 10).map((r) => str(r.payload)), ["a", "b"], `${name}: b went to a new sector`);
    equal(again.nextSeq, 2, name);
  }
});

test("flash log: a record of length 0 or one running past its sector is corrupt even with a matching CRC", () => {
  for (const [name, record] of [
    ["length 0", recordBytes(1, new Uint8Array(0))],
    ["length past the sector", recordBytes(1, text("bb"), 256 - 40 - RECORD_OVERHEAD + 1)],
  ] as const) {
    const f = flash(4, 256);
    new FlashLog(f).append(text("a"));
    f.write(40, record);
    const events: string[] = [];
    const mounted = new FlashLog(f, { onEvent: (e) => events.push(e) });
    deepEqual(events, ["flash log: discarded a torn or corrupt record in sector 0 at offset 40"], name);
    deepEqual(mounted.read(0, 10).map((r) => r.seq), [0], name);
    equal(mounted.nextSeq, 1, name);
  }
  // The same bytes with a proper length are a record: the checks above are about the length alone.
  const f = flash(4, 256);
  new FlashLog(f).append(text("a"));
  f.write(40, recordBytes(1, text("bb")));
  const events: string[] = [];
  const mounted = new FlashLog(f, { onEvent: (e) => events.push(e) });
  deepEqual(events, []);
  deepEqual(mounted.read(0, 10).map((r) => [r.seq, str(r.payload)]), [[0, "a"], [1, "bb"]]);
});

/** The simulated flash as a failing chip: after each write, `spoil` may change what was stored. */
function spoiling(sim: SimNorFlash, spoil: (offset: number, data: Uint8Array) => void) {
  return {
    byteLength: sim.byteLength, blockSize: sim.blockSize,
    read: (o: number, l: number) => sim.read(o, l),
    erase: (sector: number) => sim.erase(sector),
    write: (o: number, d: Uint8Array) => {
      sim.write(o, d);
      spoil(o, d);
    },
  };
}

test("flash log: a write that never verifies says so for each attempt, then fails", () => {
  const sim = flash(4, 256);
  let failing = false;
  const device = spoiling(sim, (o, d) => {
    if (failing && d.length > 1 && d.length !== SECTOR_HEADER_BYTES) sim.write(o, Uint8Array.of(0x00)); // every record body reads back wrong
  });
  const events: string[] = [];
  const log = new FlashLog(device, { onEvent: (e) => events.push(e) });
  log.append(text("ok"));
  failing = true;
  const error = throws(() => log.append(text("bad")), Error, /^flash log: records do not verify after writing; the flash may be failing$/);
  equal((error as Error).name, "FlashLogError");
  deepEqual(events, [
    "flash log: record 1 did not verify at sector 0 offset 41; moving to a new sector",
    "flash log: record 1 did not verify at sector 1 offset 28; moving to a new sector",
  ]);
  equal(log.nextSeq, 1);
  equal(log.stats.appended, 1);
  failing = false;
  equal(log.append(text("later")), 1);
  deepEqual(new FlashLog(sim).read(0, 10).map((r) => str(r.payload)), ["ok", "later"]);
});

test("flash log: a sector header that never verifies fails the append with the sector named", () => {
  const sim = flash(4, 256);
  let failing = false;
  const device = spoiling(sim, (o, d) => {
    if (failing && d.length === SECTOR_HEADER_BYTES) sim.write(o + 8, Uint8Array.of(0x00)); // the epoch
  });
  const log = new FlashLog(device);
  log.append(new Uint8Array(200));
  failing = true;
  const erasesBefore = log.stats.erases;
  throws(() => log.append(new Uint8Array(200)), Error, /^flash log: sector 1 header did not verify; the flash may be failing$/);
  equal(log.stats.erases - erasesBefore, 2, "the bad header is erased after each attempt");
});

/** A partition written by hand: each sector's header and records (payload = one byte, the seq). */
function image(sectors: number, content: { sector: number; epoch: number; firstSeq: number; floor: number; dropped: number; seqs: number[] }[]) {
  const f = flash(sectors, 256);
  for (const c of content) {
    putHeader(f, c.sector, c);
    let at = c.sector * 256 + SECTOR_HEADER_BYTES;
    for (const seq of c.seqs) {
      const r = recordBytes(seq, Uint8Array.of(seq));
      f.write(at, r);
      at += r.length;
    }
  }
  return f;
}

test("flash log: mount follows the run across the ring's end; a valid sector with an equal epoch before it is stale", () => {
  const run = [
    { sector: 5, epoch: 3, firstSeq: 2, floor: 0, dropped: 4, seqs: [2, 3] },
    { sector: 0, epoch: 4, firstSeq: 4, floor: 0, dropped: 9, seqs: [4, 5] },
    { sector: 1, epoch: 5, firstSeq: 6, floor: 0, dropped: 6, seqs: [6] },
  ];
  const stale = { sector: 4, epoch: 3, firstSeq: 0, floor: 0, dropped: 0, seqs: [0, 1] };
  const log = new FlashLog(image(6, [...run, stale]));
  deepEqual(log.read(0, 100).map((r) => r.seq), [2, 3, 4, 5, 6], "sector 4 is not part of the run");
  deepEqual([log.tailSeq, log.nextSeq, log.dropped], [2, 7, 9], "the largest drop count of any header");
  equal(log.append(Uint8Array.of(7)), 7);
  // The same run with floors: records below the largest floor in any header are not returned.
  const floored = new FlashLog(image(6, [{ ...run[0] }, { ...run[1], floor: 3 }, { ...run[2], floor: 2 }]));
  deepEqual(floored.read(0, 100).map((r) => r.seq), [3, 4, 5, 6], "the floor 3 carried in sector 0's header");
  equal(floored.tailSeq, 3);
  // A sector whose epoch is higher than the run's oldest but whose first record is later is not before it.
  const later = new FlashLog(image(6, [...run, { sector: 4, epoch: 2, firstSeq: 9, floor: 0, dropped: 0, seqs: [9] }]));
  deepEqual(later.read(0, 100).map((r) => r.seq), [2, 3, 4, 5, 6]);
  // An older sector, epochs and first records falling, is part of the run while the floor allows.
  const older = new FlashLog(image(6, [...run, { sector: 4, epoch: 2, firstSeq: 0, floor: 0, dropped: 0, seqs: [0, 1] }]));
  deepEqual(older.read(0, 100).map((r) => r.seq), [0, 1, 2, 3, 4, 5, 6]);
  equal(older.tailSeq, 0);
});

test("flash log: at mount the tail skips acknowledged records and sectors marked fully acknowledged", () => {
  const f = flash(6, 256);
  const log = new FlashLog(f);
  for (let i = 0; i < 40; i++) log.append(new Uint8Array(20).fill(i)); // 31 bytes each: 7 to a sector
  log.acknowledge(16); // sectors 0 and 1 fully acknowledged, 2 up to 16
  const again = new FlashLog(f);
  equal(again.tailSeq, 17);
  equal(again.read(0, 1)[0].seq, 17);
  again.acknowledge(20); // the rest of sector 2: its flag is cleared when the cursor leaves it
  again.acknowledge(22);
  const third = new FlashLog(f);
  deepEqual([third.tailSeq, third.read(0, 100).map((r) => r.seq)[0], third.pendingRecords], [23, 23, 17]);
  // the header flag of sector 2 says fully acknowledged (bit 0 of byte 5 cleared), sector 3's does not
  deepEqual([f.read(2 * 256 + 5, 1)[0] & 1, f.read(3 * 256 + 5, 1)[0] & 1], [0, 1]);
});

test("flash log: reads resume at the boundaries recent reads recorded: two flash reads a record, none for what was passed", () => {
  const f = flash(8, 256);
  const log = new FlashLog(f);
  for (let seq = 0; seq < 40; seq++) log.append(new Uint8Array(5 + (seq % 7)).fill(seq)); // 4 sectors' worth
  const cost = (from: number, max: number) => {
    const before = f.stats.reads;
    const got = log.read(from, max);
    return { seqs: got.map((r) => r.seq), reads: f.stats.reads - before };
  };
  // One record at a time, in order (the uplink after each batch): each starts where the last ended.
  for (let seq = 0; seq < 40; seq++) deepEqual(cost(seq, 1), { seqs: [seq], reads: 2 }, `read(${seq}, 1)`);
  // The same batch again (a resend): from where that batch began.
  for (const from of [3, 12, 25, 33]) {
    cost(from, 3);
    const again = cost(from, 3);
    deepEqual(again.seqs, [from, from + 1, from + 2]);
    assert(again.reads <= 7, `read(${from}, 3) again cost ${again.reads} flash reads`);
  }
  // Inside the last batch: from its start, passing what is before the record wanted.
  cost(20, 4);
  const inside = cost(22, 1);
  deepEqual(inside.seqs, [22]);
  assert(inside.reads <= 6, `read(22, 1) after read(20, 4) cost ${inside.reads} flash reads`);
  // Behind both boundaries: from the sector's start, and still right.
  cost(26, 2);
  deepEqual(cost(24, 2).seqs, [24, 25]);
});

test("flash log: dropping names exactly the records lost; refusing starts exactly when the sector ahead holds one unacknowledged", () => {
  // 31-byte records, 7 to a 256-byte sector; 4 sectors: the head, two more and the spare.
  const p = (i: number) => new Uint8Array(20).fill(i);
  const f = flash(4, 256);
  const events: string[] = [];
  const log = new FlashLog(f, { onEvent: (e) => events.push(e) });
  for (let i = 0; i < 21; i++) log.append(p(i));
  deepEqual([events, log.dropped, log.tailSeq], [[], 0, 0], "three sectors full, nothing dropped yet");
  log.append(p(21)); // opens sector 3; sector 0 (0..6) is ahead and goes
  deepEqual(events, ["flash log: full; dropped 7 unacknowledged records (0..6)"]);
  deepEqual([log.dropped, log.stats.dropped, log.tailSeq], [7, 7, 7]);
  log.acknowledge(9);
  for (let i = 22; i < 29; i++) log.append(p(i)); // 28 opens sector 0; sector 1 (7..13) goes, 7..9 acknowledged
  deepEqual(events.slice(1), ["flash log: full; dropped 4 unacknowledged records (10..13)"]);
  deepEqual([log.dropped, log.stats.dropped, log.tailSeq], [11, 11, 14]);
  log.acknowledge(20);
  for (let i = 29; i < 36; i++) log.append(p(i)); // sector 2 (14..20) goes, all acknowledged: no drop
  deepEqual([events.length, log.dropped], [2, 11]);
  const again = new FlashLog(f);
  deepEqual([again.dropped, again.tailSeq, again.nextSeq], [11, 21, 36]);
  deepEqual(again.read(0, 100).map((r) => r.seq), Array.from({ length: 15 }, (_, i) => 21 + i));

  for (const ackUpTo of [6, 5]) {
    const strict = new FlashLog(flash(4, 256), { whenFull: "refuse" });
    for (let i = 0; i < 21; i++) strict.append(p(i));
    strict.acknowledge(ackUpTo);
    if (ackUpTo === 6) {
      equal(strict.append(p(21)), 21, "sector 0 fully acknowledged: room");
      deepEqual([strict.stats.refused, strict.dropped, strict.read(0, 100)[0].seq], [0, 0, 7]);
    } else {
      throws(() => strict.append(p(21)), LogFullError);
      deepEqual([strict.stats.refused, strict.nextSeq, strict.read(0, 100).length], [1, 21, 15], "record 6 still waits: refused, nothing lost");
    }
  }
});

test("flash log: the bytes on flash: magic, version, header fields; a wrong magic with a good CRC is not a log", () => {
  const f = flash(4, 256);
  const log = new FlashLog(f);
  deepEqual(Array.from(f.read(0, 8)), [0x49, 0x4c, 0x4f, 0x47, 1, 0xff, 0xff, 0xff], "ILOG, version 1, flags, reserved");
  deepEqual(Array.from(f.read(8, 16)), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "epoch 1, first 0, floor 0, dropped 0");
  log.append(text("a"));
  deepEqual(Array.from(f.read(SECTOR_HEADER_BYTES, 8)), [0xfe, 1, 0, 0, 0, 0, 0, 0x61], "committed, length 1, seq 0, the payload");
  log.acknowledge(0);
  equal(f.read(SECTOR_HEADER_BYTES, 1)[0], 0xfc, "committed and acknowledged");
  // Every magic byte counts: a header with a CRC that matches but another magic is other data.
  for (const wrong of [0, 3]) {
    const g = flash(4, 256);
    putHeader(g, 1, { epoch: 7, firstSeq: 5, floor: 0, dropped: 0 });
    g.write(256, Uint8Array.of(0x49, 0x4c, 0x4f, 0x47).map((b, i) => (i === wrong ? b & 0x08 : 0xff)));
    const header = g.read(256, SECTOR_HEADER_BYTES - 4);
    header[5] = 0xff;
    const crc = crc32(header);
    g.erase(1);
    g.write(256, header);
    g.write(256 + SECTOR_HEADER_BYTES - 4, Uint8Array.of(crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24));
    const events: string[] = [];
    const other = new FlashLog(g, { onEvent: (e) => events.push(e) });
    deepEqual([events, other.nextSeq], [["flash log: no log found (1 sectors hold other data); starting a new log"], 0], `magic byte ${wrong} wrong`);
  }
});

test("flash log: a record that exactly fills the head stays there; the next opens a sector", () => {
  const f = flash(4, 256);
  const log = new FlashLog(f);
  const n = (256 - SECTOR_HEADER_BYTES) / (RECORD_OVERHEAD + 8); // 12 records of 19 bytes fill sector 0 exactly
  for (let i = 0; i < n; i++) log.append(new Uint8Array(8).fill(i));
  deepEqual(Array.from(f.read(256, SECTOR_HEADER_BYTES)), Array.from(new Uint8Array(SECTOR_HEADER_BYTES).fill(0xff)), "sector 1 still blank");
  log.append(text("next"));
  deepEqual(Array.from(f.read(256, 4)), [0x49, 0x4c, 0x4f, 0x47], "sector 1 opened");
  const again = new FlashLog(f);
  deepEqual(again.read(0, 100).map((r) => r.seq), Array.from({ length: n + 1 }, (_, i) => i));
  equal(again.append(text("more")), n + 1);
});

test("flash log: at mount a spare holding stray data is erased and counted as a repair", () => {
  const f = flash(4, 256);
  new FlashLog(f).append(text("a"));
  f.write(256 + 100, Uint8Array.of(0x00)); // sector 1, the spare: a torn erase left a byte
  const log = new FlashLog(f);
  deepEqual([log.stats.erases, log.stats.repairs], [1, 1]);
  deepEqual(Array.from(f.read(256 + 100, 1)), [0xff]);
  const clean = new FlashLog(f);
  deepEqual([clean.stats.erases, clean.stats.repairs], [0, 0]);
});

test("flash log: a commit bit that does not stick costs a sector, with an event", () => {
  const sim = flash(4, 256);
  let failing = false;
  const device = {
    byteLength: sim.byteLength, blockSize: sim.blockSize,
    read: (o: number, l: number) => sim.read(o, l),
    erase: (sector: number) => sim.erase(sector),
    write: (o: number, d: Uint8Array) => {
      if (failing && d.length === 1 && d[0] === 0xfe) {
        failing = false; // this one program is lost
        return;
      }
      sim.write(o, d);
    },
  };
  const events: string[] = [];
  const log = new FlashLog(device, { onEvent: (e) => events.push(e) });
  log.append(text("a"));
  failing = true;
  equal(log.append(text("b")), 1);
  deepEqual(events, ["flash log: record 1 did not verify at sector 0 offset 40; moving to a new sector"]);
  deepEqual(log.read(0, 10).map((r) => str(r.payload)), ["a", "b"]);
  deepEqual(new FlashLog(sim).read(0, 10).map((r) => [r.seq, str(r.payload)]), [[0, "a"], [1, "b"]]);
});

test("flash log: acknowledging after the sector of the last acknowledgement was dropped and reused", () => {
  const p = (i: number) => new Uint8Array(20).fill(i);
  const f = flash(4, 256);
  const log = new FlashLog(f, { onEvent: () => {} });
  for (let i = 0; i < 10; i++) log.append(p(i));
  log.acknowledge(2); // the acknowledgement cursor is in sector 0
  for (let i = 10; i < 40; i++) log.append(p(i)); // sector 0 is dropped and reused
  const tail = log.tailSeq;
  assert(tail > 10, `tail ${tail}`);
  log.acknowledge(tail + 1);
  equal(log.tailSeq, tail + 2);
  const again = new FlashLog(f);
  equal(again.tailSeq, tail + 2);
  deepEqual(again.read(0, 100).map((r) => r.seq), Array.from({ length: 40 - tail - 2 }, (_, i) => tail + 2 + i));
});

test("flash log: acknowledging programs one flag byte per record newly acknowledged, plus one per sector left fully acknowledged", () => {
  const f = flash(8, 256);
  let log = new FlashLog(f);
  for (let i = 0; i < 30; i++) log.append(new Uint8Array(20).fill(i)); // 7 records to a sector
  const programs = (fn: () => void) => {
    const before = f.stats.programs;
    fn();
    return f.stats.programs - before;
  };
  equal(programs(() => log.acknowledge(2)), 3);
  equal(programs(() => log.acknowledge(2)), 0, "nothing new");
  equal(programs(() => log.acknowledge(8)), 6 + 1, "3..8, and sector 0's header flag");
  log = new FlashLog(f); // the cursor is found again at mount
  equal(programs(() => log.acknowledge(10)), 2);
  log = new FlashLog(f);
  equal(programs(() => log.acknowledge(29)), 19 + 3, "11..29, and the flags of sectors 1, 2 and 3");
  equal(new FlashLog(f).pendingRecords, 0);
});

test("flash log: mount details: an empty head, a clean head, an uncommitted record, stray bits in the last 11 bytes", () => {
  // A formatted log with nothing in it mounts at sequence 0 and appends where it is.
  const f = flash(4, 256);
  new FlashLog(f);
  const empty = new FlashLog(f);
  deepEqual([empty.nextSeq, empty.tailSeq], [0, 0]);
  equal(empty.append(text("a")), 0);
  // A clean head takes more records after a restart: sector 1 stays blank.
  const clean = new FlashLog(f);
  equal(clean.append(text("b")), 1);
  deepEqual(Array.from(f.read(256, 4)), [0xff, 0xff, 0xff, 0xff], "b went into sector 0");
  deepEqual(Array.from(f.read(SECTOR_HEADER_BYTES + 12, 3)), [0xfe, 1, 0]);
  // A complete record whose commit bit was never cleared is torn.
  const g = flash(4, 256);
  new FlashLog(g).append(text("a"));
  const uncommitted = recordBytes(1, text("bb"));
  uncommitted[0] = 0xff;
  g.write(40, uncommitted);
  const events: string[] = [];
  const torn = new FlashLog(g, { onEvent: (e) => events.push(e) });
  deepEqual(events, ["flash log: discarded a torn or corrupt record in sector 0 at offset 40"]);
  deepEqual(torn.read(0, 10).map((r) => r.seq), [0]);
  equal(torn.nextSeq, 1);
  // Seven 31-byte records leave 11 bytes, too few for a record; stray bits there still close the head.
  const h = flash(4, 256);
  const log = new FlashLog(h);
  for (let i = 0; i < 7; i++) log.append(new Uint8Array(20).fill(i));
  h.write(256 - 3, Uint8Array.of(0x00));
  const seen: string[] = [];
  new FlashLog(h, { onEvent: (e) => seen.push(e) });
  deepEqual(seen, ["flash log: sector 0 has stray bits after its last record; continuing in a new sector"]);
});

test("flash log: mount skips sectors flagged fully acknowledged: a few flash reads, not a scan of every record", () => {
  const f = flash(8, 256);
  const log = new FlashLog(f);
  for (let i = 0; i < 30; i++) log.append(new Uint8Array(20).fill(i)); // sectors 0..3 full, 28 and 29 in sector 4
  log.acknowledge(27); // sectors 0..3 flagged
  const before = f.stats.reads;
  const again = new FlashLog(f);
  const reads = f.stats.reads - before;
  deepEqual([again.tailSeq, again.read(0, 10).map((r) => r.seq)], [28, [28, 29]]);
  // 8 headers, the head's two records (2 reads each) and its free space, the tail scan of the head, the spare
  assert(reads <= 8 + 6 + 5 + 1, `mount read the flash ${reads} times`);
});

test("flash log: acknowledging after a restart with nothing pending finds its place from the tail", () => {
  const f = flash(6, 256);
  let log = new FlashLog(f);
  for (let i = 0; i < 10; i++) log.append(new Uint8Array(20).fill(i));
  log.acknowledge(9);
  log = new FlashLog(f);
  equal(log.pendingRecords, 0);
  for (let i = 10; i < 14; i++) log.append(new Uint8Array(20).fill(i));
  const before = f.stats.programs;
  log.acknowledge(11);
  equal(f.stats.programs - before, 2, "exactly records 10 and 11 marked");
  equal(log.tailSeq, 12);
  const again = new FlashLog(f);
  deepEqual([again.tailSeq, again.read(0, 10).map((r) => r.seq)], [12, [12, 13]]);
});
