// The simulated board's GPIO lines: digital outputs drive them, and whatever is wired to a line (an
// SPI chip's select input, say) hears every level change.

export class SimGpio {
  #levels = new Map<number, 0 | 1>();
  #wires = new Map<number, (level: 0 | 1) => void>();

  /** Wires a chip input to a line; it hears the current level at once. */
  connect(pin: number, input: (level: 0 | 1) => void): void {
    this.#wires.set(pin, input);
    input(this.level(pin));
  }

  disconnect(pin: number): void {
    this.#wires.delete(pin);
  }

  /** An undriven line floats high (select inputs have pull-ups on the reference board). */
  level(pin: number): 0 | 1 {
    return this.#levels.get(pin) ?? 1;
  }

  drive(pin: number, level: 0 | 1): void {
    if (this.level(pin) === level && this.#levels.has(pin)) return;
    this.#levels.set(pin, level);
    this.#wires.get(pin)?.(level);
  }

  release(pin: number): void {
    this.#levels.delete(pin);
    this.#wires.get(pin)?.(1);
  }
}
