// The simulated board's GPIO lines: digital outputs drive them, and whatever is wired to a line (an
// SPI chip's select input, say) hears every level change. An undriven line sits at its pull.

const LINES = 49; // GPIO 0..48: every pin number the ESP32 family names

export class SimGpio {
  // Per line: -1 undriven (or no pull), else the level. Arrays, not Maps: select lines change twice
  // per SPI transaction, and Map entries deleted and added are garbage on a device-sized heap.
  #driven = new Int8Array(LINES).fill(-1);
  #pulls = new Int8Array(LINES).fill(-1);
  #wires: (((level: 0 | 1) => void) | undefined)[] = [];

  /** Wires a chip input to a line; it hears the current level at once. */
  connect(pin: number, input: (level: 0 | 1) => void): void {
    this.#wires[pin] = input;
    input(this.level(pin));
  }

  /** The reference board has pull-ups on its select lines: undriven lines are high unless pulled low. */
  pull(pin: number, level: 0 | 1): void {
    this.#pulls[pin] = level;
    if (this.#driven[pin] < 0) this.#wires[pin]?.(level);
  }

  level(pin: number): 0 | 1 {
    const driven = this.#driven[pin];
    if (driven >= 0) return driven as 0 | 1;
    return this.#pulls[pin] === 0 ? 0 : 1;
  }

  drive(pin: number, level: 0 | 1): void {
    const before = this.level(pin);
    this.#driven[pin] = level;
    if (before !== level) this.#wires[pin]?.(level);
  }

  /** The output lets go of the line (ECMA-419 close). */
  release(pin: number): void {
    const before = this.level(pin);
    this.#driven[pin] = -1;
    if (before !== this.level(pin)) this.#wires[pin]?.(this.level(pin));
  }
}
