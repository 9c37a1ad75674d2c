// The device's own identity (certificate and private key, DER) in two slots of a raw flash partition,
// so a new identity is written beside the working one and the switch is one byte programmed.
//
// A slot is one erase block: a 32-byte header, then the certificate, the key, and while the identity
// is being provisioned the certificate's ownership token and id. The header's CRC covers the header
// and the body; two marker bytes after it are programmed (0xFF -> 0x00) once each and are not in the
// CRC: `registered` (AWS accepted the certificate for this thing) and `committed` (a connection with
// it succeeded: it is now the identity). The active identity is the committed slot with a valid CRC
// and the highest generation; a new one always goes into the other slot with generation + 1, and
// becomes active only when its committed byte reads 0x00. A power cut at any step therefore leaves
// the old identity or the new one active, never neither and never a mix: erasing and writing touch
// only the slot that is not active, and a torn commit byte (some bits cleared) does not count until
// a later commit finishes it. Pure (a FlashDevice in, bytes out): runs on XS unchanged.

import type { FlashDevice } from "../log/flash-log";
import { crc32 } from "../log/crc32";

const MAGIC = 0x49444e31; // "IDN1"
export const SLOT_HEADER_BYTES = 32;
const REGISTERED_AT = 28;
const COMMITTED_AT = 29;
const CRC_AT = 24;

export interface Identity {
  generation: number;
  certificate: Uint8Array;
  key: Uint8Array;
}

export interface Candidate extends Identity {
  /** Provisioning's certificateOwnershipToken and certificateId ("" once not needed). */
  token: string;
  certificateId: string;
  /** Seconds since 1970 when AWS issued it (0 when the clock was unset). */
  createdAt: number;
  registered: boolean;
}

export class IdentityStoreError extends Error {
  override name = "IdentityStoreError";
  constructor(message: string) {
    super(message);
  }
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || c < 0x20) throw new IdentityStoreError("token and certificate id must be printable ASCII");
    out[i] = c;
  }
  return out;
}

function text(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

interface SlotView extends Candidate {
  committed: boolean;
}

export class IdentityStore {
  readonly #flash: FlashDevice;
  readonly #slotBytes: number;
  readonly #blocksPerSlot: number;

  /** Two slots of slotBytes (a whole number of erase blocks, default one) at the partition's start. */
  constructor(flash: FlashDevice, slotBytes = flash.blockSize) {
    if (slotBytes % flash.blockSize !== 0 || slotBytes < 2048) throw new IdentityStoreError(`a slot is whole erase blocks of at least 2048 bytes, got ${slotBytes}`);
    if (flash.byteLength < 2 * slotBytes) throw new IdentityStoreError(`the partition holds ${flash.byteLength} bytes, two slots need ${2 * slotBytes}`);
    this.#flash = flash;
    this.#slotBytes = slotBytes;
    this.#blocksPerSlot = slotBytes / flash.blockSize;
  }

  /** Largest certificate + key + token + id that fits a slot. */
  get capacity(): number {
    return this.#slotBytes - SLOT_HEADER_BYTES;
  }

  #read(slot: 0 | 1): SlotView | undefined {
    const base = slot * this.#slotBytes;
    const header = this.#flash.read(base, SLOT_HEADER_BYTES);
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    if (view.getUint32(0) !== MAGIC) return undefined;
    const certLength = view.getUint16(8), keyLength = view.getUint16(10), tokenLength = view.getUint16(12), idLength = view.getUint16(14);
    const bodyLength = certLength + keyLength + tokenLength + idLength;
    if (certLength === 0 || keyLength === 0 || bodyLength > this.capacity) return undefined;
    const body = this.#flash.read(base + SLOT_HEADER_BYTES, bodyLength);
    const whole = new Uint8Array(CRC_AT + bodyLength);
    whole.set(header.subarray(0, CRC_AT), 0);
    whole.set(body, CRC_AT);
    if (crc32(whole) !== view.getUint32(CRC_AT)) return undefined;
    let at = 0;
    const take = (n: number) => body.slice(at, (at += n));
    return {
      generation: view.getUint32(4),
      createdAt: view.getUint32(16),
      certificate: take(certLength),
      key: take(keyLength),
      token: text(take(tokenLength)),
      certificateId: text(take(idLength)),
      registered: header[REGISTERED_AT] === 0,
      committed: header[COMMITTED_AT] === 0,
    };
  }

  #slots(): [SlotView | undefined, SlotView | undefined] {
    return [this.#read(0), this.#read(1)];
  }

  #activeSlot(slots = this.#slots()): 0 | 1 | -1 {
    const [a, b] = slots;
    const ca = a?.committed ? a.generation : -1;
    const cb = b?.committed ? b.generation : -1;
    if (ca < 0 && cb < 0) return -1;
    return ca >= cb ? 0 : 1;
  }

  /** The identity the device connects with; undefined while it has none of its own (claim only). */
  active(): Identity | undefined {
    const slots = this.#slots();
    const slot = this.#activeSlot(slots);
    if (slot === -1) return undefined;
    const { generation, certificate, key } = slots[slot]!;
    return { generation, certificate, key };
  }

  /** A new identity written beside the active one and not committed yet, if any. */
  candidate(): Candidate | undefined {
    const slots = this.#slots();
    const active = this.#activeSlot(slots);
    const other = active === 0 ? 1 : 0;
    const activeGeneration = active === -1 ? -1 : slots[active]!.generation;
    for (const slot of active < 0 ? [0, 1] as const : [other] as const) {
      const s = slots[slot];
      if (s && !s.committed && s.generation > activeGeneration) {
        const { committed: _c, ...candidate } = s;
        return candidate;
      }
    }
    return undefined;
  }

  /** Where the next identity goes: never the active slot. */
  #spareSlot(): 0 | 1 {
    const slots = this.#slots();
    const active = this.#activeSlot(slots);
    if (active >= 0) return active === 0 ? 1 : 0;
    // No identity yet: overwrite the older of two candidates (or an empty slot).
    const [a, b] = slots;
    return (a?.generation ?? -1) <= (b?.generation ?? -1) ? 0 : 1;
  }

  /**
   * Writes a new identity into the slot that is not active (erasing it first): not used until
   * markRegistered() and commit(). Returns its generation.
   */
  writeCandidate(identity: { certificate: Uint8Array; key: Uint8Array; token?: string; certificateId?: string; createdAt?: number }): number {
    const token = ascii(identity.token ?? "");
    const id = ascii(identity.certificateId ?? "");
    const { certificate, key } = identity;
    if (certificate.length === 0 || key.length === 0) throw new IdentityStoreError("certificate and key must not be empty");
    const bodyLength = certificate.length + key.length + token.length + id.length;
    if (bodyLength > this.capacity) throw new IdentityStoreError(`identity of ${bodyLength} bytes does not fit a slot of ${this.capacity}`);
    const active = this.active();
    const generation = (active?.generation ?? 0) + 1;
    const slot = this.#spareSlot();
    const whole = new Uint8Array(SLOT_HEADER_BYTES + bodyLength).fill(0xff);
    const view = new DataView(whole.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, generation);
    view.setUint16(8, certificate.length);
    view.setUint16(10, key.length);
    view.setUint16(12, token.length);
    view.setUint16(14, id.length);
    view.setUint32(16, Math.max(0, Math.min(0xffffffff, Math.floor(identity.createdAt ?? 0))));
    view.setUint32(20, 0);
    let at = SLOT_HEADER_BYTES;
    for (const part of [certificate, key, token, id]) {
      whole.set(part, at);
      at += part.length;
    }
    const forCrc = new Uint8Array(CRC_AT + bodyLength);
    forCrc.set(whole.subarray(0, CRC_AT), 0);
    forCrc.set(whole.subarray(SLOT_HEADER_BYTES), CRC_AT);
    view.setUint32(CRC_AT, crc32(forCrc));
    const firstBlock = (slot * this.#slotBytes) / this.#flash.blockSize;
    for (let b = 0; b < this.#blocksPerSlot; b++) this.#flash.erase(firstBlock + b);
    this.#flash.write(slot * this.#slotBytes, whole);
    return generation;
  }

  #candidateSlot(): 0 | 1 {
    const slots = this.#slots();
    const candidate = this.candidate();
    if (!candidate) throw new IdentityStoreError("no new identity waiting");
    return slots[0] && !slots[0].committed && slots[0].generation === candidate.generation ? 0 : 1;
  }

  /** AWS accepted the waiting identity for this thing (RegisterThing): its token is spent. */
  markRegistered(): void {
    const slot = this.#candidateSlot();
    this.#flash.write(slot * this.#slotBytes + REGISTERED_AT, Uint8Array.of(0));
  }

  /** The switch: the waiting identity becomes the active one. */
  commit(): void {
    const slot = this.#candidateSlot();
    this.#flash.write(slot * this.#slotBytes + COMMITTED_AT, Uint8Array.of(0));
  }

  /** Forgets the waiting identity (it failed): the active one stays. */
  discardCandidate(): void {
    const slot = this.#candidateSlot();
    const firstBlock = (slot * this.#slotBytes) / this.#flash.blockSize;
    for (let b = 0; b < this.#blocksPerSlot; b++) this.#flash.erase(firstBlock + b);
  }
}
