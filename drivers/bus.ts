// The bus interfaces drivers use: the parts of ECMA-419 I2C and SPI they need, so a driver runs on
// any implementation (ESP32, the simulated chips) without importing a platform module.

export type ByteBuffer = ArrayBuffer | Uint8Array;

export interface I2CDevice {
  /** Fills the buffer; throws on NACK. */
  read(buffer: Uint8Array): unknown;
  /** Throws on NACK. */
  write(buffer: ByteBuffer, stop?: boolean): void;
  close(): void;
}

export interface I2CBusOptions {
  data: number;
  clock: number;
  hz?: number;
  address?: number;
  port?: number;
}

export type I2CConstructor = new (options: Required<Pick<I2CBusOptions, "hz" | "address">> & I2CBusOptions) => I2CDevice;

/** ECMA-419 sensor IO configuration: the bus class plus its pins. */
export interface I2CSensorConfig extends I2CBusOptions {
  io: I2CConstructor;
}

export interface SPIDevice {
  /** Clocks the buffer's bytes out and replaces them with what the chip sent back. */
  transfer(buffer: Uint8Array): void;
  /** On ESP32 the SDK reads the source as 32-bit words: pass whole buffers, not unaligned views. */
  write(buffer: ByteBuffer): void;
  /** Completes pending transfers; with deselect, ends the transaction (chip select inactive). */
  flush(deselect?: boolean): void;
  close(): void;
}

export interface SPIBusOptions {
  clock?: number;
  out?: number;
  in?: number;
  /** Chip select pin, driven by the SPI class (active while a transaction is open). */
  select?: number;
  active?: 0 | 1;
  hz?: number;
  /** Clock polarity and phase: CPOL << 1 | CPHA. */
  mode?: number;
  port?: number;
}

export type SPIConstructor = new (options: SPIBusOptions & { hz: number }) => SPIDevice;

/** ECMA-419 sensor IO configuration for an SPI chip: the bus class plus its pins. */
export interface SPISensorConfig extends SPIBusOptions {
  io: SPIConstructor;
}

/**
 * One SPI transaction: clocks the bytes out with chip select active, returns what came back, and
 * always ends the transaction (the chips here latch and pop data at the end of it).
 */
export function spiTransaction(spi: SPIDevice, bytes: Uint8Array): Uint8Array {
  try {
    spi.transfer(bytes);
  } catch (error) {
    try {
      spi.flush(true);
    } catch {
      // the transfer's error is the one to report
    }
    throw error;
  }
  spi.flush(true);
  return bytes;
}

export interface DigitalOutput {
  write(value: 0 | 1): void;
  close(): void;
}

/** ECMA-419 Digital, as far as a chip-select output needs it. */
export interface DigitalConstructor {
  new (options: { pin: number; mode: number; initialValue?: 0 | 1 }): DigitalOutput;
  readonly Output: number;
}
