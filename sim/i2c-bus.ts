// A simulated I2C bus: simulated chips attach at their 7-bit addresses and see the same transactions
// the ECMA-419 I2C class would put on the wire. Faults are injected here or in the chips.

export interface I2CTarget {
  /** A write transaction addressed to this chip. Throw I2CNack to NACK it. */
  write(bytes: Uint8Array): void;
  /** A read transaction of count bytes. Throw I2CNack to NACK the address. */
  read(count: number): Uint8Array;
}

export class I2CNack extends Error {
  // A field (defined, not assigned): XS freezes Error.prototype, where assigning name throws.
  override name = "I2CNack";
  constructor(what: string) {
    super(what);
  }
}

export class SimI2CBus {
  #targets = new Map<number, I2CTarget>();
  /** SDA held low by a confused chip: every transaction times out. */
  stuck = false;
  transactions = 0;

  attach(address: number, target: I2CTarget): void {
    if (this.#targets.has(address)) throw new Error(`I2C address 0x${address.toString(16)} is taken`);
    this.#targets.set(address, target);
  }

  detach(address: number): void {
    this.#targets.delete(address);
  }

  /** Throws Error("write failed") on NACK, as the ESP32 ECMA-419 I2C does. */
  write(address: number, bytes: Uint8Array): void {
    this.#target(address, "write").write(bytes);
  }

  read(address: number, count: number): Uint8Array {
    const data = this.#target(address, "read").read(count);
    if (data.length !== count) throw new Error(`simulated chip at 0x${address.toString(16)} returned ${data.length} of ${count} bytes`);
    return data;
  }

  #target(address: number, op: "read" | "write"): I2CTarget {
    this.transactions++;
    if (this.stuck) throw new Error(`${op} failed: bus stuck (timeout)`);
    const target = this.#targets.get(address);
    if (!target) throw new Error(`${op} failed: no ACK from 0x${address.toString(16)}`);
    return {
      write: (bytes) => rethrowNack(op, () => target.write(bytes)),
      read: (count) => rethrowNack(op, () => target.read(count)),
    };
  }
}

function rethrowNack<T>(op: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof I2CNack) throw new Error(`${op} failed: ${error.message}`);
    throw error;
  }
}
