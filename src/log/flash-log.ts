// A crash-safe store-and-forward log on a raw NOR flash partition. The on-flash format is specified
// in src/log/FORMAT.md; this file is the only code that reads or writes it.
// Pure: it talks to a FlashDevice, so it runs on ESP32 (Moddable `flash`), on the simulated NOR flash
// and on the XS engine in tests.

import { crc32 } from "./crc32";

/** A raw partition: programming clears bits, erase sets a sector to 0xFF. */
export interface FlashDevice {
  readonly byteLength: number;
  readonly blockSize: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  erase(sector: number): void;
}

export interface LogRecord {
  seq: number;
  payload: Uint8Array;
}

export type FullPolicy = "drop-oldest" | "refuse";

export interface FlashLogOptions {
  /** What to do when the partition is full of unacknowledged records (default drop-oldest). */
  whenFull?: FullPolicy;
  /** Recovery and maintenance events worth reporting (reformat, torn record, drops). */
  onEvent?: (message: string) => void;
}

export class LogFullError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "LogFullError";
  constructor() {
    super("flash log is full of unacknowledged records");
  }
}

export class FlashLogError extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "FlashLogError";
  constructor(message: string) {
    super(message);
  }
}

export const FORMAT_VERSION = 1;
const MAGIC = [0x49, 0x4c, 0x4f, 0x47]; // "ILOG"
export const SECTOR_HEADER_BYTES = 28;
const HEADER_FLAGS_OFFSET = 5;
const FLAG_FULLY_ACKED = 0x01; // in the sector header flags byte, cleared when every record is acknowledged
const RECORD_COMMITTED = 0x01; // in a record's flags byte, cleared once the record is complete
const RECORD_ACKED = 0x02; // cleared once the record is acknowledged
/** flags(1) length(2) seq(4) ... crc(4) */
export const RECORD_OVERHEAD = 11;
const RECORD_PREFIX = 7;
const BLANK_LENGTH = 0xffff;

/** Per-sector flags kept in RAM: the sector is in the live run, and its header says fully acknowledged. */
const SECTOR_LIVE = 0x01;
const SECTOR_FULLY_ACKED = 0x02;

interface Position {
  sector: number;
  /** The sector's epoch when the position was taken: a reused sector is another sector. */
  epoch: number;
  offset: number;
}

export interface FlashLogStats {
  appended: number;
  /** Records dropped since the partition was formatted (durable). */
  dropped: number;
  refused: number;
  /** Bytes of records appended (header, payload and CRC) in this session. */
  recordBytes: number;
  erases: number;
  /** Sectors erased during mount to repair the partition. */
  repairs: number;
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

function allErased(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0xff) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function headerCrc(header: Uint8Array): number {
  const copy = header.slice(0, SECTOR_HEADER_BYTES - 4);
  copy[HEADER_FLAGS_OFFSET] = 0xff; // the flags byte changes after the header is written
  return crc32(copy);
}

/** A record boundary: the record with sequence number seq is (or will be) at this position. */
interface ReadHint extends Position {
  seq: number;
}

type RecordScan =
  | { kind: "record"; seq: number; size: number; acked: boolean; payload?: Uint8Array }
  | { kind: "end" } // blank space
  | { kind: "broken" }; // torn, uncommitted or corrupt: nothing after it in this sector is trusted

export class FlashLog {
  readonly #flash: FlashDevice;
  readonly #sectorCount: number;
  readonly #sectorSize: number;
  readonly #whenFull: FullPolicy;
  readonly #onEvent: (message: string) => void;
  // What the live sectors' headers say, by physical index, in typed arrays: a full 2 MiB partition
  // has 512 sectors, and an object each would not fit an ESP32 board's heap (it aborted at boot).
  readonly #epochs: Uint32Array;
  readonly #firstSeqs: Uint32Array;
  readonly #flags: Uint8Array;
  /** The live sectors are a run in ring order: #liveCount of them from #oldest; the last is the head. */
  #oldest = 0;
  #liveCount = 0;
  #headOffset = 0;
  /** The head cannot take more records (it holds a torn write): the next append opens a sector. */
  #headClosed = false;
  #nextSeq = 0;
  #nextEpoch = 0;
  /** Every record with a smaller sequence number is acknowledged or dropped. */
  #tailSeq = 0;
  #dropped = 0;
  #ackCursor: Position | undefined;
  /** Where the last read's first record was, and where the record after its last one goes. */
  readonly #readStart: ReadHint = { seq: -1, sector: -1, epoch: -1, offset: 0 };
  readonly #readEnd: ReadHint = { seq: -1, sector: -1, epoch: -1, offset: 0 };
  readonly stats: FlashLogStats = { appended: 0, dropped: 0, refused: 0, recordBytes: 0, erases: 0, repairs: 0 };

  constructor(flash: FlashDevice, options: FlashLogOptions = {}) {
    this.#flash = flash;
    this.#sectorSize = flash.blockSize;
    this.#sectorCount = Math.floor(flash.byteLength / flash.blockSize);
    if (this.#sectorCount < 3) throw new RangeError("a flash log needs at least 3 sectors");
    this.#epochs = new Uint32Array(this.#sectorCount);
    this.#firstSeqs = new Uint32Array(this.#sectorCount);
    this.#flags = new Uint8Array(this.#sectorCount);
    this.#whenFull = options.whenFull ?? "drop-oldest";
    if (this.#whenFull !== "drop-oldest" && this.#whenFull !== "refuse") throw new RangeError(`unknown full policy ${this.#whenFull}`);
    this.#onEvent = options.onEvent ?? (() => {});
    this.#mount();
  }

  /** The largest payload one record can carry. */
  get maxPayloadBytes(): number {
    return this.#sectorSize - SECTOR_HEADER_BYTES - RECORD_OVERHEAD;
  }

  /** Sequence number the next append will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The oldest unacknowledged record's sequence number (== nextSeq when none are waiting). */
  get tailSeq(): number {
    return this.#tailSeq;
  }

  get pendingRecords(): number {
    return this.#nextSeq - this.#tailSeq;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get sectorCount(): number {
    return this.#sectorCount;
  }

  /** Appends one record; returns its sequence number once it is durable on flash. */
  append(payload: Uint8Array): number {
    if (payload.length === 0 || payload.length > this.maxPayloadBytes)
      throw new RangeError(`record payload of ${payload.length} bytes; 1..${this.maxPayloadBytes} allowed`);
    const size = RECORD_OVERHEAD + payload.length;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.#headClosed || this.#headOffset + size > this.#sectorSize) this.#openSector();
      const seq = this.#nextSeq;
      if (this.#writeRecord(this.#head, this.#headOffset, seq, payload)) {
        this.#headOffset += size;
        this.#nextSeq = seq + 1;
        this.stats.appended++;
        this.stats.recordBytes += size;
        return seq;
      }
      // Read-back mismatch: the space was not clean. Never reuse it; move to a fresh sector.
      this.#onEvent(`flash log: record ${seq} did not verify at sector ${this.#head} offset ${this.#headOffset}; moving to a new sector`);
      this.#headClosed = true;
    }
    throw new FlashLogError("flash log: records do not verify after writing; the flash may be failing");
  }

  /** Up to maxRecords records with seq >= fromSeq (and >= tailSeq), in order, within maxBytes of payload. */
  read(fromSeq: number, maxRecords: number, maxBytes = Infinity): LogRecord[] {
    const out: LogRecord[] = [];
    let want = Math.max(fromSeq, this.#tailSeq);
    let bytes = 0;
    let index = this.#sectorIndexFor(want);
    let offset = this.#hintFor(want, this.#orderAt(index));
    while (index >= 0 && index < this.#liveCount && out.length < maxRecords) {
      const sector = this.#orderAt(index);
      const end = this.#endOf(index);
      while (offset < end && out.length < maxRecords) {
        const scan = this.#scanRecord(sector, offset, true);
        if (scan.kind !== "record") break;
        if (scan.seq >= want && scan.seq < this.#nextSeq) {
          if (bytes + scan.payload!.length > maxBytes && out.length > 0) return out;
          if (out.length === 0) this.#remember(this.#readStart, scan.seq, sector, offset);
          out.push({ seq: scan.seq, payload: scan.payload! });
          bytes += scan.payload!.length;
          want = scan.seq + 1;
          this.#remember(this.#readEnd, want, sector, offset + scan.size);
        }
        offset += scan.size;
      }
      index++;
      offset = SECTOR_HEADER_BYTES;
    }
    return out;
  }

  /** Marks every record up to and including upTo as delivered; durable when it returns. */
  acknowledge(upTo: number): void {
    if (!Number.isInteger(upTo)) throw new RangeError(`acknowledge(${upTo})`);
    if (upTo >= this.#nextSeq) throw new RangeError(`acknowledge(${upTo}) is past the newest record ${this.#nextSeq - 1}`);
    if (upTo < this.#tailSeq) return;
    let cursor = this.#ackCursor;
    if (!cursor || this.#indexOf(cursor.sector) < 0 || this.#epochs[cursor.sector] !== cursor.epoch) cursor = this.#positionOf(this.#tailSeq);
    // The cursor's fields as locals, made an object again once at the end: a new cursor object per
    // record was garbage on every record of a replay.
    let { sector, epoch, offset } = cursor;
    for (;;) {
      const index = this.#indexOf(sector);
      const scan: RecordScan = offset < this.#endOf(index) ? this.#scanRecord(sector, offset, false) : { kind: "end" };
      if (scan.kind === "record") {
        if (scan.seq > upTo) break;
        if (!scan.acked) this.#writeByte(sector * this.#sectorSize + offset, 0xff & ~RECORD_ACKED);
        offset += scan.size;
        continue;
      }
      if (index === this.#liveCount - 1) break; // the head: nothing beyond it yet
      this.#markFullyAcked(sector);
      ({ sector, epoch, offset } = this.#startOf(this.#orderAt(index + 1)));
    }
    this.#ackCursor = { sector, epoch, offset };
    this.#tailSeq = upTo + 1;
  }

  // ---- mount and repair ------------------------------------------------------------------------

  #mount(): void {
    let unknownVersion: number | undefined;
    let dirty = 0;
    let head = -1;
    let floor = 0;
    for (let s = 0; s < this.#sectorCount; s++) {
      const header = this.#flash.read(s * this.#sectorSize, SECTOR_HEADER_BYTES);
      if (allErased(header)) continue;
      const magicOk = MAGIC.every((b, i) => header[i] === b);
      const crcOk = u32(header, SECTOR_HEADER_BYTES - 4) === headerCrc(header);
      if (magicOk && crcOk && header[4] !== FORMAT_VERSION) {
        unknownVersion = header[4];
        continue;
      }
      if (!magicOk || !crcOk) {
        dirty++;
        continue;
      }
      // Valid: a candidate for the live run (decided below), and its floor and drop count count.
      this.#epochs[s] = u32(header, 8);
      this.#firstSeqs[s] = u32(header, 12);
      this.#flags[s] = SECTOR_LIVE | ((header[HEADER_FLAGS_OFFSET] & FLAG_FULLY_ACKED) === 0 ? SECTOR_FULLY_ACKED : 0);
      floor = Math.max(floor, u32(header, 16));
      this.#dropped = Math.max(this.#dropped, u32(header, 20));
      if (head < 0 || this.#epochs[s] >= this.#epochs[head]) head = s;
    }
    if (unknownVersion !== undefined) {
      this.#onEvent(`flash log: partition holds format version ${unknownVersion}, this firmware writes ${FORMAT_VERSION}; reformatting`);
      // Headers are read again rather than kept: 512 of them would not fit a device's heap at once.
      for (let s = 0; s < this.#sectorCount; s++) if (!allErased(this.#flash.read(s * this.#sectorSize, SECTOR_HEADER_BYTES))) this.#erase(s, true);
      this.#flags.fill(0);
      this.#dropped = 0;
      head = -1;
    }
    if (head < 0) {
      if (dirty > 0) this.#onEvent(`flash log: no log found (${dirty} sectors hold other data); starting a new log`);
      this.#startEmpty();
      return;
    }
    this.#nextEpoch = this.#epochs[head] + 1;
    // Live sectors: the run of valid sectors that ends at the head, in ring order with rising
    // epochs, whose records may still be at or above the floor. Anything else is stale.
    let oldest = head;
    let count = 1;
    for (; count < this.#sectorCount; count++) {
      const s = (head - count + this.#sectorCount) % this.#sectorCount;
      if (!(this.#flags[s] & SECTOR_LIVE) || this.#epochs[s] >= this.#epochs[oldest] || this.#firstSeqs[s] > this.#firstSeqs[oldest]) break;
      if (this.#firstSeqs[oldest] <= floor) break; // everything in s is below the floor
      oldest = s;
    }
    this.#oldest = oldest;
    this.#liveCount = count;
    for (let s = 0; s < this.#sectorCount; s++) if (this.#indexOf(s) < 0) this.#flags[s] = 0;

    // The head: find where appending continues, and whether it still can.
    let offset = SECTOR_HEADER_BYTES;
    let lastSeq = -1;
    let closed = false;
    for (;;) {
      if (offset + RECORD_OVERHEAD > this.#sectorSize) break;
      const scan = this.#scanRecord(head, offset, false);
      if (scan.kind === "record") {
        lastSeq = scan.seq;
        offset += scan.size;
        continue;
      }
      if (scan.kind === "broken") {
        closed = true;
        this.#onEvent(`flash log: discarded a torn or corrupt record in sector ${head} at offset ${offset}`);
      } else if (!allErased(this.#flash.read(head * this.#sectorSize + offset, this.#sectorSize - offset))) {
        closed = true;
        this.#onEvent(`flash log: sector ${head} has stray bits after its last record; continuing in a new sector`);
      }
      break;
    }
    this.#headOffset = offset;
    this.#headClosed = closed;
    this.#nextSeq = Math.max(lastSeq + 1, this.#firstSeqs[head], floor);
    this.#tailSeq = Math.max(floor, this.#firstSeqs[oldest]);
    this.#findTail();
    this.#ensureSpare();
  }

  #startEmpty(): void {
    this.#liveCount = 0;
    this.#nextSeq = 0;
    this.#tailSeq = 0;
    this.#nextEpoch = 1;
    // Sector 0 becomes the head (erased first if it holds anything), sector 1 the spare.
    this.#prepareErased(0);
    this.#openSector();
  }

  /** Walks acknowledged records from the floor to find the oldest unacknowledged one. */
  #findTail(): void {
    this.#ackCursor = undefined;
    for (let index = 0; index < this.#liveCount; index++) {
      const sector = this.#orderAt(index);
      const isHead = index === this.#liveCount - 1;
      if (!(this.#flags[sector] & SECTOR_FULLY_ACKED) || isHead) {
        let offset = SECTOR_HEADER_BYTES;
        const end = this.#endOf(index);
        while (offset < end) {
          const scan = this.#scanRecord(sector, offset, false);
          if (scan.kind !== "record") break;
          if (scan.seq >= this.#tailSeq) {
            if (!scan.acked) {
              this.#tailSeq = scan.seq;
              this.#ackCursor = { sector, epoch: this.#epochs[sector], offset };
              return;
            }
            this.#tailSeq = scan.seq + 1;
          }
          offset += scan.size;
        }
      }
      if (!isHead) this.#tailSeq = Math.max(this.#tailSeq, this.#firstSeqs[this.#orderAt(index + 1)]);
    }
    this.#tailSeq = Math.min(this.#tailSeq, this.#nextSeq);
  }

  /** The sector after the head must be erased before the head fills. */
  #ensureSpare(): void {
    const head = this.#head;
    this.#prepareErased((head + 1) % this.#sectorCount);
  }

  #prepareErased(sector: number): void {
    if (!allErased(this.#flash.read(sector * this.#sectorSize, this.#sectorSize))) this.#erase(sector, true);
  }

  // ---- appending -------------------------------------------------------------------------------

  get #head(): number {
    return this.#orderAt(this.#liveCount - 1);
  }

  /** The live sector at index i of the run, oldest first. */
  #orderAt(i: number): number {
    return (this.#oldest + i) % this.#sectorCount;
  }

  /** Where sector stands in the live run, or -1. */
  #indexOf(sector: number): number {
    const i = (sector - this.#oldest + this.#sectorCount) % this.#sectorCount;
    return i < this.#liveCount ? i : -1;
  }

  /** Opens the spare sector as the new head and erases the one after it (erase-ahead). */
  #openSector(): void {
    const oldHead = this.#liveCount > 0 ? this.#head : this.#sectorCount - 1;
    const next = (oldHead + 1) % this.#sectorCount;
    const ahead = (next + 1) % this.#sectorCount;
    let floor = this.#tailSeq;
    // In a ring-ordered run, the sector after the new head is live only as the oldest.
    const aheadIndex = this.#indexOf(ahead);
    if (aheadIndex >= 0) {
      // The sector to erase next still holds live records: everything in it goes.
      const end = aheadIndex + 1 < this.#liveCount ? this.#firstSeqs[this.#orderAt(aheadIndex + 1)] : this.#nextSeq;
      const lost = Math.max(0, end - this.#tailSeq);
      if (lost > 0 && this.#whenFull === "refuse") {
        this.stats.refused++;
        throw new LogFullError();
      }
      if (lost > 0) {
        this.#dropped += lost;
        this.stats.dropped += lost;
        this.#onEvent(`flash log: full; dropped ${lost} unacknowledged records (${this.#tailSeq}..${end - 1})`);
      }
      floor = Math.max(floor, end);
    }
    const header = new Uint8Array(SECTOR_HEADER_BYTES).fill(0xff);
    header.set(MAGIC, 0);
    header[4] = FORMAT_VERSION;
    putU32(header, 8, this.#nextEpoch);
    putU32(header, 12, this.#nextSeq);
    putU32(header, 16, floor);
    putU32(header, 20, this.#dropped);
    putU32(header, SECTOR_HEADER_BYTES - 4, headerCrc(header));
    const at = next * this.#sectorSize;
    for (let attempt = 0; ; attempt++) {
      this.#flash.write(at, header);
      if (sameBytes(this.#flash.read(at, SECTOR_HEADER_BYTES), header)) break;
      this.#erase(next, true);
      if (attempt === 1) throw new FlashLogError(`flash log: sector ${next} header did not verify; the flash may be failing`);
    }
    this.#epochs[next] = this.#nextEpoch;
    this.#firstSeqs[next] = this.#nextSeq;
    this.#flags[next] = SECTOR_LIVE;
    this.#nextEpoch++;
    if (this.#liveCount === 0) this.#oldest = next;
    this.#liveCount++;
    this.#headOffset = SECTOR_HEADER_BYTES;
    this.#headClosed = false;
    if (floor > this.#tailSeq) {
      this.#tailSeq = floor;
      this.#ackCursor = undefined;
    }
    // Now that the floor is durable in the new head, the sector ahead can go.
    if (aheadIndex >= 0) this.#dropOldest(); // aheadIndex is 0: see above
    // Sectors entirely below the floor are dead: forget them so the run holds only live records.
    while (this.#liveCount > 1 && this.#firstSeqs[this.#orderAt(1)] <= floor) this.#dropOldest();
    this.#prepareErased(ahead);
  }

  #dropOldest(): void {
    this.#flags[this.#oldest] = 0;
    this.#oldest = (this.#oldest + 1) % this.#sectorCount;
    this.#liveCount--;
  }

  #writeRecord(sector: number, offset: number, seq: number, payload: Uint8Array): boolean {
    const body = new Uint8Array(RECORD_OVERHEAD - 1 + payload.length);
    body[0] = payload.length & 0xff;
    body[1] = payload.length >> 8;
    putU32(body, 2, seq);
    body.set(payload, 6);
    putU32(body, 6 + payload.length, crc32(body, 0, 6 + payload.length));
    const at = sector * this.#sectorSize + offset;
    this.#flash.write(at + 1, body);
    if (!sameBytes(this.#flash.read(at + 1, body.length), body)) return false;
    this.#writeByte(at, 0xff & ~RECORD_COMMITTED);
    return (this.#flash.read(at, 1)[0] & RECORD_COMMITTED) === 0;
  }

  #writeByte(at: number, value: number): void {
    this.#flash.write(at, Uint8Array.of(value));
  }

  #markFullyAcked(sector: number): void {
    if (!(this.#flags[sector] & SECTOR_LIVE) || this.#flags[sector] & SECTOR_FULLY_ACKED) return;
    this.#writeByte(sector * this.#sectorSize + HEADER_FLAGS_OFFSET, 0xff & ~FLAG_FULLY_ACKED);
    this.#flags[sector] |= SECTOR_FULLY_ACKED;
  }

  #erase(sector: number, repair: boolean): void {
    this.#flash.erase(sector);
    this.stats.erases++;
    if (repair) this.stats.repairs++;
  }

  // ---- reading ---------------------------------------------------------------------------------

  /** Where a sector's records end: the head's append point, or the sector's end. */
  #endOf(index: number): number {
    return index === this.#liveCount - 1 ? this.#headOffset : this.#sectorSize;
  }

  #sectorIndexFor(seq: number): number {
    for (let i = this.#liveCount - 1; i >= 0; i--) if (this.#firstSeqs[this.#orderAt(i)] <= seq) return i;
    return 0;
  }

  /** Where the record with this sequence number is, or where it will be appended. */
  #positionOf(seq: number): Position {
    const index = this.#sectorIndexFor(seq);
    const sector = this.#orderAt(index);
    let offset = SECTOR_HEADER_BYTES;
    const end = this.#endOf(index);
    while (offset < end) {
      const scan = this.#scanRecord(sector, offset, false);
      if (scan.kind !== "record" || scan.seq >= seq) break;
      offset += scan.size;
    }
    return { sector, epoch: this.#epochs[sector], offset };
  }

  /**
   * Where to start scanning sector for the record want: the sector's first record, or a record
   * boundary a recent read passed in it. Records only follow each other in rising order, so a
   * boundary whose record was at or below want is a safe start; the epoch tells a reused sector.
   * The uplink reads from where its last batch began or ended: without this every read would scan
   * (and CRC) its sector from the start, garbage for each record on a device-sized heap.
   */
  #hintFor(want: number, sector: number): number {
    const start = this.#usable(this.#readStart, want, sector);
    const end = this.#usable(this.#readEnd, want, sector);
    if (end && (!start || this.#readEnd.seq > this.#readStart.seq)) return this.#readEnd.offset;
    return start ? this.#readStart.offset : SECTOR_HEADER_BYTES;
  }

  #usable(hint: ReadHint, want: number, sector: number): boolean {
    return hint.sector === sector && this.#indexOf(sector) >= 0 && hint.epoch === this.#epochs[sector] && hint.seq <= want;
  }

  #remember(hint: ReadHint, seq: number, sector: number, offset: number): void {
    hint.seq = seq;
    hint.sector = sector;
    hint.epoch = this.#epochs[sector];
    hint.offset = offset;
  }

  #startOf(sector: number): Position {
    return { sector, epoch: this.#epochs[sector], offset: SECTOR_HEADER_BYTES };
  }

  #scanRecord(sector: number, offset: number, withPayload: boolean): RecordScan {
    if (offset + RECORD_OVERHEAD > this.#sectorSize) return { kind: "end" };
    const at = sector * this.#sectorSize + offset;
    const prefix = this.#flash.read(at, RECORD_PREFIX);
    const flags = prefix[0];
    const length = prefix[1] | (prefix[2] << 8);
    if (flags === 0xff && length === BLANK_LENGTH && u32(prefix, 3) === 0xffffffff) return { kind: "end" };
    if (flags & RECORD_COMMITTED) return { kind: "broken" };
    const size = RECORD_OVERHEAD + length;
    if (length === 0 || offset + size > this.#sectorSize) return { kind: "broken" };
    const rest = this.#flash.read(at + 1, size - 1);
    if (crc32(rest, 0, size - 5) !== u32(rest, size - 5)) return { kind: "broken" };
    return {
      kind: "record", seq: u32(prefix, 3), size, acked: (flags & RECORD_ACKED) === 0,
      payload: withPayload ? rest.slice(6, 6 + length) : undefined,
    };
  }
}
