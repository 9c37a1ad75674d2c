// The simulated reference device (press-7, docs/workload.md): its buses and the chips on them:
// the SHT3x at 0x44 and the BME280 at 0x76 on I2C port 0; the MAX31865 (PT100, 430 ohm reference,
// select on GPIO 4) and the ADXL345 (select on GPIO 5) on SPI port 2, their selects wired to GPIO.
// The simulator build and the host target map embedded:io/* to these buses; tests and the host
// runner reach the chips here to set physical inputs and inject faults.

import { SimI2CBus } from "./i2c-bus";
import { SimSht3x, type Sht3xEnvironment } from "./chips/sht3x";
import { SimBme280 } from "./chips/bme280";
import { SimNorFlash, type NorCells } from "./nor-flash";
import { SimSPIBus } from "./spi-bus";
import { SimGpio } from "./gpio";
import { SimMax31865 } from "./chips/max31865";
import { SimAdxl345, STANDARD_GRAVITY, type Acceleration } from "./chips/adxl345";
import { rtdResistance } from "../drivers/max31865/rtd";

export interface SimBoard {
  /** I2C buses by ECMA-419 port number. */
  i2c: Map<number, SimI2CBus>;
  sht3x: SimSht3x;
  bme280: SimBme280;
  /** SPI buses by ECMA-419 port number (ESP32: 1 = SPI2/HSPI, 2 = SPI3/VSPI). */
  spi: Map<number, SimSPIBus>;
  gpio: SimGpio;
  max31865: SimMax31865;
  adxl345: SimAdxl345;
  /** NOR flash data partitions by label; created on first use unless a test installed one. */
  partitions: Map<string, SimNorFlash>;
  /** The partition, created on first use with cells from storage (RAM when none is given). */
  flashPartition(label: string, storage?: (byteLength: number, blockSize: number) => NorCells): SimNorFlash;
  /** GPIO owned by an open SPI or Digital instance. */
  pinsInUse: Set<number>;
  /** CRC errors on the SHT3x, NACKs from the BME280, an open RTD, the ADXL345 off its supply; or all healed. */
  faultEveryChip(on: boolean): void;
}

/**
 * Data partitions of the reference device's partition table (partitions.csv), in bytes, and
 * "iiotota": the simulated OTA layout (boot selector, two 256 KB app slots, the update record) of
 * sim/ota/platform.ts, which on ESP32 is the app slots and otadata.
 */
export const PARTITION_SIZES: Record<string, number> = { iiotlog: 0x200000, iiotid: 0x2000, iiotota: (4 + 2 * 64) * 4096 };
const FLASH_SECTOR_BYTES = 4096;

/** A slow, plausible drift of the plant's air so that a running node shows live values. */
export function driftingAir(atMs: number): Sht3xEnvironment {
  const minutes = atMs / 60_000;
  return {
    temperature: 23 + 2.5 * Math.sin((2 * Math.PI * minutes) / 10),
    humidity: 45 + 6 * Math.sin((2 * Math.PI * minutes) / 17 + 1),
  };
}

/** Select pins of the SPI chips (as the manifest's rtd_cs and accel_cs). */
export const SIM_SPI_SELECT = { max31865: 4, adxl345: 5 };

/**
 * The press's process temperature: a slow 52..80 C cycle, below the 85 C alarm, so a run's records
 * are readings unless a test or a scenario drives the RTD past the limit (board.max31865.resistance).
 */
export function processTemperature(atMs: number): number {
  return 66 + 14 * Math.sin((2 * Math.PI * atMs) / 900_000);
}

/** The press's vibration: gravity on z, a 50 Hz motor line on x and y, a 120 Hz component on z. */
export function pressVibration(atSeconds: number, into: Acceleration = { x: 0, y: 0, z: 0 }): Acceleration {
  const swell = 1 + 0.3 * Math.sin((2 * Math.PI * atSeconds) / 60);
  into.x = 2.0 * swell * Math.sin(2 * Math.PI * 50 * atSeconds);
  into.y = 1.2 * swell * Math.sin(2 * Math.PI * 50 * atSeconds + 1.1);
  into.z = STANDARD_GRAVITY + 0.8 * Math.sin(2 * Math.PI * 120 * atSeconds);
  return into;
}

/**
 * The time the board's chips see (ms). A host replaces now() with the clock its timers run on, so
 * that a chip's output (an accelerometer's FIFO) does not depend on how late a timer fired.
 */
export const boardClock = { now: (): number => Date.now() };

function createBoard(): SimBoard {
  const now = () => boardClock.now();
  const bus = new SimI2CBus();
  const sht3x = new SimSht3x({ now });
  sht3x.environment = driftingAir;
  bus.attach(0x44, sht3x);
  const bme280 = new SimBme280({ now });
  bme280.environment = (atMs) => ({ ...driftingAir(atMs), pressure: 101_325 + 180 * Math.sin((2 * Math.PI * atMs) / 3_600_000) });
  bus.attach(0x76, bme280);
  const max31865 = new SimMax31865({ referenceOhms: 430, now });
  max31865.resistance = (atMs) => rtdResistance(processTemperature(atMs), 100);
  const adxl345 = new SimAdxl345({ now });
  adxl345.motion = pressVibration;
  const spi = new SimSPIBus();
  const gpio = new SimGpio();
  spi.attach(SIM_SPI_SELECT.max31865, max31865);
  spi.attach(SIM_SPI_SELECT.adxl345, adxl345);
  gpio.connect(SIM_SPI_SELECT.max31865, spi.selectInput(SIM_SPI_SELECT.max31865));
  gpio.connect(SIM_SPI_SELECT.adxl345, spi.selectInput(SIM_SPI_SELECT.adxl345));
  const partitions = new Map<string, SimNorFlash>();
  return {
    i2c: new Map([[0, bus]]),
    sht3x,
    bme280,
    spi: new Map([[2, spi]]),
    gpio,
    max31865,
    adxl345,
    partitions,
    pinsInUse: new Set(),
    faultEveryChip(on) {
      sht3x.faults.badCrcCount = on ? 1_000_000 : 0;
      bme280.faults.nack = on;
      max31865.faults.open = on;
      adxl345.faults.unpowered = on;
    },
    flashPartition(label, storage) {
      let flash = partitions.get(label);
      if (!flash) {
        const size = PARTITION_SIZES[label];
        if (!size) throw new Error(`partition not found: ${label}`);
        flash = new SimNorFlash({ byteLength: size, blockSize: FLASH_SECTOR_BYTES, cells: storage?.(size, FLASH_SECTOR_BYTES) });
        partitions.set(label, flash);
      }
      return flash;
    },
  };
}

let current: SimBoard | undefined;

/**
 * The board, made on first use: at run time, not when a build preloads this module (preloaded
 * objects are frozen into flash, and a board's chips change all the time).
 */
export function simBoard(): SimBoard {
  return (current ??= createBoard());
}

