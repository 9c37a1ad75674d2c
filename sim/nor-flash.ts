// A simulated NOR flash partition: programming only clears bits (new = old AND data), erase sets a
// whole sector to 0xFF, and power can fail in the middle of any program or erase.
//
// A power cut is armed with cutAfter(n): the n-th program or erase from then on is torn and throws
// PowerLoss, and the chip refuses everything until powerOn(). A torn operation had made some random
// progress p (0..1) when the power went: a torn program has cleared each bit it was to clear with
// probability p, in no particular order (NOR programs a page's bits in parallel); a torn erase has
// set each 0 bit of the sector with probability p, where p leans towards 0 (cubed uniform) so that
// erases cut early, which leave the old data nearly intact, are well represented.

export class PowerLoss extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "PowerLoss";
  constructor(what: string) {
    super(`power lost during ${what}`);
  }
}

/**
 * Where a simulated chip keeps its cells: RAM in tests, a file on the simulator and the host target
 * (so a killed process leaves exactly what a powered-off chip would, and the XS heap holds none of it).
 */
export interface NorCells {
  /** A copy of length bytes from offset. */
  read(offset: number, length: number): Uint8Array;
  /** Stores bytes as they are: the NOR rules are the chip's job, not the storage's. */
  write(offset: number, bytes: Uint8Array): void;
  /** Releases the storage (a file); the cells stay as they are. */
  close?(): void;
}

export class RamCells implements NorCells {
  #bytes: Uint8Array;
  constructor(byteLength: number, image?: Uint8Array) {
    this.#bytes = new Uint8Array(byteLength).fill(0xff);
    if (image) this.#bytes.set(image.subarray(0, byteLength));
  }
  read(offset: number, length: number): Uint8Array {
    return this.#bytes.slice(offset, offset + length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.#bytes.set(bytes, offset);
  }
}

export interface NorFlashStats {
  programs: number;
  bytesProgrammed: number;
  erases: number;
  reads: number;
}

export class SimNorFlash {
  readonly byteLength: number;
  readonly blockSize: number;
  readonly stats: NorFlashStats = { programs: 0, bytesProgrammed: 0, erases: 0, reads: 0 };
  /** Erase count of each sector, for wear figures. */
  readonly wear: Uint32Array;
  #cells: NorCells;
  /** One erased sector, written by every erase. */
  #erased: Uint8Array | undefined;
  #cutCountdown = -1;
  #powered = true;
  #random: () => number;

  constructor(options: { byteLength: number; blockSize?: number; cells?: NorCells; image?: Uint8Array; random?: () => number }) {
    this.blockSize = options.blockSize ?? 4096;
    if (options.byteLength % this.blockSize !== 0) throw new RangeError("partition size must be a whole number of sectors");
    this.byteLength = options.byteLength;
    this.#cells = options.cells ?? new RamCells(this.byteLength, options.image);
    this.wear = new Uint32Array(this.byteLength / this.blockSize);
    this.#random = options.random ?? Math.random;
  }

  get powered(): boolean {
    return this.#powered;
  }

  /** The next n-1 operations complete; the n-th is torn. */
  cutAfter(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError("cutAfter needs a positive integer");
    this.#cutCountdown = n;
  }

  disarm(): void {
    this.#cutCountdown = -1;
  }

  powerOn(): void {
    this.#powered = true;
    this.#cutCountdown = -1;
  }

  /** Lets go of the storage, as at power-off; a new SimNorFlash over the same storage sees these cells. */
  close(): void {
    this.#cells.close?.();
    this.#powered = false;
  }

  /** A copy of the whole partition, as a dump tool would read it. */
  image(): Uint8Array {
    return this.#cells.read(0, this.byteLength);
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length, "read");
    this.stats.reads++;
    return this.#cells.read(offset, length);
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length, "write");
    const cells = this.#cells.read(offset, data.length);
    if (this.#tearNow()) {
      const progress = this.#random();
      for (let i = 0; i < data.length; i++) cells[i] &= ~this.#someBits(~data[i] & 0xff, progress) & 0xff;
      this.#cells.write(offset, cells);
      throw new PowerLoss(`program of ${data.length} bytes at ${offset}`);
    }
    for (let i = 0; i < data.length; i++) cells[i] &= data[i];
    this.#cells.write(offset, cells);
    this.stats.programs++;
    this.stats.bytesProgrammed += data.length;
  }

  erase(sector: number): void {
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.wear.length) throw new RangeError(`no sector ${sector}`);
    const start = sector * this.blockSize;
    this.#check(start, this.blockSize, "erase");
    this.wear[sector]++;
    if (this.#tearNow()) {
      const progress = this.#random() ** 3; // often barely started: the old data survives nearly intact
      const cells = this.#cells.read(start, this.blockSize);
      for (let i = 0; i < cells.length; i++) cells[i] |= this.#someBits(~cells[i] & 0xff, progress);
      this.#cells.write(start, cells);
      throw new PowerLoss(`erase of sector ${sector}`);
    }
    this.#cells.write(start, (this.#erased ??= new Uint8Array(this.blockSize).fill(0xff)));
    this.stats.erases++;
  }

  /** Each bit of mask, kept with probability p. */
  #someBits(mask: number, p: number): number {
    let out = 0;
    for (let bit = 1; bit < 0x100; bit <<= 1) if (mask & bit && this.#random() < p) out |= bit;
    return out;
  }

  #tearNow(): boolean {
    if (this.#cutCountdown < 0) return false;
    if (--this.#cutCountdown > 0) return false;
    this.#cutCountdown = -1;
    this.#powered = false;
    return true;
  }

  #check(offset: number, length: number, what: string): void {
    if (!this.#powered) throw new PowerLoss(`${what} while powered off`);
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength)
      throw new RangeError(`${what} of ${length} bytes at ${offset} is outside the ${this.byteLength}-byte partition`);
  }
}
