// A simulated ESP32 OTA layout for the simulator, the host target and the tests: two app slots and
// a boot selector on one simulated NOR flash (so power cuts can tear any erase or program, and the
// cells can live in a file that survives restarts), plus the bootloader that picks the slot at
// power-on. It models what the update logic relies on in ESP-IDF's app rollback, not its on-flash
// format:
//
// - the boot selector is a record {seq, active slot, state, previous slot} kept in two sectors;
//   each change erases the sector not holding the newest record and programs the new one there,
//   so a torn change leaves the previous record in force;
// - activate(slot) writes {slot, NEW}; the bootloader turns NEW into PENDING and boots it pending;
//   if it finds PENDING (the new image rebooted without confirming) or INVALID (it gave up), it
//   boots the previous slot and records that slot VALID; the app's markValid writes VALID;
// - an image is bootable when its header and SHA-256 trailer check (standing in for the ESP image
//   checks); a slot that is not bootable is never chosen, and slot 0 without any record is the
//   factory image.
//
// Layout (sectors): boot selector 2 | slot 0 | slot 1 | update record 2.

import type { FlashDevice } from "../../src/log/flash-log";
import { crc32 } from "../../src/log/crc32";
import { Sha256, sameBytes } from "../../src/ota/sha256";
import type { BootControl, RunningState, UpdateSlot } from "../../src/ota/slot";
import { utf8Decode, utf8Encode } from "../../src/util/utf8";
import type { SimNorFlash } from "../nor-flash";

/** A window of whole sectors of a flash chip, as a FlashDevice of its own. */
export class RegionFlash implements FlashDevice {
  readonly byteLength: number;
  readonly blockSize: number;
  readonly #flash: SimNorFlash;
  readonly #start: number;
  readonly #firstSector: number;

  constructor(flash: SimNorFlash, firstSector: number, sectors: number) {
    this.#flash = flash;
    this.blockSize = flash.blockSize;
    this.#firstSector = firstSector;
    this.#start = firstSector * flash.blockSize;
    this.byteLength = sectors * flash.blockSize;
    if (this.#start + this.byteLength > flash.byteLength) throw new RangeError("region outside the flash");
  }
  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return this.#flash.read(this.#start + offset, length);
  }
  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    this.#flash.write(this.#start + offset, data);
  }
  erase(sector: number): void {
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.byteLength / this.blockSize) throw new RangeError(`no sector ${sector}`);
    this.#flash.erase(this.#firstSector + sector);
  }
  #check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.byteLength) throw new RangeError(`${length} bytes at ${offset} outside the ${this.byteLength}-byte region`);
  }
}

// ---- simulated firmware images: "SIMG" magic, total length, version, body, SHA-256 of all before it

const IMAGE_MAGIC = [0x53, 0x49, 0x4d, 0x47];
const IMAGE_HEADER = 9; // magic(4) length(4) versionLength(1)

/** A bootable simulated image of about length bytes carrying version; the body is seeded filler. */
export function buildSimImage(version: string, length: number, seed = 1): Uint8Array {
  const v = utf8Encode(version);
  const total = Math.max(length, IMAGE_HEADER + v.length + 32);
  const image = new Uint8Array(total);
  image.set(IMAGE_MAGIC, 0);
  new DataView(image.buffer).setUint32(4, total);
  image[8] = v.length;
  image.set(v, IMAGE_HEADER);
  let x = seed >>> 0 || 1;
  for (let i = IMAGE_HEADER + v.length; i < total - 32; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = x & 0xff;
  }
  new Sha256().update(image, 0, total - 32).digest(image, total - 32);
  return image;
}

/** The version of the bootable image at the start of region, or undefined when it would not boot. */
export function bootableVersion(region: FlashDevice): string | undefined {
  const header = region.read(0, IMAGE_HEADER);
  for (let i = 0; i < 4; i++) if (header[i] !== IMAGE_MAGIC[i]) return undefined;
  const total = new DataView(header.buffer, header.byteOffset).getUint32(4);
  if (total < IMAGE_HEADER + header[8] + 32 || total > region.byteLength) return undefined;
  const hash = new Sha256();
  const chunk = region.blockSize;
  for (let at = 0; at < total - 32; at += chunk) {
    const n = Math.min(chunk, total - 32 - at);
    hash.update(region.read(at, n));
  }
  if (!sameBytes(hash.digest(), region.read(total - 32, 32))) return undefined;
  return utf8Decode(region.read(IMAGE_HEADER, header[8]));
}

// ---- the boot selector

type SelectorState = "new" | "pending" | "valid" | "invalid";
const STATES: SelectorState[] = ["new", "pending", "valid", "invalid"];

interface Selector {
  seq: number;
  active: number;
  state: SelectorState;
  previous: number;
}

const SELECTOR_BYTES = 11; // seq(4) active(1) state(1) previous(1) crc(4)

export interface BootResult {
  slot: number;
  version: string;
  state: RunningState;
  /** The bootloader went back to the previous slot at this boot. */
  rolledBack: boolean;
}

export class SimOtaDevice {
  readonly flash: SimNorFlash;
  readonly slotSectors: number;
  readonly selector: RegionFlash;
  readonly slots: [RegionFlash, RegionFlash];
  /** Two sectors for the update record (src/ota/ota-record.ts FlashRecordStore). */
  readonly recordFlash: RegionFlash;
  #running: BootResult | undefined;
  /** Set when the firmware asked to restart; the harness powers the device down and up. */
  rebootRequested = false;

  /** The chip needs 2 + 2 * slotSectors + 2 sectors. */
  constructor(flash: SimNorFlash, slotSectors: number) {
    this.flash = flash;
    this.slotSectors = slotSectors;
    if ((4 + 2 * slotSectors) * flash.blockSize > flash.byteLength) throw new RangeError("flash too small for the OTA layout");
    this.selector = new RegionFlash(flash, 0, 2);
    this.slots = [new RegionFlash(flash, 2, slotSectors), new RegionFlash(flash, 2 + slotSectors, slotSectors)];
    this.recordFlash = new RegionFlash(flash, 2 + 2 * slotSectors, 2);
  }

  /** Writes image into slot 0 as a factory flashing would (no boot selector record). */
  flashFactory(image: Uint8Array): void {
    for (let s = 0; s < 2; s++) this.selector.erase(s);
    const slot = this.slots[0];
    for (let s = 0; s < this.slotSectors; s++) slot.erase(s);
    slot.write(0, image);
  }

  get running(): BootResult | undefined {
    return this.#running;
  }

  /**
   * The bootloader at power-on: which slot runs, in which state. Undefined: nothing bootable (a
   * bricked device). May write the boot selector (and may be torn by a power cut itself).
   */
  powerOn(): BootResult | undefined {
    this.rebootRequested = false;
    this.#running = undefined;
    const versions = [bootableVersion(this.slots[0]), bootableVersion(this.slots[1])];
    const current = this.#readSelector();
    let rolledBack = false;
    let result: BootResult | undefined;
    if (!current) {
      if (versions[0] !== undefined) result = { slot: 0, version: versions[0], state: "valid", rolledBack };
      else if (versions[1] !== undefined) result = { slot: 1, version: versions[1], state: "valid", rolledBack };
    } else {
      let { active, state, previous } = current;
      if ((state === "pending" || state === "invalid") || versions[active] === undefined) {
        if (versions[previous] !== undefined && previous !== active) {
          this.#writeSelector({ seq: current.seq + 1, active: previous, state: "valid", previous: active });
          rolledBack = true;
          active = previous;
          state = "valid";
        } else if (versions[active] === undefined) {
          const other = 1 - active;
          if (versions[other] !== undefined) result = { slot: other, version: versions[other]!, state: "valid", rolledBack: true };
          this.#running = result;
          return result;
        } else state = "valid"; // nothing to go back to: keep the only image
      } else if (state === "new") {
        this.#writeSelector({ seq: current.seq + 1, active, state: "pending", previous });
        state = "pending";
      }
      result = { slot: active, version: versions[active]!, state: state === "pending" ? "pending" : "valid", rolledBack };
    }
    this.#running = result;
    return result;
  }

  /** The update slot: the one not running. */
  updateSlot(): UpdateSlot {
    const running = this.#mustRun();
    const region = this.slots[1 - running.slot];
    const device = this;
    let length = -1;
    return {
      capacity: region.byteLength,
      sectorSize: region.blockSize,
      begin(byteLength: number, resume: boolean) {
        if (byteLength > region.byteLength) throw new RangeError(`image of ${byteLength} bytes, slot of ${region.byteLength}`);
        length = byteLength;
        // a fresh start makes the slot unbootable at once: nothing half-written can be chosen
        if (!resume) region.erase(0);
      },
      write(offset: number, bytes: Uint8Array, n = bytes.length) {
        if (length < 0) throw new Error("update slot: write before begin");
        if (offset % region.blockSize !== 0 || offset + n > length) throw new RangeError(`update slot: write of ${n} at ${offset}`);
        for (let s = offset / region.blockSize; s * region.blockSize < offset + n; s++) region.erase(s);
        region.write(offset, n === bytes.length ? bytes : bytes.subarray(0, n));
      },
      read(offset: number, buffer: Uint8Array, n = buffer.length) {
        buffer.set(region.read(offset, n));
      },
      activate() {
        if (length < 0) throw new Error("update slot: activate before begin");
        const current = device.#readSelector();
        device.#writeSelector({ seq: (current?.seq ?? 0) + 1, active: 1 - running.slot, state: "new", previous: running.slot });
        length = -1;
      },
      abort() {
        length = -1;
      },
    };
  }

  bootControl(): BootControl {
    const device = this;
    return {
      runningState: () => device.#mustRun().state,
      markValid() {
        const running = device.#mustRun();
        if (running.state !== "pending") return;
        const current = device.#readSelector()!;
        device.#writeSelector({ seq: current.seq + 1, active: running.slot, state: "valid", previous: current.previous });
        running.state = "valid";
      },
      rollback() {
        const running = device.#mustRun();
        const current = device.#readSelector();
        if (current) device.#writeSelector({ seq: current.seq + 1, active: running.slot, state: "invalid", previous: current.previous });
        device.rebootRequested = true;
      },
      reboot() {
        device.rebootRequested = true;
      },
    };
  }

  #mustRun(): BootResult {
    if (!this.#running) throw new Error("the simulated device is not running");
    return this.#running;
  }

  #readSelector(): Selector | undefined {
    let best: Selector | undefined;
    let bestSector = -1;
    for (let s = 0; s < 2; s++) {
      const b = this.selector.read(s * this.selector.blockSize, SELECTOR_BYTES);
      const view = new DataView(b.buffer, b.byteOffset);
      if (view.getUint32(7) !== crc32(b, 0, 7) || b[5] >= STATES.length || b[4] > 1 || b[6] > 1) continue;
      const sel: Selector = { seq: view.getUint32(0), active: b[4], state: STATES[b[5]], previous: b[6] };
      if (!best || sel.seq > best.seq) {
        best = sel;
        bestSector = s;
      }
    }
    this.#newestSector = bestSector;
    return best;
  }

  #newestSector = -1;

  #writeSelector(sel: Selector): void {
    this.#readSelector();
    const target = this.#newestSector === 0 ? 1 : 0;
    const b = new Uint8Array(SELECTOR_BYTES);
    const view = new DataView(b.buffer);
    view.setUint32(0, sel.seq);
    b[4] = sel.active;
    b[5] = STATES.indexOf(sel.state);
    b[6] = sel.previous;
    view.setUint32(7, crc32(b, 0, 7));
    this.selector.erase(target);
    this.selector.write(target * this.selector.blockSize, b);
  }
}
