// The simulated reference device (press-7, ../shared/workload.md): its buses and the chips on them.
// The simulator build and the host target map embedded:io/* to these buses; tests and the host
// runner reach the chips here to set physical inputs and inject faults.

import { SimI2CBus } from "./i2c-bus";
import { SimSht3x, type Sht3xEnvironment } from "./chips/sht3x";

export interface SimBoard {
  /** I2C buses by ECMA-419 port number. */
  i2c: Map<number, SimI2CBus>;
  sht3x: SimSht3x;
}

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
  return { i2c: new Map([[0, bus]]), sht3x };
}

export const board: SimBoard = createBoard();

