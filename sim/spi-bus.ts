// A simulated SPI bus: chips attach at their chip-select pins and see every byte the ECMA-419 SPI
// class clocks while their select is active. Full duplex: each byte out returns one byte in.
// Faults: MISO stuck at a level (a chip off the bus, a shorted line), and the wrong clock mode,
// which makes the chip sample on the wrong edge so that every byte arrives shifted by one bit.

export interface SPITarget {
  /** SPI modes (CPOL << 1 | CPHA) the chip's datasheet allows. */
  readonly modes: readonly number[];
  /** Chip select went active. */
  select(): void;
  /** One byte each way: mosi is what the controller sent, the result is the chip's reply. */
  exchange(mosi: number): number;
  /** Chip select went inactive: the transaction ends. */
  deselect(): void;
}

export class SimSPIBus {
  #targets = new Map<number, SPITarget>();
  /** MISO held at a level: every byte the controller reads is this. */
  misoStuck: number | undefined;
  transactions = 0;

  attach(selectPin: number, target: SPITarget): void {
    if (this.#targets.has(selectPin)) throw new Error(`chip select ${selectPin} is taken`);
    this.#targets.set(selectPin, target);
  }

  detach(selectPin: number): void {
    this.#targets.delete(selectPin);
  }

  select(selectPin: number): void {
    this.transactions++;
    this.#targets.get(selectPin)?.select();
  }

  /** Exchanges the buffer's bytes in place. Nobody selected (or nobody driving MISO) reads 0xFF. */
  exchange(selectPin: number, mode: number, bytes: Uint8Array): void {
    const target = this.#targets.get(selectPin);
    const rightMode = target?.modes.includes(mode) ?? true;
    let carry = 0;
    for (let i = 0; i < bytes.length; i++) {
      const out = bytes[i];
      // Sampled on the wrong edge, every bit lands one position late on both lines.
      const reply = target ? target.exchange(rightMode ? out : ((out >> 1) | (carry << 7)) & 0xff) : 0xff;
      carry = out & 1;
      const seen = rightMode ? reply : (reply >> 1) | 0x80;
      bytes[i] = this.misoStuck ?? seen;
    }
  }

  deselect(selectPin: number): void {
    this.#targets.get(selectPin)?.deselect();
  }
}
