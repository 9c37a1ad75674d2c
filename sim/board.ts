// The simulated reference device (press-7, ../shared/workload.md): its buses and the chips on them
// (so far the SHT3x at 0x44 and the BME280 at 0x76 on I2C port 0).
// The simulator build and the host target map embedded:io/* to these buses; tests and the host
// runner reach the chips here to set physical inputs and inject faults.

import { SimI2CBus } from "./i2c-bus";
import { SimSht3x, type Sht3xEnvironment } from "./chips/sht3x";
import { SimBme280 } from "./chips/bme280";
import { SimNorFlash } from "./nor-flash";

export interface SimBoard {
  /** I2C buses by ECMA-419 port number. */
  i2c: Map<number, SimI2CBus>;
  sht3x: SimSht3x;
  bme280: SimBme280;
  /** NOR flash data partitions by label; created blank on first use unless a host installed one. */
  partitions: Map<string, SimNorFlash>;
  flashPartition(label: string): SimNorFlash;
}

/** Data partitions of the reference device's partition table (partitions.csv), in bytes. */
export const PARTITION_SIZES: Record<string, number> = { iiotlog: 0x200000 };

/** A slow, plausible drift of the plant's air so that a running node shows live values. */
export function driftingAir(atMs: number): Sht3xEnvironment {
  const minutes = atMs / 60_000;
  return {
    temperature: 23 + 2.5 * Math.sin((2 * Math.PI * minutes) / 10),
    humidity: 45 + 6 * Math.sin((2 * Math.PI * minutes) / 17 + 1),
  };
}

function createBoard(): SimBoard {
  const bus = new SimI2CBus();
  const sht3x = new SimSht3x();
  sht3x.environment = driftingAir;
  bus.attach(0x44, sht3x);
  const bme280 = new SimBme280();
  bme280.environment = (atMs) => ({ ...driftingAir(atMs), pressure: 101_325 + 180 * Math.sin((2 * Math.PI * atMs) / 3_600_000) });
  bus.attach(0x76, bme280);
  const partitions = new Map<string, SimNorFlash>();
  return {
    i2c: new Map([[0, bus]]),
    sht3x,
    bme280,
    partitions,
    flashPartition(label) {
      let flash = partitions.get(label);
      if (!flash) {
        const size = PARTITION_SIZES[label];
        if (!size) throw new Error(`partition not found: ${label}`);
        flash = new SimNorFlash({ byteLength: size });
        partitions.set(label, flash);
      }
      return flash;
    },
  };
}

export const board: SimBoard = createBoard();

