// The simulated board's GPIO lines: digital outputs drive them, and whatever is wired to a line (an
// SPI chip's select input, say) hears every level change. An undriven line sits at its pull.

export class SimGpio {
  #driven = new Map<number, 0 | 1>();
  #pulls = new Map<number, 0 | 1>();
  #wires = new Map<number, (level: 0 | 1) => void>();

  /** Wires a chip input to a line; it hears the current level at once. */
  connect(pin: number, input: (level: 0 | 1) => void): void {
    this.#wires.set(pin, input);
    input(this.level(pin));
  }

  /** The reference board has pull-ups on its select lines: undriven lines are high unless pulled low. */
  pull(pin: number, level: 0 | 1): void {
    this.#pulls.set(pin, level);
    if (!this.#driven.has(pin)) this.#wires.get(pin)?.(level);
  }

  level(pin: number): 0 | 1 {
    return this.#driven.get(pin) ?? this.#pulls.get(pin) ?? 1;
  }

  drive(pin: number, level: 0 | 1): void {
    const before = this.level(pin);
    this.#driven.set(pin, level);
    if (before !== level) this.#wires.get(pin)?.(level);
  }

  /** The output lets go of the line (ECMA-419 close). */
  release(pin: number): void {
    const before = this.level(pin);
    this.#driven.delete(pin);
    if (before !== this.level(pin)) this.#wires.get(pin)?.(this.level(pin));
  }
}
