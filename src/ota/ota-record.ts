// The update's persisted state, pure: one small record (under 300 bytes) saying which job is under
// way, how far its download got, and what happened at activation. It is what survives a power cut
// or a reboot into the new image. FlashRecordStore keeps it on two flash sectors (a small data
// partition on ESP32, the simulated NOR flash elsewhere): each save appends a new copy with a
// sequence number and CRC, so a save cut short by a power cut leaves the previous copy in force.

import { crc32 } from "../log/crc32";
import type { FlashDevice } from "../log/flash-log";
import { utf8Decode, utf8Encode } from "../util/utf8";

export type OtaPhase = "downloading" | "verified" | "activated" | "testing" | "succeeded" | "failed";
const PHASES: OtaPhase[] = ["downloading", "verified", "activated", "testing", "succeeded", "failed"];

export interface OtaRecord {
  phase: OtaPhase;
  jobId: string;
  /** The version being installed, and the one it replaces. */
  version: string;
  fromVersion: string;
  size: number;
  blockSize: number;
  /** Blocks written and read back (downloading). */
  nextBlock: number;
  sha256: Uint8Array;
  /** Why the update failed (failed). */
  reason: string;
  /** Times the new image was activated and the previous one came back without a verdict. */
  attempts: number;
}

const RECORD_MAGIC = 0x4f; // "O"
const RECORD_FORMAT = 1;

export function encodeRecord(r: OtaRecord): Uint8Array {
  const strings = [r.jobId, r.version, r.fromVersion, r.reason].map((s) => utf8Encode(s.slice(0, 120)));
  const out = new Uint8Array(4 + 12 + 32 + strings.reduce((n, s) => n + 1 + s.length, 0));
  out[0] = RECORD_MAGIC;
  out[1] = RECORD_FORMAT;
  out[2] = PHASES.indexOf(r.phase);
  out[3] = Math.min(255, r.attempts);
  const view = new DataView(out.buffer);
  view.setUint32(4, r.size);
  view.setUint32(8, r.blockSize);
  view.setUint32(12, r.nextBlock);
  out.set(r.sha256.subarray(0, 32), 16);
  let at = 48;
  for (const s of strings) {
    const n = Math.min(s.length, 255);
    out[at++] = n;
    out.set(s.subarray(0, n), at);
    at += n;
  }
  return out.subarray(0, at);
}

/** The record, or undefined when bytes are not one (another format, or damaged). */
export function decodeRecord(bytes: Uint8Array): OtaRecord | undefined {
  if (bytes.length < 52 || bytes[0] !== RECORD_MAGIC || bytes[1] !== RECORD_FORMAT || bytes[2] >= PHASES.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let at = 48;
  for (let i = 0; i < 4; i++) {
    const n = bytes[at++];
    if (n === undefined || at + n > bytes.length) return undefined;
    strings.push(utf8Decode(bytes.subarray(at, at + n)));
    at += n;
  }
  return {
    phase: PHASES[bytes[2]],
    attempts: bytes[3],
    size: view.getUint32(4),
    blockSize: view.getUint32(8),
    nextBlock: view.getUint32(12),
    sha256: bytes.slice(16, 48),
    jobId: strings[0],
    version: strings[1],
    fromVersion: strings[2],
    reason: strings[3],
  };
}

/** Where the record lives: the last saved bytes, or undefined after clear (or before any save). */
export interface RecordStore {
  load(): Uint8Array | undefined;
  save(bytes: Uint8Array | undefined): void;
}

const ENTRY_MARKER = 0xa5;
/** marker(1) length(2) seq(4) payload crc(4) */
const ENTRY_OVERHEAD = 11;

/**
 * A record store on two sectors of a flash partition. Saves append; when the sector in use is full
 * (or holds a torn entry), the other sector is erased and the record is written there.
 */
export class FlashRecordStore implements RecordStore {
  readonly #flash: FlashDevice;
  readonly #first: number;
  #sector = 0;
  #offset = 0;
  #seq = 0;
  #latest: Uint8Array | undefined;
  /** The sector in use cannot take another entry (full, or a torn entry at its end). */
  #closed = true;

  /** Uses sectors first and first + 1 of flash. */
  constructor(flash: FlashDevice, first = 0) {
    if (first < 0 || (first + 2) * flash.blockSize > flash.byteLength) throw new RangeError("record store: two sectors needed");
    this.#flash = flash;
    this.#first = first;
    this.#mount();
  }

  load(): Uint8Array | undefined {
    return this.#latest?.slice();
  }

  save(bytes: Uint8Array | undefined): void {
    const payload = bytes ?? new Uint8Array(0);
    const size = this.#flash.blockSize;
    if (payload.length + ENTRY_OVERHEAD > size) throw new RangeError("record store: record larger than a sector");
    const entry = new Uint8Array(ENTRY_OVERHEAD + payload.length);
    const seq = (this.#seq + 1) >>> 0;
    entry[0] = ENTRY_MARKER;
    entry[1] = payload.length >> 8;
    entry[2] = payload.length & 0xff;
    new DataView(entry.buffer).setUint32(3, seq);
    entry.set(payload, 7);
    new DataView(entry.buffer).setUint32(7 + payload.length, crc32(entry, 1, 7 + payload.length));
    if (this.#closed || this.#offset + entry.length > size) {
      this.#sector ^= 1;
      this.#flash.erase(this.#first + this.#sector);
      this.#offset = 0;
      this.#closed = false;
    }
    // From here a power cut leaves the entry torn (CRC fails) and the previous record in force.
    this.#flash.write((this.#first + this.#sector) * size + this.#offset, entry);
    this.#offset += entry.length;
    this.#seq = seq;
    this.#latest = payload.length > 0 ? payload.slice() : undefined;
  }

  #mount(): void {
    const size = this.#flash.blockSize;
    let best: { seq: number; sector: number; end: number; closed: boolean; payload: Uint8Array } | undefined;
    for (let s = 0; s < 2; s++) {
      const bytes = this.#flash.read((this.#first + s) * size, size);
      let at = 0;
      let closed = false;
      let last: { seq: number; payload: Uint8Array } | undefined;
      while (at < size && bytes[at] !== 0xff) {
        const length = at + 3 <= size ? (bytes[at + 1] << 8) | bytes[at + 2] : -1;
        const end = at + ENTRY_OVERHEAD + length;
        if (bytes[at] !== ENTRY_MARKER || length < 0 || end > size) {
          closed = true;
          break;
        }
        const view = new DataView(bytes.buffer, bytes.byteOffset);
        if (view.getUint32(end - 4) !== crc32(bytes, at + 1, end - 4)) {
          closed = true;
          break;
        }
        last = { seq: view.getUint32(at + 3), payload: bytes.slice(at + 7, end - 4) };
        at = end;
      }
      // A torn save can leave its first byte erased and later bytes programmed: appending over
      // those would corrupt the next save, so a sector whose free space is not blank is closed.
      for (let i = at; i < size && !closed; i++) if (bytes[i] !== 0xff) closed = true;
      // seq numbers only grow; compare with wrap-around in mind
      if (last && (!best || ((last.seq - best.seq) | 0) > 0)) best = { seq: last.seq, sector: s, end: at, closed, payload: last.payload };
    }
    if (best) {
      this.#sector = best.sector;
      this.#offset = best.end;
      this.#seq = best.seq;
      this.#closed = best.closed;
      this.#latest = best.payload.length > 0 ? best.payload : undefined;
    } else {
      this.#sector = 1; // the next save erases sector 0 and starts there
      this.#closed = true;
    }
  }
}
