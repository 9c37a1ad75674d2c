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
  /** Called after every change with the bytes now there (the host target writes them to a file). */
  onChange: ((offset: number, bytes: Uint8Array) => void) | undefined;
  #cells: Uint8Array;
  #cutCountdown = -1;
  #powered = true;
  #random: () => number;

  constructor(options: { byteLength: number; blockSize?: number; image?: Uint8Array; random?: () => number }) {
    this.blockSize = options.blockSize ?? 4096;
    if (options.byteLength % this.blockSize !== 0) throw new RangeError("partition size must be a whole number of sectors");
    this.byteLength = options.byteLength;
    this.#cells = new Uint8Array(this.byteLength).fill(0xff);
    if (options.image) this.#cells.set(options.image.subarray(0, this.byteLength));
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

  /** A copy of the whole partition, as a dump tool would read it. */
  image(): Uint8Array {
    return this.#cells.slice();
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length, "read");
    this.stats.reads++;
    return this.#cells.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length, "write");
    if (this.#tearNow()) {
      const progress = this.#random();
      for (let i = 0; i < data.length; i++) this.#cells[offset + i] &= ~this.#someBits(~data[i] & 0xff, progress) & 0xff;
      this.onChange?.(offset, this.#cells.subarray(offset, offset + data.length));
      throw new PowerLoss(`program of ${data.length} bytes at ${offset}`);
    }
    for (let i = 0; i < data.length; i++) this.#cells[offset + i] &= data[i];
    this.stats.programs++;
    this.stats.bytesProgrammed += data.length;
    this.onChange?.(offset, this.#cells.subarray(offset, offset + data.length));
  }

  erase(sector: number): void {
    if (!Number.isInteger(sector) || sector < 0 || sector >= this.wear.length) throw new RangeError(`no sector ${sector}`);
    const start = sector * this.blockSize;
    this.#check(start, this.blockSize, "erase");
    this.wear[sector]++;
    if (this.#tearNow()) {
      const progress = this.#random() ** 3; // often barely started: the old data survives nearly intact
      for (let i = start; i < start + this.blockSize; i++) this.#cells[i] |= this.#someBits(~this.#cells[i] & 0xff, progress);
      this.onChange?.(start, this.#cells.subarray(start, start + this.blockSize));
      throw new PowerLoss(`erase of sector ${sector}`);
    }
    this.#cells.fill(0xff, start, start + this.blockSize);
    this.stats.erases++;
    this.onChange?.(start, this.#cells.subarray(start, start + this.blockSize));
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
