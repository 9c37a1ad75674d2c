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
