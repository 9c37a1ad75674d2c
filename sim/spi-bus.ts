// A simulated SPI bus: SCLK, MOSI and MISO shared by every chip on it, each chip with its own select
// line (wired to the board's GPIO). Full duplex: each byte out returns one byte in.
// Faults and hazards, as on a real bus: MISO stuck at a level; two chips selected at once (their
// outputs fight: the controller reads the AND); and a clock the chip does not expect - a mode its
// datasheet does not allow, or a clock polarity that changed while the chip was selected (chips
// note the idle level when select falls) - makes every bit arrive one position late.

export interface SPITarget {
  /** SPI modes (CPOL << 1 | CPHA) the chip's datasheet allows. */
  readonly modes: readonly number[];
  /** Select went active. */
  select(): void;
  /** One byte each way: mosi is what the controller sent, the result is the chip's reply. */
  exchange(mosi: number): number;
  /** Select went inactive: the transaction ends. */
  deselect(): void;
  /**
   * For chips whose deselected interface is I2C on the same pins (the ADXL345: I2C while CS is
   * high): the first byte clocked after SCLK idled high reads to them as an I2C address byte after a
   * START. True when it is theirs: they acknowledge by pulling SDI (MOSI) low on the ninth clock.
   */
  hearsI2CAddress?(byte: number): boolean;
}

export class SimSPIBus {
  // Chips by attachment, with parallel state; plain arrays walked by index, because the bus runs for
  // every byte of every transaction (800 transactions a second for the ADXL345) and iterators would
  // be garbage on the device-sized heap of the simulator's limits build.
  #pins: number[] = [];
  #targets: SPITarget[] = [];
  /** Per chip: -1 while deselected, else the SCLK idle level it saw when its select fell. */
  #idleAtSelect: number[] = [];
  /** SCLK's level between transfers: low until the controller first clocks in a CPOL 1 mode. */
  #clockIdle = 0;
  /** The next byte is the first of a transaction (a select fell since the last transfer). */
  #transferStart = false;
  /** MISO held at a level: every byte the controller reads is this. */
  misoStuck: number | undefined;
  transactions = 0;
  /** The selected chips of the transfer in progress, and whether each samples on the bus's edges. */
  #chips: SPITarget[] = [];
  #inStep: boolean[] = [];

  attach(selectPin: number, target: SPITarget): void {
    if (this.#pins.includes(selectPin)) throw new Error(`chip select ${selectPin} is taken`);
    this.#pins.push(selectPin);
    this.#targets.push(target);
    this.#idleAtSelect.push(-1);
  }

  /** The chip's select input, for wiring to a GPIO line (active low). */
  selectInput(selectPin: number): (level: 0 | 1) => void {
    return (level) => {
      const i = this.#pins.indexOf(selectPin);
      if (i < 0) return; // nothing attached there
      if (level === 0 && this.#idleAtSelect[i] < 0) {
        this.#idleAtSelect[i] = this.#clockIdle;
        this.#transferStart = true;
        this.transactions++;
        this.#targets[i].select();
      } else if (level === 1 && this.#idleAtSelect[i] >= 0) {
        this.#idleAtSelect[i] = -1;
        this.#targets[i].deselect();
      }
    };
  }

  /** Clocks the buffer's bytes out in the given mode and replaces them with MISO, in place. */
  exchange(mode: number, bytes: Uint8Array): void {
    const cpol = mode >> 1;
    let count = 0;
    for (let i = 0; i < this.#targets.length; i++) {
      const idle = this.#idleAtSelect[i];
      if (idle < 0) continue;
      const target = this.#targets[i];
      this.#chips[count] = target;
      this.#inStep[count] = target.modes.includes(mode) && idle === cpol;
      count++;
    }
    // A transaction's first byte after SCLK idled high can look like START + address to an I2C listener.
    const listening = this.#clockIdle === 1 && cpol === 1 && bytes.length > 1 && this.#transferStart;
    let acknowledged = false;
    if (listening) {
      for (let i = 0; i < this.#targets.length; i++) {
        if (this.#idleAtSelect[i] < 0 && this.#targets[i].hearsI2CAddress?.(bytes[0])) acknowledged = true;
      }
    }
    this.#clockIdle = cpol;
    this.#transferStart = false;
    let carry = 0;
    for (let i = 0; i < bytes.length; i++) {
      const out = i === 1 && acknowledged ? bytes[i] & 0x7f : bytes[i]; // the ACK holds the ninth bit low
      let miso = 0xff; // nobody driving: the line floats high
      for (let c = 0; c < count; c++) {
        const inStep = this.#inStep[c];
        // Sampled on the wrong edge, every bit lands one position late on both lines.
        const reply = this.#chips[c].exchange(inStep ? out : ((out >> 1) | (carry << 7)) & 0xff);
        miso &= inStep ? reply : (reply >> 1) | 0x80;
      }
      carry = out & 1;
      bytes[i] = this.misoStuck ?? miso;
    }
  }
}
