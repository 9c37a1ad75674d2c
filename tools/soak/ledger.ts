// The ledger of a simulated device: every record the firmware appended to its flash log, taken from
// the simulated NOR flash as it is programmed (not from the firmware's own log lines), so a soak can
// check the store against what the device produced, value by value.
//
// An append programs bytes 1.. of a record (length, sequence number, payload, CRC) in one write and
// then clears the commit bit (src/log/FORMAT.md). The ledger notes both, synchronously, in a file
// that a killed process leaves as it was. Reading it back: the last candidate written for a sequence
// number is the record (a torn append is written again under the same number), and it was produced
// if its commit was noted or any later candidate has a higher number (the log only moves on past a
// committed record).

import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { crc32 } from "../../src/log/crc32.ts";
import type { SimNorFlash } from "../../sim/nor-flash.ts";

const CANDIDATE = 0x50; // "P"
const COMMIT = 0x43; // "C"

/** Wraps the partition's write so that every record programmed into it is noted in the ledger file. */
export function recordLedger(flash: SimNorFlash, path: string): { close(): void } {
  const fd = openSync(path, "a");
  const original = flash.write.bind(flash);
  let pending: { offset: number; seq: number } | undefined;
  flash.write = (offset: number, data: Uint8Array) => {
    if (data.length >= 11) {
      const length = data[0] | (data[1] << 8);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      if (length + 10 === data.length && view.getUint32(data.length - 4, true) === crc32(data, 0, data.length - 4)) {
        const seq = view.getUint32(2, true);
        const entry = Buffer.alloc(7 + length);
        entry[0] = CANDIDATE;
        entry.writeUInt32LE(seq, 1);
        entry.writeUInt16LE(length, 5);
        entry.set(data.subarray(6, 6 + length), 7);
        writeSync(fd, entry);
        pending = { offset, seq };
      }
    }
    original(offset, data);
    // The commit: bit 0 of the flag byte just before the record's length, cleared after the record.
    if (pending && data.length === 1 && offset === pending.offset - 1 && (data[0] & 1) === 0) {
      const entry = Buffer.alloc(5);
      entry[0] = COMMIT;
      entry.writeUInt32LE(pending.seq, 1);
      writeSync(fd, entry);
      pending = undefined;
    }
  };
  return {
    close() {
      flash.write = original;
      closeSync(fd);
    },
  };
}

/** Records produced, by sequence number, from one or more runs' ledger files in boot order. */
export function readLedger(paths: readonly string[]): Map<number, Uint8Array> {
  const candidates = new Map<number, Uint8Array>();
  const committed = new Set<number>();
  let highest = -1;
  const order: number[] = [];
  for (const path of paths) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      continue;
    }
    let i = 0;
    while (i < bytes.length) {
      const kind = bytes[i];
      if (kind === COMMIT && i + 5 <= bytes.length) {
        committed.add(bytes.readUInt32LE(i + 1));
        i += 5;
      } else if (kind === CANDIDATE && i + 7 <= bytes.length) {
        const seq = bytes.readUInt32LE(i + 1);
        const length = bytes.readUInt16LE(i + 5);
        if (i + 7 + length > bytes.length) break; // cut by a kill while being written: never programmed
        // A later record with a higher number commits every earlier one.
        for (const s of order) if (s < seq) committed.add(s);
        order.length = 0;
        order.push(seq);
        candidates.set(seq, new Uint8Array(bytes.subarray(i + 7, i + 7 + length)));
        committed.delete(seq); // written again: this one is the record, committed or not
        if (seq > highest) highest = seq;
        i += 7 + length;
      } else break;
    }
  }
  const produced = new Map<number, Uint8Array>();
  for (const [seq, payload] of candidates) if (committed.has(seq)) produced.set(seq, payload);
  return produced;
}
